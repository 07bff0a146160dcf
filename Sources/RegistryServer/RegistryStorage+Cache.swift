import ContentStore
import Foundation
import ImageSpec
import Metadata
import NIOPosix

/// What a pull-through cache keeps beside what a registry keeps: when each tag was last checked
/// against the upstream, and blobs stored as they come from it.
extension RegistryStorage {
    /// The digest a tag points at and when it was last set or confirmed (seconds since 1970).
    public func cachedTag(_ repository: String, _ tag: String) throws -> (digest: Digest, checked: Int64)? {
        try withDatabase { db in
            guard let row = try db.query("SELECT digest, updated FROM tags WHERE repository = ? AND tag = ?", [.text(repository), .text(tag)]).first,
                  let text = row.string(0), let digest = try? Digest(parsing: text), let checked = row.int(1) else { return nil }
            return (digest, checked)
        }
    }

    /// Records that the upstream still has the tag where it was.
    public func confirmTag(_ repository: String, _ tag: String) throws {
        try withDatabase { db in
            try db.write {
                try db.execute("UPDATE tags SET updated = ? WHERE repository = ? AND tag = ?", [.integer(Self.now), .text(repository), .text(tag)])
            }
        }
    }

    /// Points a tag at a manifest stored here (the upstream moved it to one already cached).
    func setTag(_ repository: String, _ tag: String, to digest: Digest) throws {
        try withDatabase { db in
            try db.write {
                try db.execute(Self.setTagSQL,
                               [.text(repository), .text(tag), .text(digest.description), .integer(Self.now)])
            }
        }
    }

    /// Whether the blob's bytes are stored (for any repository).
    func hasBytes(_ digest: Digest) async throws -> Bool {
        guard let objectStore else { return content.contains(digest) }
        return try await objectStore.head(Self.objectKey(digest)) != nil
    }

    /// Links a blob stored already (for another repository) into `repository`: true when it was there.
    func linkStored(_ digest: Digest, into repository: String) async throws -> Bool {
        guard let objectStore else {
            return try await NIOThreadPool.singleton.runIfActive {
                try self.writeUnlessCollecting(digest) { db in
                    var st = stat()
                    guard stat(self.content.path(for: digest), &st) == 0 else { return false }
                    try Self.link(digest, size: Int64(st.st_size), into: repository, in: db)
                    return true
                }
            }
        }
        // Under a lease, so that the object seen is not one a collection is about to delete.
        let lease = try await NIOThreadPool.singleton.runIfActive { try self.takeLease(digest) }
        let object = try? await objectStore.head(Self.objectKey(digest))
        return try await NIOThreadPool.singleton.runIfActive {
            try self.withDatabase { db in
                try db.write {
                    try lease.release(in: db)
                    guard let object else { return false }
                    try Self.link(digest, size: object.size, into: repository, in: db)
                    return true
                }
            }
        }
    }

    /// Publishes a blob the cache fetched (verified against `digest` and `size` first) and links
    /// it into `repository`: never visible half-written or unverified.
    func storeFetched(_ fetched: Unchecked<Ingest>, as digest: Digest, size: Int64, into repository: String) async throws {
        let ingest = fetched.value
        try ingest.finish()
        try ingest.verify(expected: digest, expectedSize: size)
        guard objectStore != nil else {
            try await NIOThreadPool.singleton.runIfActive {
                try self.writeUnlessCollecting(digest) { db in
                    try fetched.value.publish()
                    try Self.link(digest, size: size, into: repository, in: db)
                }
            }
            return
        }
        defer { ingest.abort() }
        try await publishToObjectStore(file: ingest.tempPath, digest: digest, size: size, into: repository)
    }
}
