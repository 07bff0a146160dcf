import Archive
import Foundation
import ImageSpec
import ImageStore

extension Builder {
    /// `--squash`: the layers the target stage added, collapsed into one — the difference
    /// between the stage's base and its result, both mounted read-only — on top of the base's
    /// layers. History is kept; every new entry but the last becomes an empty-layer entry.
    func squash(_ image: ImageStore.Image, onto base: ImageStore.Image?, run: BuildRun) throws -> ImageStore.Image {
        let baseLayers = try base.map { try store.layers(of: $0) } ?? []
        guard try store.layers(of: image).count > baseLayers.count + 1 else { return image }
        let top = try mountReadOnly(image)
        defer { top.release() }
        let empty = try store.temporaryPath("build-empty")
        let bottom = try base.map(mountReadOnly) ?? {
            try FileSystem.createDirectory(empty, mode: 0o755)
            return (empty, { FileSystem.removeTree(empty) })
        }()
        defer { bottom.release() }

        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let ingest = try store.content.ingest()
        let stats: LayerStats
        let blob: (digest: Digest, size: Int64)
        do {
            let tar = TarWriter(ingest)
            stats = try TreeArchiver(clampTime: run.epoch).archiveChanges(lower: bottom.root, upper: top.root, into: tar)
            try tar.finish()
            blob = try ingest.commit()
        } catch {
            ingest.abort()
            throw error
        }
        let layer = ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: blob.digest, size: blob.size),
                                     diffID: blob.digest, size: stats.contentSize, tarSize: blob.size)
        // The stage's history stays, all but its last entry now without a layer; the last one is
        // the step the squashed layer is added with.
        var config = try store.config(of: image).config
        let baseHistory = try base.map { try store.config(of: $0).config.history.count } ?? 0
        var history = config.history
        guard let last = history.popLast() else { return image }
        for i in history.indices where i >= baseHistory { history[i].emptyLayer = true }
        config.history = history
        let step = ImageStore.Step(created: last.createdDate ?? run.createdDate, createdBy: last.createdBy, comment: last.comment,
                                   author: last.author)
        return try store.commitStep(step, config: config, layer: layer, parent: base)
    }
}
