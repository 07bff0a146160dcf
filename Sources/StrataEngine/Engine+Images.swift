import Foundation

/// One row of `strata images`: an image under one of its names (an image with two tags is two rows).
public struct ImageSummary: Sendable {
    /// Docker's familiar name (`debian`, `127.0.0.1:5000/lab/app`), or `<none>`.
    public var repository: String
    public var tag: String
    public var digest: String
    public var image: ImageStore.Image
}

/// What `strata rmi` did for one name.
public struct ImageRemoval: Sendable {
    public var name: String
    public var result: Result<[ImageStore.RemoveEvent], StrataError>
}

extension Engine {
    /// `strata images`: newest first, one row per name; untagged images that others build on
    /// (intermediate) only with `all`.
    public func images(all: Bool = false, filter: ImageFilter = ImageFilter(), repository: String? = nil) throws -> [ImageSummary] {
        let store = try self.store
        let images = try store.images().sorted {
            ($0.created ?? $0.added, $0.id.description) > ($1.created ?? $1.added, $1.id.description)
        }
        let wanted = try repository.map { try Reference(parsing: $0) }
        let parents = Set(images.compactMap(\.parent))
        // Names in two queries for the whole store, not two per image.
        let tagsByImage = Dictionary(grouping: try store.tags(), by: \.image).mapValues { $0.map(\.reference) }
        let digestsByImage = try store.repoDigests()
        var rows: [ImageSummary] = []
        for image in images where filter.accepts(image, labels: { (try? store.config(of: image).config.config.labels ?? [:]) ?? [:] }) {
            let tags = (tagsByImage[image.id] ?? []).sorted { $0.familiarString < $1.familiarString }
            let digests = digestsByImage[image.id] ?? []
            func digest(for name: String) -> String {
                digests.first { $0.name == name }?.digest?.description ?? "<none>"
            }
            var imageRows: [ImageSummary] = tags.map {
                ImageSummary(repository: $0.familiarName, tag: $0.tag ?? "<none>", digest: digest(for: $0.name), image: image)
            }
            // A repository known only by digest shows with tag <none>.
            for d in digests where !tags.contains(where: { $0.name == d.name }) {
                imageRows.append(ImageSummary(repository: d.familiarName, tag: "<none>", digest: d.digest!.description, image: image))
            }
            if imageRows.isEmpty {
                // Untagged: dangling if nothing builds on it; intermediate otherwise (shown with -a).
                if parents.contains(image.id), !all { continue }
                imageRows.append(ImageSummary(repository: "<none>", tag: "<none>", digest: "<none>", image: image))
            }
            if let dangling = filter.dangling, dangling != (tags.isEmpty && digests.isEmpty) { continue }
            if let wanted {
                imageRows = imageRows.filter { $0.repository == wanted.familiarName && (wanted.tag == nil || $0.tag == wanted.tag) }
            }
            rows += imageRows.filter { filter.acceptsName($0.repository, $0.tag) }
        }
        return rows
    }

    /// `strata history IMAGE`: newest step first, as Docker prints it.
    public func history(_ name: String) throws -> [ImageStore.HistoryRow] {
        let store = try self.store
        return try store.history(of: store.resolve(name))
    }

    /// `strata inspect IMAGE`: Docker's `image inspect` object, keys in Docker's order.
    public func inspect(_ name: String) throws -> OrderedJSON {
        let store = try self.store
        return try ImageInspector(store: store).inspect(store.resolve(name))
    }

    /// `strata tag SOURCE TARGET`.
    public func tag(_ source: String, as target: String) throws {
        try store.tag(source, as: target)
    }

    /// `strata rmi NAME…`: each name on its own, as Docker does — one that fails does not stop
    /// the others. Unpacked layers no image needs any more go too.
    public func removeImages(_ names: [String], force: Bool) throws -> [ImageRemoval] {
        let store = try self.store
        var removals: [ImageRemoval] = []
        for name in names {
            do {
                removals.append(ImageRemoval(name: name, result: .success(try store.remove(name, force: force))))
            } catch let error as StrataError {
                removals.append(ImageRemoval(name: name, result: .failure(error)))
            }
        }
        try collectSnapshots()
        return removals
    }

    /// `strata image prune [-a]`: dangling images (or every image no container uses), their
    /// unreferenced blobs and snapshots. Returns what went and the bytes reclaimed.
    public func pruneImages(all: Bool) throws -> (events: [ImageStore.RemoveEvent], reclaimed: Int64) {
        let result = try store.prune(all: all)
        try collectSnapshots()
        return result
    }

    /// Unpacked layers of deleted images go with them (only where containers were ever made).
    func collectSnapshots() throws {
        guard hasSnapshots else { return }
        try containers.collectSnapshots()
    }

    /// `strata system df`: disk usage counted by unique layer.
    public func diskUsage() throws -> ImageStore.DiskUsage {
        try store.diskUsage()
    }
}
