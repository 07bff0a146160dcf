import Archive
import Foundation
import Host
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// The portable fallback where overlay is missing: each chain level is a full tree
/// (`<chain>/fs`, a `cp -a --reflink=auto` of the level below with the layer flattened on top),
/// and a container gets a full copy in `rootfs`, bind-mounted as its root. Changes are found by
/// comparing the copy with the image's top level.
public final class CopyDriver: SnapshotDriver {
    public let kind = StorageDriver.copy
    public let root: String
    public var unpacksLayersIndependently: Bool { false }

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
    }

    public func snapshot(_ chainID: Digest) -> Snapshot? {
        let fs = "\(directory(chainID))/fs"
        return FileSystem.isDirectory(fs) ? Snapshot(chainID: chainID, path: fs, link: nil) : nil
    }

    public func build(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> (directory: String, tree: String) {
        try withTemporarySnapshotDirectory { temp in
            if let below {
                try Self.copyTree(below.path, to: "\(temp)/fs")
            } else {
                try FileSystem.createDirectory("\(temp)/fs", mode: 0o755)
            }
            try apply(try LayerApplier(directory: "\(temp)/fs", mode: .flatten))
            return (temp, "\(temp)/fs")
        }
    }

    public func commit(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> Snapshot {
        let temp = try build(chainID: chainID, below: below, apply: apply).directory
        do {
            guard try publish(temp, as: chainID) else { return snapshot(chainID)! }
            return Snapshot(chainID: chainID, path: "\(directory(chainID))/fs", link: nil)
        } catch {
            FileSystem.removeTree(temp)
            throw error
        }
    }

    /// `cp -a`: hard links, xattrs, devices and times kept; reflinks where the filesystem has them.
    static func copyTree(_ source: String, to destination: String) throws {
        try Subprocess.check("/bin/cp", ["-a", "--reflink=auto", source, destination],
                             what: "cannot copy \(source) to \(destination)", code: .io)
    }

    public func prepare(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount] {
        try FileSystem.createDirectory("\(directory)/merged", mode: 0o755)
        if let top = layers.last {
            try Self.copyTree(top.path, to: "\(directory)/rootfs")
        } else {
            try FileSystem.createDirectory("\(directory)/rootfs", mode: 0o755)
        }
        let made = try MountPoints.create(in: "\(directory)/rootfs")
        try FileSystem.writeAtomically("\(directory)/mount-points", Array(made.joined(separator: "\n").utf8))
        return try mounts(directory, over: layers)
    }

    public func mounts(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount] {
        [SnapshotMount(type: "bind", source: "\(directory)/rootfs", options: ["rbind", "rw"])]
    }

    public func view(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount] {
        try FileSystem.createDirectory("\(directory)/merged", mode: 0o755)
        // The top level is already the whole tree: bound read-only, nothing is copied.
        guard let top = layers.last else {
            try FileSystem.createDirectory("\(directory)/empty", mode: 0o755)
            return [SnapshotMount(type: "bind", source: "\(directory)/empty", options: ["rbind", "ro"])]
        }
        return [SnapshotMount(type: "bind", source: top.path, options: ["rbind", "ro"])]
    }

    /// Mount points this driver added to the container's copy (not the container's changes).
    func addedMountPoints(_ directory: String) -> Set<String> {
        guard let bytes = try? FileSystem.readFile("\(directory)/mount-points") else { return [] }
        return Set(String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init))
    }

    func lower(_ directory: String, _ layers: [Snapshot]) throws -> String {
        if let top = layers.last { return top.path }
        try FileSystem.createDirectory("\(directory)/empty")
        return "\(directory)/empty"
    }

    public func changes(_ directory: String, over layers: [Snapshot]) -> [Change] {
        TreeChanges.compare(lower: (try? lower(directory, layers)) ?? "\(directory)/empty", upper: "\(directory)/rootfs",
                            ignoring: addedMountPoints(directory))
    }

    public func archiveChanges(_ directory: String, over layers: [Snapshot], into writer: TarWriter) throws -> LayerStats {
        try TreeArchiver().archiveChanges(lower: try lower(directory, layers), upper: "\(directory)/rootfs",
                                          ignoring: addedMountPoints(directory), into: writer)
    }

    public func remove(_ chainID: Digest) {
        FileSystem.removeTree(directory(chainID))
    }
}
