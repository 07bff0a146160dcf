import ContentStore
import Foundation
import ImageSpec
import Metadata

/// Online garbage collection: no read-only mode, no stop-the-world. The database decides, in short
/// transactions that SQLite's one writer lock orders against every push:
/// 1. **mark** (one transaction): a blob is a candidate when no manifest names it, it is no
///    manifest itself, and it has been linked and on disk for longer than the grace period (a
///    blob just uploaded for a manifest still to come is safe for that long). Candidates lose
///    their repository links and go into `gc_deleting`;
/// 2. the files are unlinked, outside any transaction;
/// 3. **forget** (one transaction): `gc_deleting` is emptied.
/// A manifest PUT checks its blobs' links inside its own transaction, so either it commits first
/// (and its references protect the blobs) or the mark does (and the PUT answers
/// `MANIFEST_BLOB_UNKNOWN`): a PUT never succeeds while a blob it names is being collected. An
/// upload of a blob in `gc_deleting` waits until step 3 before it publishes.
extension RegistryStorage {
    public struct CollectionReport: Sendable, Equatable {
        public var blobs: [Digest] = []
        public var bytes: Int64 = 0
        public var manifests = 0
        public var uploads = 0
    }

    static let gcMigration = """
        CREATE TABLE gc_deleting (digest TEXT PRIMARY KEY);
        """

    /// One collection. `grace`: how old an unreferenced blob (and an untagged manifest) must be.
    /// `deleteUntagged`: also delete manifests no tag and no index names. `uploadTTL`: sessions
    /// idle for longer are abandoned.
    public func collectGarbage(grace: TimeInterval = 3600, deleteUntagged: Bool = false, dryRun: Bool = false,
                               uploadTTL: TimeInterval = 86_400) throws -> CollectionReport {
        try checkBlobStore()
        precondition(objectStore == nil, "an object store's blobs are collected by collect(grace:)")
        let lock = try collectionLock()
        defer { withExtendedLifetime(lock) {} }
        let onDisk = content.list()
        let report = try mark(onDisk, grace: grace, deleteUntagged: deleteUntagged, dryRun: dryRun, uploadTTL: uploadTTL) { digest in
            var st = stat()
            guard stat(self.content.path(for: digest), &st) == 0 else { return nil }
            return (Int64(st.st_size), Int64(st.st_mtim.tv_sec))
        }
        guard !dryRun else { return report }
        for digest in report.blobs { content.delete(digest) }
        try forgetCollected()
        return report
    }

    /// Step 1, wherever the blobs are: of the `stored` digests, those no manifest names, that are
    /// no manifest themselves, unleased, and whose links and bytes (`age`: size and modification
    /// time, nil when gone) are older than `grace` lose their links and go into `gc_deleting`, in
    /// one transaction that also deletes untagged manifests and abandons idle upload sessions.
    func mark(_ stored: [Digest], grace: TimeInterval, deleteUntagged: Bool, dryRun: Bool, uploadTTL: TimeInterval,
              age: (Digest) -> (size: Int64, modified: Int64)?) throws -> CollectionReport {
        let now = Date().timeIntervalSince1970
        let cutoff = Int64(now - grace)
        var report = CollectionReport()
        let chosen: [(Digest, Int64)] = try withDatabase { db in
            try db.write {
                if deleteUntagged { report.manifests = try Self.deleteUntagged(before: cutoff, in: db, dryRun: dryRun) }
                let kept = Set(try db.query("""
                    SELECT digest FROM manifest_references UNION SELECT digest FROM manifests
                    UNION SELECT digest FROM repository_blobs WHERE added > ? UNION SELECT digest FROM blob_leases WHERE expires > ?
                    """, [.integer(cutoff), .integer(Self.now)]).compactMap { $0.string(0) })
                var chosen: [(Digest, Int64)] = []
                for digest in stored where !kept.contains(digest.description) {
                    guard let (size, modified) = age(digest), modified <= cutoff else { continue }
                    chosen.append((digest, size))
                }
                if !dryRun {
                    for (digest, _) in chosen {
                        try db.execute("DELETE FROM repository_blobs WHERE digest = ?", [.text(digest.description)])
                        try db.execute("INSERT INTO gc_deleting (digest) VALUES (?) ON CONFLICT DO NOTHING", [.text(digest.description)])
                    }
                    try db.execute("DELETE FROM blob_leases WHERE expires <= ?", [.integer(Self.now)])
                }
                report.uploads = try Self.expireUploads(before: Int64(now - uploadTTL), in: db, dryRun: dryRun, directory: uploadsDirectory)
                return chosen
            }
        }
        report.blobs = chosen.map(\.0)
        report.bytes = chosen.reduce(0) { $0 + $1.1 }
        return report
    }

    /// Step 3: the marked blobs are gone.
    func forgetCollected() throws {
        try withDatabase { db in try db.write { try db.execute("DELETE FROM gc_deleting") } }
    }

    /// Manifests no tag points at and no other manifest names, pushed before `cutoff`.
    private static func deleteUntagged(before cutoff: Int64, in db: any SQLDatabase, dryRun: Bool) throws -> Int {
        let rows = try db.query("""
            SELECT m.repository, m.digest FROM manifests m
            WHERE m.pushed <= ?
              AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)
              AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.digest = m.digest)
              AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject))
            """, [.integer(cutoff)])
        guard !dryRun else { return rows.count }
        for row in rows {
            let repository = SQLValue.text(row.string(0) ?? ""), digest = SQLValue.text(row.string(1) ?? "")
            try db.execute("DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", [repository, digest])
            try db.execute("DELETE FROM manifests WHERE repository = ? AND digest = ?", [repository, digest])
        }
        return rows.count
    }

    private static func expireUploads(before cutoff: Int64, in db: any SQLDatabase, dryRun: Bool, directory: String) throws -> Int {
        let ids = try db.query("SELECT id FROM uploads WHERE started <= ?", [.integer(cutoff)]).compactMap { $0.string(0) }
        guard !dryRun else { return ids.count }
        for id in ids {
            var st = stat()
            // A session written to recently is alive, whenever it started.
            if stat("\(directory)/\(id)", &st) == 0, Int64(st.st_mtim.tv_sec) > cutoff { continue }
            try db.execute("DELETE FROM uploads WHERE id = ?", [.text(id)])
            // An object store's chunks: their objects go with the collection's sweep.
            try db.execute("DELETE FROM upload_chunks WHERE upload = ?", [.text(id)])
            unlink("\(directory)/\(id)")
        }
        return ids.count
    }

    /// Runs `body` in a write transaction, again while a collection is deleting `digest` (an
    /// upload or manifest must not publish over a file about to be unlinked).
    func writeUnlessCollecting<T>(_ digest: Digest, _ body: (any SQLDatabase) throws -> T) throws -> T {
        for _ in 0..<600 {
            let result: T? = try withDatabase { db in
                try db.write {
                    guard try db.query("SELECT 1 FROM gc_deleting WHERE digest = ?", [.text(digest.description)]).isEmpty else { return nil }
                    return try body(db)
                }
            }
            if let result { return result }
            usleep(50_000)
        }
        throw DistributionError(.tooManyRequests, "blob \(digest) is being garbage-collected; try again")
    }
}
