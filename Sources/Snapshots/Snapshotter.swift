import Archive
import Foundation
import CLinux
import ContentStore
import ImageSpec
import Host
import ImageStore
#if canImport(Glibc)
import Glibc
#endif

/// One unpacked layer, keyed by its chain ID (the layer together with everything below it).
public struct Snapshot: Sendable, Equatable {
    public var chainID: Digest
    /// overlay: the layer's own files (a lower directory); copy: the full tree at this level.
    public var path: String
    /// overlay: the short name under `l/` used in mount options.
    public var link: String?
}

/// Unpacks each layer once and shares it among every image and container above it.
public final class Snapshotter {
    public let root: String
    public let driver: StorageDriver
    let content: ContentStore

    /// Overlay's mount options must fit in one page: short links keep 127 layers well inside it.
    public static let maxLayers = 127
    static let linkLength = 12

    public init(storeRoot: String, content: ContentStore, driver: StorageDriver) throws {
        root = "\(storeRoot)/snapshots/\(driver.rawValue)"
        self.driver = driver
        self.content = content
        try FileSystem.createDirectory(root, mode: 0o700)
        if driver == .overlay { try FileSystem.createDirectory("\(root)/l", mode: 0o700) }
    }

    /// The driver to use: `STRATA_STORAGE_DRIVER` or the flag if given, else overlay where a test mount works.
    public static func detectDriver(storeRoot: String) -> StorageDriver {
        let probe = "\(storeRoot)/snapshots/probe-\(getpid())"
        defer { FileSystem.removeTree(probe) }
        for dir in ["lower", "upper", "work", "merged"] {
            guard (try? FileSystem.createDirectory("\(probe)/\(dir)")) != nil else { return .copy }
        }
        let options = "lowerdir=\(probe)/lower,upperdir=\(probe)/upper,workdir=\(probe)/work"
        guard Glibc.mount("overlay", "\(probe)/merged", "overlay", 0, options) == 0 else { return .copy }
        umount2("\(probe)/merged", Int32(MNT_DETACH))
        return .overlay
    }

    func directory(_ chainID: Digest) -> String { "\(root)/\(chainID.encoded)" }

    public func snapshot(_ chainID: Digest) -> Snapshot? {
        let dir = directory(chainID)
        switch driver {
        case .overlay:
            guard FileSystem.isDirectory("\(dir)/diff"), let bytes = try? FileSystem.readFile("\(dir)/link") else { return nil }
            let link = String(decoding: bytes, as: UTF8.self)
            // A crash between the rename and the link leaves the link to be made.
            if TreeArchiver.lstat("\(root)/l/\(link)") == nil { symlink("../\(chainID.encoded)/diff", "\(root)/l/\(link)") }
            return Snapshot(chainID: chainID, path: "\(dir)/diff", link: link)
        case .copy:
            return FileSystem.isDirectory("\(dir)/fs") ? Snapshot(chainID: chainID, path: "\(dir)/fs", link: nil) : nil
        }
    }

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

    /// Unpacks into a private temp directory, verifies both digests, then renames into place:
    /// a snapshot is visible whole or not at all. A concurrent process making the same one wins harmlessly.
    private func unpack(_ layer: ImageStore.Layer, chainID: Digest, below: Snapshot?) throws -> Snapshot {
        do {
            return try unpack(chainID: chainID, below: below) { applier in
                try applier.apply(blob: try content.open(layer.descriptor.digest),
                                  compression: layer.descriptor.mediaType.layerCompression ?? .none,
                                  digest: layer.descriptor.digest, diffID: layer.diffID)
            }
        } catch let e as StrataError {
            throw StrataError(e.code, "cannot unpack layer \(layer.descriptor.digest.short): \(e.message)")
        }
    }

    /// Makes the snapshot `chainID` by running `apply` on a fresh applier over a private temp
    /// tree (a copy of `below` for the copy driver). Whatever `apply` throws — a digest that does
    /// not check out, say — discards the tree; only a snapshot `apply` finished is published.
    /// Pulls use this to unpack a layer while it downloads.
    @discardableResult
    public func unpack(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> Snapshot {
        let temp = "\(root)/tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tree = driver == .overlay ? "\(temp)/diff" : "\(temp)/fs"
        do {
            try FileSystem.createDirectory(temp, mode: 0o700)
            if driver == .copy, let below {
                try Self.copyTree(below.path, to: tree)
            } else {
                try FileSystem.createDirectory(tree, mode: 0o755)
            }
            try apply(try LayerApplier(directory: tree, mode: driver == .overlay ? .overlayDiff : .flatten))
            var link: String?
            if driver == .overlay {
                let short = shortLink(for: chainID)
                try FileSystem.writeAtomically("\(temp)/link", Array(short.utf8))
                link = short
            }
            let target = directory(chainID)
            if rename(temp, target) != 0 {
                guard errno == EEXIST || errno == ENOTEMPTY, let existing = snapshot(chainID) else {
                    throw StrataError.posix("cannot store snapshot \(chainID.short)", errno: errno)
                }
                FileSystem.removeTree(temp)
                return existing
            }
            if let link { symlink("../\(chainID.encoded)/diff", "\(root)/l/\(link)") }
            FileSystem.syncDirectory(root)
            return Snapshot(chainID: chainID, path: "\(target)/\(driver == .overlay ? "diff" : "fs")", link: link)
        } catch {
            FileSystem.removeTree(temp)
            throw error
        }
    }

    /// `cp -a`: hard links, xattrs, devices and times kept; reflinks where the filesystem has them.
    static func copyTree(_ source: String, to destination: String) throws {
        try Subprocess.check("/bin/cp", ["-a", "--reflink=auto", source, destination], what: "cannot copy \(source) to \(destination)",
                             code: .io)
    }

    /// The shortest free (or already ours) link name: 12 hex characters, longer on a collision.
    func shortLink(for chainID: Digest) -> String {
        for length in [Self.linkLength, 16, 24, 32, 64] {
            let name = String(chainID.encoded.prefix(length))
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/l/\(name)") else { return name }
            if target == "../\(chainID.encoded)/diff" { return name }
        }
        return chainID.encoded
    }

    /// Every snapshot present.
    public func list() -> [Digest] {
        FileSystem.listDirectory(root).compactMap { try? Digest(algorithm: .sha256, encoded: $0) }
    }

    /// Removes snapshots no image or container needs; returns how many went.
    /// The caller holds the store's collection lock.
    @discardableResult
    public func prune(keeping needed: Set<Digest>) -> Int {
        var removed = 0
        for chainID in list() where !needed.contains(chainID) {
            if let link = snapshot(chainID)?.link { unlink("\(root)/l/\(link)") }
            FileSystem.removeTree(directory(chainID))
            removed += 1
        }
        // Temp directories of unpacks killed midway.
        for name in FileSystem.listDirectory(root) where name.hasPrefix("tmp-") { FileSystem.removeTree("\(root)/\(name)") }
        return removed
    }
}
