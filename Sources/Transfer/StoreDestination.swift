import Archive
import ContentStore
import Foundation
import ImageSpec
import ImageStore
import Metadata
import Registry
import Snapshots

/// The local store. A layer is written to the content store and — with a driver that can —
/// unpacked into its snapshot from the same bytes as they arrive; the blob and the snapshot
/// become visible only once both digests check out, and the image and its names only once every
/// blob is in. The store's ingest lock is held throughout, so no collection runs in between.
///
/// `deferred` (a load of a whole archive) verifies everything as it is written but publishes
/// nothing — blobs nor records — until `publish()`: the caller publishes once every image of the
/// archive checked out.
public final class StoreDestination: ImageDestination, @unchecked Sendable {
    let store: ImageStore
    let snapshotter: Snapshotter?
    public let tags: [Reference]
    /// The repository (`registry/path`) a pulled image's digest is recorded under.
    let repository: String?
    let deferred: Bool
    let lock: FileLock
    private let mutex = NSLock()
    private var written: [Int: ImageStore.Layer] = [:]
    private var chainIDs: [Digest] = []
    private var diffIDs: [Digest] = []
    /// An image with this config is stored already: it keeps its blobs and gains only names.
    private var existing: ImageStore.Image?
    /// Deferred: what `publish()` makes visible, in order.
    private var pendingBlobs: [@Sendable () throws -> Void] = []
    private var pendingRecord: (ImageStore.NewImage, [Reference], [Reference])?
    /// After `finish` (or `publish`): the names that pointed elsewhere before.
    public private(set) var moved: [ImageStore.MovedTag] = []
    /// After `holds` or `finish` (or `publish`): the image now stored.
    public private(set) var image: ImageStore.Image?

    /// - Parameter snapshotter: unpack layers while they arrive (drivers that can; nil to store blobs only).
    public init(store: ImageStore, snapshotter: Snapshotter?, tags: [Reference], repository: String?, deferred: Bool = false) throws {
        self.store = store
        self.snapshotter = deferred ? nil : (snapshotter?.driver.unpacksLayersIndependently == true ? snapshotter : nil)
        self.tags = tags
        self.repository = repository
        self.deferred = deferred
        lock = try store.ingestLock()
    }

    public var name: String { "the local store" }

    public func holds(root: ManifestBlob) async throws -> Descriptor? {
        guard let repository, let existing = try store.image(repository: repository, digest: root.digest) else { return nil }
        // An image whose blob was set aside as damaged (`system check --repair`) is fetched again.
        guard try store.missingBlobs(of: existing).isEmpty else { return nil }
        guard try tags.allSatisfy({ try store.taggedImage($0) == existing.id }) else {
            // Known image, name elsewhere: it only needs the names.
            return nil
        }
        image = existing
        return Descriptor(mediaType: root.mediaType, digest: root.digest, size: Int64(root.bytes.count))
    }

    public func begin(_ plan: ImagePlan) async throws {
        let existing = try store.image(id: plan.parsed.config.digest)
        mutex.withLock {
            diffIDs = plan.diffIDs
            chainIDs = ChainID.compute(plan.diffIDs)
            self.existing = existing
        }
    }

    public func status(of blob: Descriptor) async throws -> BlobStatus {
        // An image stored already keeps its own blobs (perhaps compressed otherwise); only one
        // of them that is missing (set aside as damaged by `system check --repair`) is fetched again.
        if let existing = mutex.withLock({ existing }) {
            return try store.missingBlobs(of: existing).contains(blob.digest) ? .missing : .present
        }
        guard store.content.contains(blob.digest) else { return .missing }
        if blob.mediaType.isLayer { return try store.layer(blob.digest) != nil ? .present : .missing }
        return .present
    }

