import ContentStore
import Foundation
import ImageSpec
import Metadata
import ObjectStore
import PostgresMetadata

/// What a registry holds, on one machine: blobs once across every repository, in the content
/// store's `blobs/<algorithm>/<hex>` (the same verified layout as the image store's), and in
/// SQLite which repository may see which blob, its manifests, tags and upload sessions.
///
/// Manifests are blobs too (their bytes, by digest), so a manifest GET reads one small file and a
/// HEAD reads only the database.
public final class RegistryStorage: @unchecked Sendable {
    public let root: String
    public let content: ContentStore
    /// Blobs hashed and found whole since the server started: served without hashing again.
    let verifiedBlobs = VerifiedBlobs()
    let uploadsDirectory: String
    private let database: any SQLDatabase
    /// Where the metadata is: SQLite under `root`, or a PostgreSQL database the replicas share.
    public let metadata: RegistryMetadata
    /// A database handle is not shared between threads: every statement runs under this lock.
    private let lock = NSLock()
    /// Upload sessions being written by this process (hash state, and one writer at a time).
    let sessions = UploadSessions()
    /// Passwords checked since the server started (bcrypt is slow on purpose).
    let passwordChecks = PasswordChecks()
    /// The audit trail, beside the database.
    public let events: EventLog
    /// Where blob bytes live when not in `content`: an S3 bucket (`storage: {driver: s3}`).
    /// The database, upload sessions in progress and the audit trail stay under `root`.
    public let objectStore: S3Client?
    /// Blob GETs answered with a presigned URL of the object store, so clients download from it.
    public let redirectBlobs: Bool
    /// Manifests and configs read from the object store, verified.
    let smallObjects = SmallObjectCache()

    public init(root: String, objectStore: S3Client? = nil, redirectBlobs: Bool = false, metadata: RegistryMetadata = .sqlite) throws {
        self.objectStore = objectStore
        self.metadata = metadata
        self.redirectBlobs = redirectBlobs
        self.root = FileSystem.absolutePath(root)
        try FileSystem.createDirectory(self.root)
        content = try ContentStore(root: self.root)
        uploadsDirectory = "\(self.root)/uploads"
        events = EventLog(path: "\(self.root)/events.jsonl")
        try FileSystem.createDirectory(uploadsDirectory)
        switch metadata {
        case .sqlite:
            database = try Database(path: "\(self.root)/registry.db")
            try database.migrate(Self.migrations)
        case .postgres(let url):
            database = try PostgreSQLDatabase(url)
            try database.migrate(Self.postgresMigrations)
        }
    }

    static let migrations: [String] = [
        """
        CREATE TABLE repositories (name TEXT PRIMARY KEY, created INTEGER NOT NULL);
        -- A blob a repository may serve: pushed to it, or mounted into it from another one.
        CREATE TABLE repository_blobs (
            repository TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, added INTEGER NOT NULL,
            PRIMARY KEY (repository, digest));
        CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
        CREATE TABLE manifests (
            repository TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
            artifact_type TEXT, subject TEXT, annotations TEXT, pushed INTEGER NOT NULL,
            PRIMARY KEY (repository, digest));
        CREATE INDEX manifests_subject ON manifests(repository, subject);
        -- What a manifest names (layers, config, child manifests): garbage collection keeps these.
        CREATE TABLE manifest_references (
            repository TEXT NOT NULL, manifest TEXT NOT NULL, digest TEXT NOT NULL,
            PRIMARY KEY (repository, manifest, digest));
        CREATE TABLE tags (
            repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, updated INTEGER NOT NULL,
            PRIMARY KEY (repository, tag));
        -- An upload session's bytes are uploads/<id>; its length is the file's.
        CREATE TABLE uploads (id TEXT PRIMARY KEY, repository TEXT NOT NULL, started INTEGER NOT NULL);
        """,
        gcMigration,
        accountsMigration,
        leaseMigration,
        uploadChunksMigration,
        tagMovesMigration,
        policyRecordsMigration,
    ]

