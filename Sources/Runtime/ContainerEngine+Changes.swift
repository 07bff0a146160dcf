import Archive
import Foundation
import ImageSpec
import ImageStore
import Snapshots

extension ContainerEngine {
    /// `strata diff`: what the container changed in its read/write layer.
    public func diff(_ input: String) throws -> [Change] {
        let c = try lookup(input)
        return snapshots.changes(directory(c.id), over: try layers(of: c))
    }

    /// The bytes the container's read/write layer holds (`ps -s`, `system df`): its upper
    /// directory under overlay; with the copy driver, the files its changes name.
    public func layerSize(_ c: Container) throws -> Int64 {
        let dir = directory(c.id)
        if snapshots.kind == .overlay { return VolumeStore.contentSize("\(dir)/upper") }
        return try diff(c.id).filter { $0.kind != .deleted }.reduce(0) { total, change in
            var st = stat()
            let path = BytePath("\(dir)/rootfs") + change.path
            guard lstat(path.cString, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else { return total }
            return total + Int64(st.st_size)
        }
    }

    public struct CommitOptions: Sendable {
        public var reference: Reference?
        public var message: String?
        public var author: String?
        /// `--change`: applied to the image's config first (Dockerfile's `ImageConfig.apply(changes:)`).
        public var change: (@Sendable (inout ImageConfig) throws -> Void)?
        public init() {}
    }

    /// `strata commit`: the container's read/write layer becomes one new layer on top of its
    /// image — only that layer is archived, never the whole root filesystem.
    public func commit(_ input: String, options: CommitOptions) throws -> ImageStore.Image {
        let c = try lookup(input)
        guard let base = try store.image(id: c.imageID) else {
            throw StrataError(.imageUnknown, "the image of container \(c.shortID) is gone from the store")
        }
        // Changes first: a bad one fails before the layer is written.
        var config = try store.config(of: base).config
        try options.change?(&config)
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let newLayer = try commitLayer(c)
        let created = TreeArchiver.sourceDateEpoch.map { Date(timeIntervalSince1970: Double($0)) } ?? Date()
        // As Docker's commit: the author is the one given (none clears the base's), so is the comment.
        let step = ImageStore.Step(created: created, createdBy: c.command, comment: options.message, author: options.author)
        return try store.commitStep(step, config: config, layer: newLayer, parent: base, tags: options.reference.map { [$0] } ?? [])
    }

    /// The container's changes as a new layer (a plain tar) in the content store, not yet part of
    /// any image. The caller holds the store's ingest lock until an image names the layer.
    public func commitLayer(_ c: Container) throws -> ImageStore.Layer {
        let layers = try self.layers(of: c)
        // Frozen while its layer is read, as Docker pauses by default: a running container must not
        // swap a path for a symlink to the host between our look and our read.
        if c.state == .running { try runtime.pause(c.id) }
        defer { if c.state == .running { runtime.resume(c.id) } }
        let ingest = try store.content.ingest()
        do {
            let tar = TarWriter(ingest)
            let stats = try snapshots.archiveChanges(directory(c.id), over: layers, into: tar)
            try tar.finish()
            let (digest, tarSize) = try ingest.commit()
            return ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: digest, size: tarSize),
                                    diffID: digest, size: stats.contentSize, tarSize: tarSize)
        } catch {
            ingest.abort()
            throw error
        }
    }

    /// `strata export`: the container's whole root filesystem as a tar.
    public func export(_ input: String, to writer: ByteWriter) throws {
        let c = try lookup(input)
        let dir = directory(c.id)
        let layers = try self.layers(of: c)
        let use = try snapshots.use(dir, over: layers)
        defer { use.release() }
        if c.state == .running { try runtime.pause(c.id) }
        defer { if c.state == .running { runtime.resume(c.id) } }
        let rootfs = use.rootfs
        let tar = TarWriter(writer)
        try TreeArchiver(clampTime: nil).archive(directory: rootfs, into: tar)
        try tar.finish()
    }
}
