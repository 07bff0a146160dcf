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

    /// A blob whose last user went, to delete once the records are committed.
    struct Orphan {
        var digest: Digest
        var layerSize: Int64?
    }

    /// `strata rmi`: removes a name, and the image with it when no name is left.
    /// By ID, an image with several names needs `force`; an image other images build on is only untagged.
    ///
    /// The whole decision — lookup, untag, delete — happens under the exclusive collection lock and in
    /// one transaction, so a name another process adds meanwhile is either seen or not yet there:
    /// never wiped along with an image it was just given to.
    public func remove(_ input: String, force: Bool) throws -> [RemoveEvent] {
        let lock = try collectLock()
        defer { withExtendedLifetime(lock) {} }
        var events: [RemoveEvent] = []
        var orphans: [Orphan] = []
        try db.write {
            let (image, matchedName) = try lookup(input)
            let names = try tags(of: image.id)
            let digests = try repoDigests(of: image.id)
            var deleteImage = false
            let users = try containers(using: image.id)
            if let ref = matchedName {
                // The last name of an image a container uses goes only with force (and the image stays).
                if names.count + digests.count == 1, let user = users.first, !force {
                    throw StrataError(.imageInUse,
                        "conflict: unable to remove repository reference \"\(input)\" (must force) - container \(user.prefix(12)) is using its referenced image \(image.id.short)")
                }
                // Untag this one name; the image goes only if no name is left.
                if let digest = ref.digest {
                    try db.execute("DELETE FROM repo_digests WHERE repository = ? AND digest = ?",
                                   [.text(ref.name), .text(digest.description)])
                } else {
                    try db.execute("DELETE FROM tags WHERE name = ?", [.text(ref.withDefaultTag.description)])
                }
                events.append(.untagged(ref.familiarString))
                if try tags(of: image.id).isEmpty {
                    // Docker drops the image's digests in the same repository along with its last tag.
                    for d in digests where d.name == ref.name && d != ref {
                        try db.execute("DELETE FROM repo_digests WHERE repository = ? AND digest = ?",
                                       [.text(d.name), .text(d.digest!.description)])
                        events.append(.untagged(d.familiarString))
                    }
                    deleteImage = try repoDigests(of: image.id).isEmpty && !hasChildren(image.id) && containers(using: image.id).isEmpty
                }
            } else {
                if Set(names.map(\.name)).count > 1, !force {
                    throw StrataError(.conflict,
                        "conflict: unable to delete \(image.id.short) (must be forced) - image is referenced in multiple repositories")
                }
                if try hasChildren(image.id) {
                    throw StrataError(.conflict,
                        "conflict: unable to delete \(image.id.short) (cannot be forced) - image has dependent child images")
                }
                if let container = users.first, !force {
                    throw StrataError(.imageInUse,
                        "conflict: unable to delete \(image.id.short) (must be forced) - image is being used by container \(container.prefix(12)); remove the container first (strata rm)")
                }
                for name in names { events.append(.untagged(name.familiarString)) }
                for d in digests { events.append(.untagged(d.familiarString)) }
                try db.execute("DELETE FROM tags WHERE image_id = ?", [.text(image.id.description)])
                try db.execute("DELETE FROM repo_digests WHERE image_id = ?", [.text(image.id.description)])
                // Forced: the names go; the image stays while a container still needs it.
                deleteImage = users.isEmpty
            }
            if deleteImage {
                let (deleted, freed) = try deleteRecords(of: image.id)
                events += deleted
                orphans += freed
            }
        }
        deleteBlobs(orphans)
        return events
    }

    func hasChildren(_ id: Digest) throws -> Bool {
        !(try db.query("SELECT 1 FROM images WHERE parent = ? LIMIT 1", [.text(id.description)]).isEmpty)
    }

    /// Deletes an image's rows (inside a write transaction, under the collection lock) and returns
    /// Docker's `Deleted:` lines — the image, then each layer freed, top first, by chain ID —
    /// and the blobs no image references any more.
    private func deleteRecords(of id: Digest) throws -> (events: [RemoveEvent], orphans: [Orphan]) {
        guard let image = try image(id: id) else { return ([], []) }
        // Read while the blobs are still referenced.
        let layers = (try? self.layers(of: image)) ?? []
        let chain = ChainID.compute(layers.map(\.diffID))
        let blobs = try db.query("SELECT digest FROM image_blobs WHERE image_id = ?", [.text(id.description)]).compactMap { $0.string(0) }
        for table in ["image_blobs WHERE image_id", "tags WHERE image_id", "repo_digests WHERE image_id", "build_cache WHERE image_id", "images WHERE id"] {
            try db.execute("DELETE FROM \(table) = ?", [.text(id.description)])
        }
        var events: [RemoveEvent] = [.deleted(id)]
        var orphans: [Orphan] = []
        for blob in blobs {
            guard try db.query("SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1", [.text(blob)]).isEmpty,
                  let digest = try? Digest(parsing: blob) else { continue }
            let size = try db.query("SELECT size FROM layers WHERE digest = ?", [.text(blob)]).first?.int(0)
            try db.execute("DELETE FROM layers WHERE digest = ?", [.text(blob)])
            try db.execute("DELETE FROM layer_variants WHERE digest = ?", [.text(blob)])
            orphans.append(Orphan(digest: digest, layerSize: size))
        }
        let freed = Set(orphans.map(\.digest))
        for (i, layer) in layers.enumerated().reversed() where freed.contains(layer.descriptor.digest) {
            events.append(.deleted(chain[i]))
        }
        return (events, orphans)
    }

    /// The records are committed: deleting the files now can at worst leave an unreferenced blob
    /// behind after a crash, never a record without its blob.
    private func deleteBlobs(_ orphans: [Orphan]) {
        for orphan in orphans { content.delete(orphan.digest) }
        content.removeAbandonedIngests()
    }

    /// `strata image prune`: dangling images (no name, no child), or with `all` every image no container uses.
    public func prune(all: Bool) throws -> (events: [RemoveEvent], reclaimed: Int64) {
        let lock = try collectLock()
        defer { withExtendedLifetime(lock) {} }
        var events: [RemoveEvent] = []
        var orphans: [Orphan] = []
        try db.write {
            // Children go before their parents, so repeat until nothing more can go.
            while true {
                let candidates = try db.query("""
                    SELECT id FROM images i
                    WHERE NOT EXISTS (SELECT 1 FROM images c WHERE c.parent = i.id)
                    AND NOT EXISTS (SELECT 1 FROM containers k WHERE k.image_id = i.id)
                    \(all ? "" : "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id) AND NOT EXISTS (SELECT 1 FROM repo_digests r WHERE r.image_id = i.id)")
                    """).compactMap { $0.string(0).flatMap { try? Digest(parsing: $0) } }
                if candidates.isEmpty { break }
                for id in candidates {
                    for name in try tags(of: id) { events.append(.untagged(name.familiarString)) }
                    for d in try repoDigests(of: id) { events.append(.untagged(d.familiarString)) }
                    let (deleted, freed) = try deleteRecords(of: id)
                    events += deleted
                    orphans += freed
                }
            }
        }
        deleteBlobs(orphans)
        // Blobs no image references (left by a crash between writing and recording) go too.
        let stray = try collectGarbage(locked: true)
        return (events, orphans.reduce(0) { $0 + ($1.layerSize ?? 0) } + stray)
    }

    /// Deletes blobs that no image references. Returns the layer bytes freed.
    @discardableResult
    public func collectGarbage() throws -> Int64 {
        let lock = try collectLock()
        defer { withExtendedLifetime(lock) {} }
        return try collectGarbage(locked: true)
    }

    /// `collectGarbage()` for a caller that holds the collection lock already (`system check --repair`).
    @discardableResult
    public func collectGarbageHoldingLock() throws -> Int64 { try collectGarbage(locked: true) }

    private func collectGarbage(locked: Bool) throws -> Int64 {
        var freed: Int64 = 0
        var stray: [Digest] = []
        try db.write {
            let referenced = Set(try db.query("SELECT DISTINCT digest FROM image_blobs").compactMap { $0.string(0) })
            for digest in content.list() where !referenced.contains(digest.description) {
                if let row = try db.query("SELECT size FROM layers WHERE digest = ?", [.text(digest.description)]).first {
                    freed += row.int(0) ?? 0
                    try db.execute("DELETE FROM layers WHERE digest = ?", [.text(digest.description)])
                    try db.execute("DELETE FROM layer_variants WHERE digest = ?", [.text(digest.description)])
                }
                stray.append(digest)
            }
        }
        for digest in stray { content.delete(digest) }
        content.removeAbandonedIngests()
        return freed
    }
}
