/// The registry's schema in PostgreSQL: the tables SQLite's migrations make, step for step (the
/// same versions), in PostgreSQL's types. Sizes and times are BIGINT; names and digests compare
/// byte by byte (`COLLATE "C"`, as SQLite does), whatever the database's locale, so `_catalog`
/// and tag lists page the same on both. Statements end at a `;` that ends a line.
extension RegistryStorage {
    static let postgresMigrations: [String] = [
        """
        CREATE TABLE repositories (name TEXT COLLATE "C" PRIMARY KEY, created BIGINT NOT NULL);
        CREATE TABLE repository_blobs (
            repository TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL, size BIGINT NOT NULL, added BIGINT NOT NULL,
            PRIMARY KEY (repository, digest));
        CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
        CREATE TABLE manifests (
            repository TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL, media_type TEXT NOT NULL, size BIGINT NOT NULL,
            artifact_type TEXT, subject TEXT COLLATE "C", annotations TEXT, pushed BIGINT NOT NULL,
            PRIMARY KEY (repository, digest));
        CREATE INDEX manifests_subject ON manifests(repository, subject);
        CREATE TABLE manifest_references (
            repository TEXT COLLATE "C" NOT NULL, manifest TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (repository, manifest, digest));
        CREATE INDEX manifest_references_digest ON manifest_references(digest);
        CREATE TABLE tags (
            repository TEXT COLLATE "C" NOT NULL, tag TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL, updated BIGINT NOT NULL,
            PRIMARY KEY (repository, tag));
        CREATE TABLE uploads (id TEXT COLLATE "C" PRIMARY KEY, repository TEXT COLLATE "C" NOT NULL, started BIGINT NOT NULL);
        """,
        """
        CREATE TABLE gc_deleting (digest TEXT COLLATE "C" PRIMARY KEY);
        """,
        """
        CREATE TABLE accounts (
            name TEXT COLLATE "C" PRIMARY KEY, kind TEXT NOT NULL, password TEXT, admin BIGINT NOT NULL DEFAULT 0,
            created BIGINT NOT NULL);
        CREATE TABLE organization_members (
            organization TEXT COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
            member TEXT COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
            role TEXT NOT NULL, PRIMARY KEY (organization, member));
        CREATE INDEX organization_members_member ON organization_members(member);
        CREATE TABLE access_tokens (
            id TEXT COLLATE "C" PRIMARY KEY, "user" TEXT COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
            kind TEXT NOT NULL, secret_sha256 TEXT NOT NULL, scope TEXT NOT NULL, repository TEXT COLLATE "C",
            parent TEXT COLLATE "C" REFERENCES access_tokens(id) ON DELETE CASCADE,
            created BIGINT NOT NULL, expires BIGINT, last_used BIGINT, revoked BIGINT);
        CREATE INDEX access_tokens_user ON access_tokens("user");
        ALTER TABLE repositories ADD COLUMN private BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
        ALTER TABLE manifests ADD COLUMN pushed_by TEXT;
        """,
        """
        CREATE TABLE blob_leases (id TEXT COLLATE "C" PRIMARY KEY, digest TEXT COLLATE "C" NOT NULL, expires BIGINT NOT NULL);
        CREATE INDEX blob_leases_digest ON blob_leases(digest);
        CREATE TABLE settings (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
        """,
        """
        CREATE TABLE upload_chunks (
            upload TEXT COLLATE "C" NOT NULL, start BIGINT NOT NULL, size BIGINT NOT NULL, digest TEXT NOT NULL, object TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (upload, start));
        """,
        tagMovesMigration,
        policyRecordsMigration,
    ]
}
