import ImageSpec

/// The metadata schema, versioned by `PRAGMA user_version`; each migration runs once, in order.
public enum Schema {
    public static let migrations: [String] = [
        // 1: images, names, layers
        """
        CREATE TABLE images (
            id TEXT PRIMARY KEY,              -- image ID: the config digest
            manifest TEXT NOT NULL,           -- manifest digest
            manifest_media_type TEXT NOT NULL,
            created REAL,                     -- from the config, seconds since 1970
            size INTEGER NOT NULL,            -- sum of the layers' uncompressed sizes
            parent TEXT NOT NULL DEFAULT '',  -- local parent image (commit, build)
            added REAL NOT NULL,
            last_tag_time REAL
        );
        CREATE TABLE tags (
            name TEXT PRIMARY KEY,            -- normalised, e.g. docker.io/library/busybox:latest
            image_id TEXT NOT NULL REFERENCES images(id)
        );
        CREATE INDEX tags_image ON tags(image_id);
        CREATE TABLE repo_digests (
            repository TEXT NOT NULL,         -- normalised name without tag
            digest TEXT NOT NULL,             -- manifest digest in that repository
            image_id TEXT NOT NULL REFERENCES images(id),
            PRIMARY KEY (repository, digest)
        );
        CREATE INDEX repo_digests_image ON repo_digests(image_id);
        CREATE TABLE layers (
            digest TEXT PRIMARY KEY,          -- blob digest (compressed or not)
            diff_id TEXT NOT NULL,            -- digest of the uncompressed tar
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,            -- Docker's layer size: file bytes plus symlink targets
            tar_size INTEGER NOT NULL         -- length of the uncompressed tar
        );
        CREATE INDEX layers_diff ON layers(diff_id);
        CREATE TABLE image_blobs (            -- every blob an image needs: manifest, config, layers
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            digest TEXT NOT NULL,
            PRIMARY KEY (image_id, digest)
        );
        CREATE INDEX image_blobs_digest ON image_blobs(digest);
        """,
        // 2: containers
        """
        CREATE TABLE containers (
            id TEXT PRIMARY KEY,              -- 64 hex characters
            name TEXT NOT NULL UNIQUE,
            image_id TEXT NOT NULL REFERENCES images(id),
            image_name TEXT NOT NULL,         -- as the user named it (ps shows it)
            created REAL NOT NULL,
            driver TEXT NOT NULL,             -- overlay | copy
            config TEXT NOT NULL,             -- JSON: what runs and how
            state TEXT NOT NULL,              -- created | running | exited
            pid INTEGER NOT NULL DEFAULT 0,   -- of the process that waits for the container
            exit_code INTEGER,
            started REAL,
            finished REAL
        );
        CREATE INDEX containers_image ON containers(image_id);
        """,
        // 3: where blobs were seen in registries, so a push can mount instead of upload
        """
        CREATE TABLE blob_sources (
            digest TEXT NOT NULL,
            registry TEXT NOT NULL,           -- as references name it: docker.io, 127.0.0.1:5000
            repository TEXT NOT NULL,         -- the path in that registry: library/debian
            seen REAL NOT NULL,
            PRIMARY KEY (digest, registry, repository)
        );
        """,
        // 4: a stored layer's re-compressed form from a push, so the next push asks for that
        //    blob (or mounts it) instead of compressing again
        """
        CREATE TABLE layer_variants (
            digest TEXT NOT NULL,             -- the stored blob
            compression TEXT NOT NULL,        -- gzip, zstd, none
            variant_digest TEXT NOT NULL,
            variant_size INTEGER NOT NULL,
            variant_media_type TEXT NOT NULL,
            PRIMARY KEY (digest, compression)
        );
        """,
        // 5: the build cache: each step's key and the image it made, and what went into it, so
        //    a miss can say what changed since the last build of the same step
        """
        CREATE TABLE build_cache (
            key TEXT PRIMARY KEY,             -- sha256 of the parent image, the expanded step, the args it uses, its files
            image_id TEXT NOT NULL,
            slot TEXT NOT NULL,               -- context + Dockerfile + stage + step index: "the same step"
            inputs TEXT NOT NULL,             -- JSON: step text, args used, file digests, parent
            created REAL NOT NULL
        );
        CREATE INDEX build_cache_slot ON build_cache(slot, created);
        """,
    ]
}

extension Database {
    /// The image store's schema.
    public func migrate() throws { try migrate(Schema.migrations) }

    /// Brings the schema up to date, once, under the write lock: the image store's by default,
    /// or another database's own list (the registry server's).
    public func migrate(_ migrations: [String]) throws {
        if userVersion == migrations.count { return }
        try write {
            let current = userVersion
            // A newer Strata's store: its tables mean more than this one knows, so nothing may touch them.
            guard current <= migrations.count else {
                throw StrataError(.database,
                    "\(path) has schema version \(current), newer than this Strata's \(migrations.count): upgrade Strata to use this store")
            }
            for (i, sql) in migrations.enumerated() where i >= current {
                try executeScript(sql)
            }
            try execute("PRAGMA user_version = \(migrations.count)")
        }
    }
}
