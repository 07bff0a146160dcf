import Foundation
import ImageSpec
import Metadata

extension ImageStore {
    /// One image's share of the disk, counted by unique layer.
    public struct ImageUsage: Sendable {
        public var image: Image
        public var size: Int64
        public var sharedSize: Int64
        public var uniqueSize: Int64
        public var containers: Int
    }

    public struct DiskUsage: Sendable {
        public var images: [ImageUsage]
        /// Bytes of all distinct layers.
        public var totalSize: Int64
        /// Images some container uses.
        public var activeImages: Int
        /// What `image prune -a` frees: the layers no image used by a container needs.
        public var reclaimable: Int64
    }

    public func diskUsage() throws -> DiskUsage {
        try db.read {
            let images = try self.images()
            var layersOf: [Digest: [(String, Int64)]] = [:]
            var users: [String: Int] = [:]
            var sizes: [String: Int64] = [:]
            for row in try db.query("SELECT ib.image_id, l.digest, l.size FROM image_blobs ib JOIN layers l ON l.digest = ib.digest") {
                guard let id = row.string(0).flatMap({ try? Digest(parsing: $0) }), let layer = row.string(1) else { continue }
                let size = row.int(2) ?? 0
                layersOf[id, default: []].append((layer, size))
                users[layer, default: 0] += 1
                sizes[layer] = size
            }
            var containerCount: [String: Int] = [:]
            for row in try db.query("SELECT image_id, COUNT(*) FROM containers GROUP BY image_id") {
                if let id = row.string(0) { containerCount[id] = Int(row.int(1) ?? 0) }
            }
            let usage = images.map { image -> ImageUsage in
                let layers = layersOf[image.id] ?? []
                let shared = layers.filter { (users[$0.0] ?? 0) > 1 }.reduce(Int64(0)) { $0 + $1.1 }
                let total = layers.reduce(Int64(0)) { $0 + $1.1 }
                return ImageUsage(image: image, size: image.size, sharedSize: shared, uniqueSize: total - shared,
                                  containers: containerCount[image.id.description] ?? 0)
            }
            let total = sizes.values.reduce(0, +)
            let active = usage.filter { $0.containers > 0 }
            var activeLayers: Set<String> = []
            for u in active { for l in layersOf[u.image.id] ?? [] { activeLayers.insert(l.0) } }
            let inUse = activeLayers.reduce(Int64(0)) { $0 + (sizes[$1] ?? 0) }
            return DiskUsage(images: usage, totalSize: total, activeImages: active.count, reclaimable: total - inUse)
        }
    }

    /// One row of `history`: a step of the image's config history, newest first.
    public struct HistoryRow: Sendable {
        /// The local image this step produced, when one exists (the top, and ancestors from commit/build).
        public var id: Digest?
        public var created: Date?
        public var createdBy: String
        public var size: Int64
        public var comment: String
    }

    public func history(of image: Image) throws -> [HistoryRow] {
        let config = try self.config(of: image).config
        let layers = try self.layers(of: image)
        var rows = config.historySteps(layerSizes: layers.map(\.size)).map {
            HistoryRow(id: nil, created: $0.created, createdBy: $0.createdBy, size: $0.size, comment: $0.comment)
        }
        // Name the steps that are images of their own: this one, and its local ancestors.
        var current: Image? = image
        var guardCount = 0
        while let ancestor = current, guardCount < 1000 {
            let count = ancestor.id == image.id ? rows.count : max(try self.config(of: ancestor).config.history.count, 1)
            if count >= 1, count <= rows.count, rows[count - 1].id == nil { rows[count - 1].id = ancestor.id }
            current = try ancestor.parent.flatMap { try self.image(id: $0) }
            guardCount += 1
        }
        return rows.reversed()
    }
}
