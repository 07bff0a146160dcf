import Archive
import Foundation
import ImageSpec
import ImageStore
import Metadata
import Registry
import Snapshots

/// The local store. A layer is written to the content store and — with the overlay driver —
/// unpacked into its snapshot from the same bytes as they arrive; the blob and the snapshot
/// become visible only once both digests check out, and the image and its names only once every
/// blob is in. The store's ingest lock is held throughout, so no collection runs in between.
public final class StoreDestination: ImageDestination, @unchecked Sendable {
    let store: ImageStore
    let snapshotter: Snapshotter?
    public let tags: [Reference]
    /// The repository (`registry/path`) a pulled image's digest is recorded under.
    let repository: String?
    let lock: FileLock
    private let mutex = NSLock()
    private var written: [Int: ImageStore.Layer] = [:]
    private var chainIDs: [Digest] = []
    private var diffIDs: [Digest] = []
    /// After `finish`: the names that pointed elsewhere before.
    public private(set) var moved: [ImageStore.MovedTag] = []
    /// After `holds` or `finish`: the image now stored.
    public private(set) var image: ImageStore.Image?

    /// - Parameter snapshotter: unpack layers while they arrive (overlay only; nil to store blobs only).
    public init(store: ImageStore, snapshotter: Snapshotter?, tags: [Reference], repository: String?) throws {
        self.store = store
        self.snapshotter = snapshotter?.driver.unpacksLayersIndependently == true ? snapshotter : nil
        self.tags = tags
        self.repository = repository
        lock = try store.ingestLock()
    }

    public var name: String { "the local store" }

    public func holds(root: ManifestBlob) async throws -> Descriptor? {
        guard let repository, let existing = try store.image(repository: repository, digest: root.digest) else { return nil }
        guard try tags.allSatisfy({ try store.taggedImage($0) == existing.id }) else {
            // Known image, name elsewhere: it only needs the names.
            return nil
        }
        image = existing
        return Descriptor(mediaType: root.mediaType, digest: root.digest, size: Int64(root.bytes.count))
    }

    public func begin(_ plan: ImagePlan) async throws {
        diffIDs = plan.diffIDs
        chainIDs = ChainID.compute(plan.diffIDs)
    }

    public func status(of blob: Descriptor) async throws -> BlobStatus {
        if blob.mediaType.isLayer { return try store.layer(blob.digest) != nil ? .present : .missing }
        return store.content.contains(blob.digest) ? .present : .missing
    }

    public func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
                      progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus {
        guard let i = layer else {
            let contentStore = Unchecked(store.content)
            _ = try await withReader(content) { reader in
                try contentStore.value.ingest(from: reader, expected: blob.digest, expectedSize: blob.size)
            }
            return .written
        }
        let compression = blob.mediaType.layerCompression ?? .none
        let diffID = diffIDs[i], chainID = chainIDs[i]
        let box = Unchecked((store.content, snapshotter.flatMap { $0.snapshot(chainID) == nil ? $0 : nil }))
        let record = try await withReader(content, progress: progress) { reader -> ImageStore.Layer in
            let (contentStore, snapshotter) = box.value
            let ingest = try contentStore.ingest()
            do {
                let tee = TeeReader(reader, into: ingest)
                var stats = LayerStats()
                if let snapshotter {
                    try snapshotter.unpack(chainID: chainID, below: nil) { applier in
                        stats = try applier.apply(blob: tee, compression: compression, digest: nil, diffID: diffID)
                        // The compressed digest is the ingest's to check, before the snapshot is published.
                        try ingest.commit(expected: blob.digest, expectedSize: blob.size)
                    }
                } else {
                    let measured = try ImageStore.measureLayer(tee, compression: compression, digest: blob.digest,
                                                               path: blob.digest.description, source: "layer")
                    guard measured.diffID == diffID else {
                        throw StrataError(.digestMismatch, "layer diff ID mismatch: expected \(diffID), got \(measured.diffID)")
                    }
                    stats.contentSize = measured.contentSize
                    stats.tarSize = measured.tarSize
                    try ingest.commit(expected: blob.digest, expectedSize: blob.size)
                }
                return ImageStore.Layer(descriptor: blob, diffID: diffID, size: stats.contentSize, tarSize: stats.tarSize)
            } catch {
                ingest.abort()
                if let e = error as? StrataError {
                    throw e.context("layer \(blob.digest.short)")
                }
                throw error
            }
        }
        mutex.withLock { written[i] = record }
        return .written
    }

    public func finish(_ plan: ImagePlan) async throws -> Digest {
        var layers: [ImageStore.Layer] = []
        for (i, descriptor) in plan.parsed.layers.enumerated() {
            if let layer = mutex.withLock({ written[i] }) {
                layers.append(layer)
            } else if let layer = try store.layer(descriptor.digest) {
                layers.append(layer)
            } else {
                throw StrataError(.blobUnknown, "layer \(descriptor.digest) was not stored")
            }
        }
        try store.content.ingest(bytes: plan.manifest.bytes, expected: plan.manifest.digest)
        var repoDigests: [Reference] = []
        if let repository, let ref = try? Reference(parsing: "\(repository)@\(plan.root.digest)") { repoDigests.append(ref) }
        let (image, moved) = try store.record(
            ImageStore.NewImage(manifestDigest: plan.manifest.digest, manifestMediaType: plan.manifest.mediaType, config: plan.config,
                                configDigest: plan.parsed.config.digest, layers: layers),
            tags: tags, repoDigests: repoDigests)
        self.image = image
        self.moved = moved
        withExtendedLifetime(lock) {}
        return plan.manifest.digest
    }
}
