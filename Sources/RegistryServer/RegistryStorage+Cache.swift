import ContentStore
import Foundation
import ImageSpec
import Metadata

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

    /// Links a blob stored already (for another repository) into `repository`: true when it was there.
    func linkStored(_ digest: Digest, into repository: String) throws -> Bool {
        try writeUnlessCollecting(digest) { db in
            guard content.contains(digest) else { return false }
            var st = stat()
            guard stat(content.path(for: digest), &st) == 0 else { return false }
            try Self.link(digest, size: Int64(st.st_size), into: repository, in: db)
            return true
        }
    }

    /// Publishes a blob the cache fetched (verified against `digest` and `size` first) and links
    /// it into `repository`, in one transaction: never visible half-written or unverified.
    func storeFetched(_ ingest: Ingest, as digest: Digest, size: Int64, into repository: String) throws {
        try ingest.finish()
        try ingest.verify(expected: digest, expectedSize: size)
        try writeUnlessCollecting(digest) { db in
            try ingest.publish()
            try Self.link(digest, size: size, into: repository, in: db)
        }
    }
}