    public func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
                      progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus {
        let deferred = self.deferred
        let contentStore = Unchecked(store.content)
        guard let i = layer else {
            let publish = try await withReader(content) { reader -> @Sendable () throws -> Void in
                let ingest = try contentStore.value.ingest()
                do { try reader.copy(to: ingest) } catch { ingest.abort(); throw error }
                try ingest.verify(expected: blob.digest, expectedSize: blob.size)
                let verified = Unchecked(ingest)
                return { try verified.value.publish() }
            }
            try schedule(publish)
            return .written
        }
        let compression = blob.mediaType.layerCompression ?? .none
        let (diffID, chainID) = mutex.withLock { (diffIDs[i], chainIDs[i]) }
        let label = "layer \(i + 1) (\(blob.digest.short))"
        @Sendable func checked(_ measured: Digest) throws {
            guard measured == diffID else {
                throw StrataError(.digestMismatch, "\(label) does not match the image config: diff ID expected \(diffID), got \(measured)")
            }
        }
        // Staged in this store already (a load): measured where it lies, then renamed into place.
        if case .staged(let staged) = content, staged.isIngest(of: store.content) {
            try staged.verify(blob)
            let stats = try await onThread("strata-layer") {
                let measured = try ImageStore.measureLayer(try FileReader(path: staged.path), compression: compression, digest: blob.digest,
                                                           path: blob.digest.description, source: "layer")
                try checked(measured.diffID)
                return measured
            }
            try schedule { try staged.publish() }
            mutex.withLock { written[i] = ImageStore.Layer(descriptor: blob, diffID: diffID, size: stats.contentSize, tarSize: stats.tarSize) }
            return .written
        }
        let box = Unchecked(snapshotter.flatMap { $0.snapshot(chainID) == nil ? $0 : nil })
        let (record, publish) = try await withReader(content, progress: progress) { reader -> (ImageStore.Layer, @Sendable () throws -> Void) in
            let snapshotter = box.value
            let ingest = try contentStore.value.ingest()
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
                    let measured: (diffID: Digest, contentSize: Int64, tarSize: Int64)
                    do {
                        measured = try ImageStore.measureLayer(tee, compression: compression, digest: blob.digest,
                                                               path: blob.digest.description, source: "layer")
                    } catch {
                        // Bytes that do not inflate or parse are usually bytes that are not the blob:
                        // read the rest, and when the digest says so, that is the error to report.
                        if (try? tee.copy(to: NullWriter())) != nil, ingest.digest != blob.digest {
                            throw StrataError(.digestMismatch, "blob digest mismatch: expected \(blob.digest), got \(ingest.digest)", cause: error)
                        }
                        throw error
                    }
                    try checked(measured.diffID)
                    stats.contentSize = measured.contentSize
                    stats.tarSize = measured.tarSize
                    try ingest.verify(expected: blob.digest, expectedSize: blob.size)
                }
                let layer = ImageStore.Layer(descriptor: blob, diffID: diffID, size: stats.contentSize, tarSize: stats.tarSize)
                let verified = Unchecked(ingest)
                return (layer, { try verified.value.publish() })
            } catch {
                ingest.abort()
                if let e = error as? StrataError { throw e.context(label) }
                throw error
            }
        }
        if deferred { try schedule(publish) } else { try publish() }
        mutex.withLock { written[i] = record }
        return .written
    }

    /// Publishes a verified blob now, or — deferred — when `publish()` is called.
    private func schedule(_ publish: @escaping @Sendable () throws -> Void) throws {
        if deferred { mutex.withLock { pendingBlobs.append(publish) } } else { try Trace.measure(.commit) { try publish() } }
    }

    public func finish(_ plan: ImagePlan) async throws -> Digest {
        var repoDigests: [Reference] = []
        if let repository, let ref = try? Reference(parsing: "\(repository)@\(plan.root.digest)") { repoDigests.append(ref) }
        if let existing = mutex.withLock({ existing }) {
            // The image is here (perhaps compressed otherwise): it keeps its blobs and gains the names.
            let new = ImageStore.NewImage(manifestDigest: existing.manifestDigest, manifestMediaType: existing.manifestMediaType,
                                          config: plan.config, configDigest: existing.id, layers: try store.layers(of: existing))
            try record(new, repoDigests: repoDigests)
            return existing.manifestDigest
        }
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
        let manifest = plan.manifest
        let contentStore = Unchecked(store.content)
        try schedule { try contentStore.value.ingest(bytes: manifest.bytes, expected: manifest.digest) }
        try record(ImageStore.NewImage(manifestDigest: manifest.digest, manifestMediaType: manifest.mediaType, config: plan.config,
                                       configDigest: plan.parsed.config.digest, layers: layers), repoDigests: repoDigests)
        return manifest.digest
    }

    private func record(_ new: ImageStore.NewImage, repoDigests: [Reference]) throws {
        if deferred {
            mutex.withLock { pendingRecord = (new, tags, repoDigests) }
            return
        }
        let (image, moved) = try Trace.measure(.commit) { try store.record(new, tags: tags, repoDigests: repoDigests) }
        self.image = image
        self.moved = moved
    }

    /// Deferred: publishes the verified blobs, then records the image and its names.
    public func publish() throws {
        let (blobs, record) = mutex.withLock { (pendingBlobs, pendingRecord) }
        for blob in blobs { try Trace.measure(.commit) { try blob() } }
        if let (new, tags, repoDigests) = record {
            let (image, moved) = try Trace.measure(.commit) { try store.record(new, tags: tags, repoDigests: repoDigests) }
            self.image = image
            self.moved = moved
        }
        mutex.withLock {
            pendingBlobs = []
            pendingRecord = nil
        }
        withExtendedLifetime(lock) {}
    }
}
