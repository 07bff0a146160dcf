import Foundation
import ImageSpec
import Metadata

extension RegistryStorage {
    /// A tag as the web page lists it: what it points at, when it last moved and who moved it.
    public struct TaggedManifest: Sendable, Equatable {
        public var tag: String
        public var digest: Digest
        public var mediaType: String
        public var updated: Date
        public var pushedBy: String?
    }

    /// Every tag of a repository, newest first.
    public func taggedManifests(_ repository: String) throws -> [TaggedManifest] {
        try withDatabase { db in
            try db.query("""
                SELECT t.tag, t.digest, m.media_type, t.updated, m.pushed_by FROM tags t
                JOIN manifests m ON m.repository = t.repository AND m.digest = t.digest
                WHERE t.repository = ? ORDER BY t.updated DESC, t.moved DESC
                """, [.text(repository)]).compactMap { row in
                guard let tag = row.string(0), let digest = row.string(1).flatMap({ try? Digest(parsing: $0) }), let mediaType = row.string(2) else { return nil }
                return TaggedManifest(tag: tag, digest: digest, mediaType: mediaType,
                                      updated: Date(timeIntervalSince1970: TimeInterval(row.int(3) ?? 0)), pushedBy: row.string(4))
            }
        }
    }
}
