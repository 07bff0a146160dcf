import Foundation
import ImageSpec
import Metadata

extension ImageStore {
    /// What `rmi` and `prune` did, line by line, in Docker's words.
    public enum RemoveEvent: Sendable, Equatable, CustomStringConvertible {
        case untagged(String)
        case deleted(Digest)

        public var description: String {
            switch self {
            case .untagged(let name): return "Untagged: \(name)"
            case .deleted(let digest): return "Deleted: \(digest)"
            }
        }
    }

    /// `strata rmi`: removes a name, and the image with it when no name is left.
    /// By ID, an image with several names needs `force`; an image other images build on is only untagged.
    public func remove(_ input: String, force: Bool) throws -> [RemoveEvent] {
        let (image, matchedName) = try lookup(input)
        var events: [RemoveEvent] = []
        var deleteImage = false
        try db.write {
            let names = try tags(of: image.id)
            let digests = try repoDigests(of: image.id)
            if let ref = matchedName {
                // Untag this one name; the image goes only if no name is left.
                if ref.digest != nil {
                    try db.execute("DELETE FROM repo_digests WHERE repository = ? AND digest = ?",
                                   [.text(ref.name), .text(ref.digest!.description)])
                } else {
                    try db.execute("DELETE FROM tags WHERE name = ?", [.text(ref.withDefaultTag.description)])
                }
                events.append(.untagged(ref.familiarString))
                let remaining = try tags(of: image.id)
                if remaining.isEmpty {
                    // Docker drops the image's digests in the same repository along with its last tag.
                    for d in digests where d.name == ref.name && d != ref {
                        try db.execute("DELETE FROM repo_digests WHERE repository = ? AND digest = ?",
                                       [.text(d.name), .text(d.digest!.description)])
                        events.append(.untagged(d.familiarString))
                    }
                    deleteImage = try repoDigests(of: image.id).isEmpty
                }
            } else {
                if Set(names.map(\.name)).count > 1, !force {
                    throw StrataError(.conflict,
                        "conflict: unable to delete \(image.id.short) (must be forced) - image is referenced in multiple repositories")
                }
                for name in names { events.append(.untagged(name.familiarString)) }
                for d in digests { events.append(.untagged(d.familiarString)) }
                try db.execute("DELETE FROM tags WHERE image_id = ?", [.text(image.id.description)])
                try db.execute("DELETE FROM repo_digests WHERE image_id = ?", [.text(image.id.description)])
                deleteImage = true
            }
            if deleteImage, try hasChildren(image.id) {
                if matchedName == nil {
                    throw StrataError(.conflict,
                        "conflict: unable to delete \(image.id.short) (cannot be forced) - image has dependent child images")
                }
                deleteImage = false
            }
        }
        if deleteImage {
            events += try deleteImages([image.id]).events
        }
        return events
    }

    func hasChildren(_ id: Digest) throws -> Bool {
        !(try db.query("SELECT 1 FROM images WHERE parent = ? LIMIT 1", [.text(id.description)]).isEmpty)
    }

    /// Deletes image records and then every blob no remaining image references. Returns the
    /// events and the uncompressed bytes of the layers freed (what `system df` counts).
    func deleteImages(_ ids: [Digest]) throws -> (events: [RemoveEvent], reclaimed: Int64) {
        guard !ids.isEmpty else { return ([], 0) }
        // Exclusive: no other process is between writing a blob and recording the image using it.
        let lock = try collectLock()
        defer { withExtendedLifetime(lock) {} }
        var events: [RemoveEvent] = []
        var orphans: [(digest: Digest, layerSize: Int64?)] = []
        try db.write {
            for id in ids {
                let blobs = try db.query("SELECT digest FROM image_blobs WHERE image_id = ?", [.text(id.description)])
                    .compactMap { $0.string(0) }
                try db.execute("DELETE FROM image_blobs WHERE image_id = ?", [.text(id.description)])
                try db.execute("DELETE FROM tags WHERE image_id = ?", [.text(id.description)])
                try db.execute("DELETE FROM repo_digests WHERE image_id = ?", [.text(id.description)])
                try db.execute("DELETE FROM images WHERE id = ?", [.text(id.description)])
                events.append(.deleted(id))
                for blob in blobs {
                    let stillUsed = !(try db.query("SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1", [.text(blob)]).isEmpty)
                    guard !stillUsed, let digest = try? Digest(parsing: blob) else { continue }
                    let layer = try db.query("SELECT diff_id, size FROM layers WHERE digest = ?", [.text(blob)]).first
                    if let layer {
                        try db.execute("DELETE FROM layers WHERE digest = ?", [.text(blob)])
                        if let diff = layer.string(0).flatMap({ try? Digest(parsing: $0) }), digest != diff {
                            // Keep Docker's shape: one Deleted line per layer, named by its content.
                            events.append(.deleted(diff))
                        } else {
                            events.append(.deleted(digest))
                        }
                    }
                    orphans.append((digest, layer?.int(1)))
                }
            }
        }
        // The records are gone (committed): deleting the files now can only leave an unreferenced
        // blob behind if we crash, never a record without its blob.
        for orphan in orphans { content.delete(orphan.digest) }
        content.removeAbandonedIngests()
        return (events, orphans.reduce(0) { $0 + ($1.layerSize ?? 0) })
    }

    /// `strata image prune`: dangling images (no name, no child), or with `all` every image no container uses.
    public func prune(all: Bool) throws -> (events: [RemoveEvent], reclaimed: Int64) {
        var events: [RemoveEvent] = []
        var reclaimed: Int64 = 0
        // Children go before their parents, so repeat until nothing more can go.
        while true {
            let candidates = try db.query("""
                SELECT id FROM images i
                WHERE NOT EXISTS (SELECT 1 FROM images c WHERE c.parent = i.id)
                \(all ? "" : "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id) AND NOT EXISTS (SELECT 1 FROM repo_digests r WHERE r.image_id = i.id)")
                """).compactMap { $0.string(0).flatMap { try? Digest(parsing: $0) } }
            if candidates.isEmpty { break }
            for id in candidates {
                for name in try tags(of: id) { events.append(.untagged(name.familiarString)) }
                for d in try repoDigests(of: id) { events.append(.untagged(d.familiarString)) }
            }
            let result = try deleteImages(candidates)
            events += result.events
            reclaimed += result.reclaimed
        }
        // Blobs no image references (left by a crash between writing and recording) go too.
        reclaimed += try collectGarbage()
        return (events, reclaimed)
    }

    /// Deletes blobs that no image references. Returns the layer bytes freed.
    @discardableResult
    public func collectGarbage() throws -> Int64 {
        let lock = try collectLock()
        defer { withExtendedLifetime(lock) {} }
        let referenced = Set(try db.query("SELECT DISTINCT digest FROM image_blobs").compactMap { $0.string(0) })
        var freed: Int64 = 0
        for digest in content.list() where !referenced.contains(digest.description) {
            if let row = try db.query("SELECT size FROM layers WHERE digest = ?", [.text(digest.description)]).first {
                freed += row.int(0) ?? 0
                try db.execute("DELETE FROM layers WHERE digest = ?", [.text(digest.description)])
            }
            content.delete(digest)
        }
        content.removeAbandonedIngests()
        return freed
    }
}