    /// Tags moved within one second keep the order they moved in: `moved` counts every move.
    /// Writes are serialized (SQLite's one writer, PostgreSQL's write lock), so MAX + 1 is unique.
    static let tagMovesMigration = """
        ALTER TABLE tags ADD COLUMN moved BIGINT NOT NULL DEFAULT 0;
        CREATE INDEX tags_moved ON tags(moved);
        """

    func withDatabase<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        try lock.withLock { try body(database) }
    }

    /// Held while a collection or a check runs: one at a time across every process and replica
    /// (a lock file beside SQLite; an advisory lock in PostgreSQL). Not taken under `lock`, so
    /// waiting for it holds up no statement.
    func collectionLock() throws -> AnyObject { try database.exclusiveLock("registry-gc") }

    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: repositories

    /// Checks a repository name against the spec's grammar.
    public static func validate(repository name: String) throws {
        if let problem = Reference.repositoryNameProblem(name) {
            throw DistributionError(.nameInvalid, "invalid repository name \"\(name.prefix(300))\": \(problem)")
        }
    }

    public func repositoryExists(_ name: String) throws -> Bool {
        try withDatabase { try !$0.query("SELECT 1 FROM repositories WHERE name = ?", [.text(name)]).isEmpty }
    }

    /// Points a tag at a manifest, creating it or moving it: (repository, tag, digest, updated).
    static let setTagSQL = """
        INSERT INTO tags (repository, tag, digest, updated, moved)
        VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(moved), 0) + 1 FROM tags))
        ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated, moved = excluded.moved
        """

    static func ensureRepository(_ name: String, in db: any SQLDatabase) throws {
        try db.execute("INSERT INTO repositories (name, created) VALUES (?, ?) ON CONFLICT DO NOTHING", [.text(name), .integer(now)])
    }

    // MARK: blobs

    /// The size of a blob the repository may serve, or nil.
    public func blobSize(_ repository: String, _ digest: Digest) throws -> Int64? {
        let size = try withDatabase { try Self.linkedSize(digest, in: repository, db: $0) }
        // The record without the file would be a lie: a blob GC removed meanwhile is unknown.
        // (An object store's blob is linked only once its object is whole, and unlinked before it goes.)
        guard let size, objectStore != nil || content.contains(digest) else { return nil }
        return size
    }

    /// The size of a blob linked to `repository`, or nil: the one check of which repository may see which blob.
    static func linkedSize(_ digest: Digest, in repository: String, db: any SQLDatabase) throws -> Int64? {
        try db.query("SELECT size FROM repository_blobs WHERE repository = ? AND digest = ?",
                     [.text(repository), .text(digest.description)]).first?.int(0)
    }

    /// Lets `repository` serve a stored blob (inside the caller's transaction).
    static func link(_ digest: Digest, size: Int64, into repository: String, in db: any SQLDatabase) throws {
        try ensureRepository(repository, in: db)
        try db.execute("""
            INSERT INTO repository_blobs (repository, digest, size, added) VALUES (?, ?, ?, ?)
            ON CONFLICT (repository, digest) DO UPDATE SET size = excluded.size, added = excluded.added
            """,
                       [.text(repository), .text(digest.description), .integer(size), .integer(now)])
    }

    /// A cross-repository mount: true when `from` has the blob, which `repository` now has too.
    /// One transaction, so a collection cannot take the blob between the check and the link.
    public func mount(_ digest: Digest, from source: String, into repository: String) throws -> Bool {
        try writeUnlessCollecting(digest) { db in
            guard let size = try Self.linkedSize(digest, in: source, db: db), objectStore != nil || content.contains(digest) else { return false }
            try Self.link(digest, size: size, into: repository, in: db)
            return true
        }
    }

    /// Removes a blob from a repository (the bytes go when garbage collection finds no user).
    public func deleteBlob(_ repository: String, _ digest: Digest) throws {
        let removed = try withDatabase { db in
            try db.write {
                let found = try Self.linkedSize(digest, in: repository, db: db) != nil
                try db.execute("DELETE FROM repository_blobs WHERE repository = ? AND digest = ?", [.text(repository), .text(digest.description)])
                return found
            }
        }
        guard removed else { throw DistributionError(.blobUnknown, "blob \(digest) is not in repository \(repository)") }
    }

    // MARK: manifests and tags

    public struct StoredManifest: Sendable {
        public var digest: Digest
        public var mediaType: String
        public var size: Int64
    }

    /// The manifest a tag or digest names in a repository, or nil.
    public func manifest(_ repository: String, _ reference: ManifestReference) throws -> StoredManifest? {
        try withDatabase { db in
            let digest: String
            switch reference {
            case .digest(let d): digest = d.description
            case .tag(let tag):
                guard let d = try db.query("SELECT digest FROM tags WHERE repository = ? AND tag = ?",
                                           [.text(repository), .text(tag)]).first?.string(0) else { return nil }
                digest = d
            }
            guard let row = try db.query("SELECT media_type, size FROM manifests WHERE repository = ? AND digest = ?",
                                         [.text(repository), .text(digest)]).first,
                  let mediaType = row.string(0), let size = row.int(1), let parsed = try? Digest(parsing: digest) else { return nil }
            return StoredManifest(digest: parsed, mediaType: mediaType, size: size)
        }
    }

    /// Stores a validated manifest and, for a tag, points the tag at it — one transaction, checked
    /// inside it against what the repository holds, so no manifest ever names a blob that is gone.
    /// `requireBlobs: false` is a pull-through cache's copy of an upstream manifest, whose blobs
    /// come when they are first asked for.
    func putManifest(_ repository: String, _ manifest: ValidatedManifest, bytes: [UInt8], tag: String?, pushedBy: String? = nil,
                     requireBlobs: Bool = true, lease: BlobLease? = nil) throws {
        try writeUnlessCollecting(manifest.digest) { db in
                // The bytes are written inside the transaction: a collection cannot find them
                // unreferenced. (In an object store they were written before it, under a lease.)
                if let lease { try lease.release(in: db) }
                if objectStore == nil && !content.contains(manifest.digest) {
                    let ingest = try content.ingest(manifest.digest.algorithm)
                    try ingest.write(bytes)
                    try ingest.finish()
                    try ingest.commit(expected: manifest.digest, expectedSize: Int64(bytes.count))
                }
                try Self.ensureRepository(repository, in: db)
                for blob in manifest.blobs where requireBlobs {
                    let present = try Self.linkedSize(blob, in: repository, db: db) != nil
                    guard present, objectStore != nil || content.contains(blob) else {
                        throw DistributionError(.manifestBlobUnknown, "blob \(blob) named by the manifest is not in repository \(repository): push it first",
                                                detail: blob.description)
                    }
                }
                for child in manifest.manifests where requireBlobs {
                    let present = try !db.query("SELECT 1 FROM manifests WHERE repository = ? AND digest = ?",
                                                [.text(repository), .text(child.description)]).isEmpty
                    guard present else {
                        throw DistributionError(.manifestBlobUnknown, "manifest \(child) named by the index is not in repository \(repository): push it first",
                                                detail: child.description)
                    }
                }
                try db.execute("""
                    INSERT INTO manifests (repository, digest, media_type, size, artifact_type, subject, annotations, pushed, pushed_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (repository, digest) DO UPDATE SET media_type = excluded.media_type, size = excluded.size,
                        artifact_type = excluded.artifact_type, subject = excluded.subject, annotations = excluded.annotations,
                        pushed = excluded.pushed, pushed_by = excluded.pushed_by
                    """, [.text(repository), .text(manifest.digest.description), .text(manifest.mediaType), .integer(Int64(bytes.count)),
                          .optional(manifest.artifactType), .optional(manifest.subject?.description),
                          .optional(manifest.annotationsJSON), .integer(Self.now), .optional(pushedBy)])
                for digest in manifest.blobs + manifest.manifests {
                    try db.execute("INSERT INTO manifest_references (repository, manifest, digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                   [.text(repository), .text(manifest.digest.description), .text(digest.description)])
                }
                if let tag {
                    try db.execute(RegistryStorage.setTagSQL,
                                   [.text(repository), .text(tag), .text(manifest.digest.description), .integer(Self.now)])
                }
        }
    }

    /// Deletes a manifest (with every tag that points at it), or only a tag.
    public func deleteManifest(_ repository: String, _ reference: ManifestReference) throws {
        let found = try withDatabase { db in
            try db.write { () -> Bool in
                switch reference {
                case .tag(let tag):
                    let found = try !db.query("SELECT 1 FROM tags WHERE repository = ? AND tag = ?", [.text(repository), .text(tag)]).isEmpty
                    try db.execute("DELETE FROM tags WHERE repository = ? AND tag = ?", [.text(repository), .text(tag)])
                    return found
                case .digest(let digest):
                    let d = SQLValue.text(digest.description)
                    let found = try !db.query("SELECT 1 FROM manifests WHERE repository = ? AND digest = ?", [.text(repository), d]).isEmpty
                    try db.execute("DELETE FROM tags WHERE repository = ? AND digest = ?", [.text(repository), d])
                    try db.execute("DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", [.text(repository), d])
                    try db.execute("DELETE FROM manifests WHERE repository = ? AND digest = ?", [.text(repository), d])
                    return found
                }
            }
        }
        guard found else { throw DistributionError(.manifestUnknown, "manifest \(reference) is not in repository \(repository)") }
    }

    /// Tags in lexical order after `last`, at most `limit`.
    public func tags(_ repository: String, after last: String?, limit: Int) throws -> [String] {
        try withDatabase {
            try $0.query("SELECT tag FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ?",
                         [.text(repository), .text(last ?? ""), .integer(Int64(limit))]).compactMap { $0.string(0) }
        }
    }

    /// The manifests whose `subject` is `digest`, as descriptors for the referrers index.
    public func referrers(_ repository: String, of digest: Digest, artifactType: String?) throws -> [Descriptor] {
        try withDatabase { db in
            var sql = "SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository = ? AND subject = ?"
            var parameters: [SQLValue] = [.text(repository), .text(digest.description)]
            if let artifactType {
                sql += " AND artifact_type = ?"
                parameters.append(.text(artifactType))
            }
            return try db.query(sql + " ORDER BY digest", parameters).compactMap { row in
                guard let text = row.string(0), let d = try? Digest(parsing: text), let mediaType = row.string(1), let size = row.int(2) else { return nil }
                var descriptor = Descriptor(mediaType: MediaType(mediaType), digest: d, size: size)
                descriptor.artifactType = row.string(3)
                descriptor.annotations = row.string(4).flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
                return descriptor
            }
        }
    }
}

/// What a manifest URL names: a tag, or a digest.
public enum ManifestReference: Sendable, CustomStringConvertible {
    case tag(String)
    case digest(Digest)

    public init(parsing text: String) throws {
        if text.contains(":") {
            do { self = .digest(try Digest(parsing: text)) } catch {
                throw DistributionError(.digestInvalid, "invalid digest \"\(text.prefix(200))\": \((error as? StrataError)?.message ?? "\(error)")")
            }
        } else {
            if let problem = Reference.tagNameProblem(text) {
                throw DistributionError(.manifestInvalid, "invalid tag: \(problem)")
            }
            self = .tag(text)
        }
    }

    public var description: String {
        switch self {
        case .tag(let t): return t
        case .digest(let d): return d.description
        }
    }
}
