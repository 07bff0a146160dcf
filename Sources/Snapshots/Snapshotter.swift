import Archive
import ContentStore
import Foundation
import ImageSpec
import ImageStore
#if canImport(Glibc)
import Glibc
#endif

/// Unpacks each layer once and shares it among every image and container above it; the
/// driver (`OverlayDriver` or `CopyDriver`) decides how layers become root filesystems.
public final class Snapshotter: @unchecked Sendable {
    public let driver: any SnapshotDriver
    let content: ContentStore

    /// Docker's limit, and overlay's: mount options must fit in one page.
    public static let maxLayers = 127

    public init(storeRoot: String, content: ContentStore, driver kind: StorageDriver) throws {
        let root = "\(storeRoot)/snapshots/\(kind.rawValue)"
        switch kind {
        case .overlay: driver = try OverlayDriver(root: root)
        case .copy: driver = try CopyDriver(root: root)
        }
        self.content = content
    }

    public var kind: StorageDriver { driver.kind }
    public var root: String { driver.root }

    /// Overlay where a test mount works in the store, else copy.
    public static func detectDriver(storeRoot: String) -> StorageDriver {
        try? FileSystem.createDirectory("\(storeRoot)/snapshots", mode: 0o700)
        return OverlayDriver.works(in: "\(storeRoot)/snapshots") ? .overlay : .copy
    }

    public func snapshot(_ chainID: Digest) -> Snapshot? { driver.snapshot(chainID) }

    /// Makes sure every layer is unpacked, lowest first; returns the snapshots, lowest first.
    /// Layers already unpacked (by any image) are reused, not unpacked again.
    public func prepare(_ layers: [ImageStore.Layer]) throws -> [Snapshot] {
        guard layers.count <= Self.maxLayers else {
            throw StrataError(.invalidArgument,
                "the image has \(layers.count) layers; more than \(Self.maxLayers) (Docker's limit) cannot be mounted: squash the image into fewer layers")
        }
        let chain = ChainID.compute(layers.map(\.diffID))
        var snapshots: [Snapshot] = []
        for (i, layer) in layers.enumerated() {
            if let existing = snapshot(chain[i]) {
                snapshots.append(existing)
                continue
            }
            snapshots.append(try unpack(layer, chainID: chain[i], below: snapshots.last))
        }
        return snapshots
    }

    /// Unpacks a stored layer, verifying both digests on the way.
    private func unpack(_ layer: ImageStore.Layer, chainID: Digest, below: Snapshot?) throws -> Snapshot {
        do {
            return try unpack(chainID: chainID, below: below) { applier in
                try applier.apply(blob: try content.open(layer.descriptor.digest),
                                  compression: layer.descriptor.mediaType.layerCompression ?? .none,
                                  digest: layer.descriptor.digest, diffID: layer.diffID)
            }
        } catch {
            // A gzip, zstd or tar failure may be the stored blob gone bad: then it is named as such.
            let diagnosed = content.diagnose(layer.descriptor.digest, error)
            guard let e = diagnosed as? StrataError else { throw diagnosed }
            throw e.code == .damagedBlob ? e : e.context("cannot unpack layer \(layer.descriptor.digest.short)")
        }
    }

    /// How the stored snapshot `chainID` differs from `layer` unpacked afresh over `below` (with
    /// both of the layer's digests checked on the way): empty when it matches (`system check --deep`).
    public func differences(of chainID: Digest, from layer: ImageStore.Layer, below: Snapshot?) throws -> [String] {
        guard let stored = snapshot(chainID) else { return ["the snapshot is missing"] }
        let fresh = try driver.build(chainID: chainID, below: below) { applier in
            try applier.apply(blob: try content.open(layer.descriptor.digest),
                              compression: layer.descriptor.mediaType.layerCompression ?? .none,
                              digest: layer.descriptor.digest, diffID: layer.diffID)
        }
        defer { FileSystem.removeTree(fresh.directory) }
        return TreeComparison.differences(expected: fresh.tree, actual: stored.path)
    }

    /// Makes the snapshot `chainID` from whatever `apply` writes; only a snapshot `apply`
    /// finished is published. Pulls use this to unpack a layer while it downloads.
    @discardableResult
    public func unpack(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> Snapshot {
        try driver.commit(chainID: chainID, below: below, apply: apply)
    }

    /// Every snapshot present.
    public func list() -> [Digest] { driver.list() }

    /// Removes snapshots no image or container needs; returns how many went.
    /// The caller holds the store's collection lock.
    @discardableResult
    public func prune(keeping needed: Set<Digest>) -> Int {
        var removed = 0
        for chainID in list() where !needed.contains(chainID) {
            driver.remove(chainID)
            removed += 1
        }
        driver.removeAbandonedTemporaries()
        return removed
    }
}
