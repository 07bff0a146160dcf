import Foundation
import ImageSpec
import Metadata

extension ImageStore {
    /// The record of one stored layer blob, if the store has both the blob and its record.
    public func layer(_ digest: Digest) throws -> Layer? {
        guard content.contains(digest),
              let row = try db.query("SELECT diff_id, size, tar_size, media_type FROM layers WHERE digest = ?",
                                     [.text(digest.description)]).first,
              let diff = row.string(0).flatMap({ try? Digest(parsing: $0) }),
              let size = content.size(of: digest) else { return nil }
        return Layer(descriptor: Descriptor(mediaType: MediaType(row.string(3) ?? ""), digest: digest, size: size),
                     diffID: diff, size: row.int(1) ?? 0, tarSize: row.int(2) ?? 0)
    }

    /// How stale a sighting may be before it is written again: mount candidates are ordered by
    /// when they were seen, which an hour does not change, and a pull or push of blobs seen
    /// within it then writes (and syncs) nothing.
    static let sightingResolution: Double = 3600

    /// Remembers that blobs exist in a registry repository (after a pull or a push), so a later
    /// push to another repository of that registry can mount them rather than upload them.
    public func recordBlobSources(_ digests: [Digest], registry: String, repository: String) throws {
        let now = Date().timeIntervalSince1970
        try db.write {
            for digest in Set(digests) {
                try db.execute("""
                    INSERT INTO blob_sources (digest, registry, repository, seen) VALUES (?, ?, ?, ?)
                    ON CONFLICT(digest, registry, repository) DO UPDATE SET seen = excluded.seen
                    WHERE blob_sources.seen < excluded.seen - ?
                    """, [.text(digest.description), .text(registry), .text(repository), .real(now), .real(Self.sightingResolution)])
            }
        }
    }

    /// Remembers a stored layer's re-compressed form (after a push that compressed it).
    public func recordLayerVariant(of digest: Digest, compression: Compression, variant: Descriptor) throws {
        try db.write {
            try db.execute("""
                INSERT OR REPLACE INTO layer_variants (digest, compression, variant_digest, variant_size, variant_media_type)
                VALUES (?, ?, ?, ?, ?)
                """, [.text(digest.description), .text(compression.rawValue), .text(variant.digest.description),
                      .integer(variant.size), .text(variant.mediaType.rawValue)])
        }
    }

    /// A stored layer's re-compressed form, if a push made one.
    public func layerVariant(of digest: Digest, compression: Compression) throws -> Descriptor? {
        guard let row = try db.query("""
            SELECT variant_digest, variant_size, variant_media_type FROM layer_variants WHERE digest = ? AND compression = ?
            """, [.text(digest.description), .text(compression.rawValue)]).first,
              let variant = row.string(0).flatMap({ try? Digest(parsing: $0) }),
              let size = row.int(1), let mediaType = row.string(2) else { return nil }
        return Descriptor(mediaType: MediaType(mediaType), digest: variant, size: size)
    }

    /// Repositories of a registry a blob was seen in, most recent first.
    public func blobSources(_ digest: Digest, registry: String) throws -> [String] {
        try db.query("SELECT repository FROM blob_sources WHERE digest = ? AND registry = ? ORDER BY seen DESC",
                     [.text(digest.description), .text(registry)]).compactMap { $0.string(0) }
    }

    /// The image a repository's manifest (or index) digest was pulled or pushed as, if any.
    public func image(repository: String, digest: Digest) throws -> Image? {
        let rows = try db.query("SELECT image_id FROM repo_digests WHERE repository = ? AND digest = ?",
                                [.text(repository), .text(digest.description)])
        guard let id = rows.first?.string(0).flatMap({ try? Digest(parsing: $0) }) else { return nil }
        return try image(id: id)
    }

    /// The image a tag points at, if the tag exists.
    public func taggedImage(_ reference: Reference) throws -> Digest? {
        try db.query("SELECT image_id FROM tags WHERE name = ?", [.text(reference.withDefaultTag.description)])
            .first?.string(0).flatMap { try? Digest(parsing: $0) }
    }
}

extension ImageStore {
    /// Records `repository@digest` for an image (after a push, as Docker does).
    public func addRepoDigest(_ reference: Reference, image: Digest) throws {
        guard let digest = reference.digest else { return }
        try db.write {
            // Unchanged, the row is not written: a transaction that changes nothing commits
            // without a sync, so a push of an image already there writes nothing.
            try db.execute("""
                INSERT INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?)
                ON CONFLICT(repository, digest) DO UPDATE SET image_id = excluded.image_id WHERE image_id != excluded.image_id
                """, [.text(reference.name), .text(digest.description), .text(image.description)])
        }
    }
}
