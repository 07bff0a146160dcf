import Archive
import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// Kernel overlayfs: `<chain>/diff` holds one layer in overlay form (whiteouts as 0/0 character
/// devices, opaque directories as `trusted.overlay.opaque=y`) and `l/<12 hex>` links to it, so
/// mount options name lower directories briefly: 127 layers fit the one-page option limit. A
/// container is one thin `upper` directory over an `init` layer and the image's layers.
public final class OverlayDriver: SnapshotDriver {
    public let kind = StorageDriver.overlay
    public let root: String
    public var unpacksLayersIndependently: Bool { true }
    static let linkLength = 12

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
        try FileSystem.createDirectory("\(root)/l", mode: 0o700)
    }

    public func snapshot(_ chainID: Digest) -> Snapshot? {
        let dir = directory(chainID)
        guard FileSystem.isDirectory("\(dir)/diff"), let bytes = try? FileSystem.readFile("\(dir)/link") else { return nil }
        let link = String(decoding: bytes, as: UTF8.self)
        // A crash between the rename and the link leaves the link to be made.
        if TreeArchiver.lstat("\(root)/l/\(link)") == nil { symlink("../\(chainID.encoded)/diff", "\(root)/l/\(link)") }
        return Snapshot(chainID: chainID, path: "\(dir)/diff", link: link)
    }

    public func build(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> (directory: String, tree: String) {
        try withTemporarySnapshotDirectory { temp in
            try FileSystem.createDirectory("\(temp)/diff", mode: 0o755)
            try apply(try LayerApplier(directory: "\(temp)/diff", mode: .overlayDiff))
            return (temp, "\(temp)/diff")
        }
    }

    public func commit(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> Snapshot {
        let temp = try build(chainID: chainID, below: below, apply: apply).directory
        do {
            let link = shortLink(for: chainID)
            try FileSystem.writeAtomically("\(temp)/link", Array(link.utf8))
            guard try publish(temp, as: chainID) else { return snapshot(chainID)! }
            symlink("../\(chainID.encoded)/diff", "\(root)/l/\(link)")
            return Snapshot(chainID: chainID, path: "\(directory(chainID))/diff", link: link)
        } catch {
            FileSystem.removeTree(temp)
            throw error
        }
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

    public func prepare(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount] {
        for dir in ["upper", "work", "merged", "init"] { try FileSystem.createDirectory("\(directory)/\(dir)", mode: 0o755) }
        // The init layer sits between the image and the container's upper directory.
        _ = try MountPoints.create(in: "\(directory)/init")
        return try mounts(directory, over: layers)
    }

    public func mounts(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount] {
        // Lower directories by their short links, relative to the snapshot root, topmost first.
        let lower = (["\(directory)/init"] + layers.reversed().map { "l/\($0.link!)" }).joined(separator: ":")
        return [SnapshotMount(type: "overlay", source: "overlay",
                              options: ["lowerdir=\(lower)", "upperdir=\(directory)/upper", "workdir=\(directory)/work",
                                        "index=off", "redirect_dir=off", "metacopy=off"],
                              workingDirectory: root)]
    }

    public func view(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount] {
        for dir in ["merged", "empty"] { try FileSystem.createDirectory("\(directory)/\(dir)", mode: 0o755) }
        // Without an upper directory overlayfs wants two lower ones: an empty one below the layers
        // keeps whiteouts meaning "deleted" even for a one-layer image.
        let lower = (layers.reversed().map { "l/\($0.link!)" } + ["\(directory)/empty"]).joined(separator: ":")
        guard !layers.isEmpty else { return [SnapshotMount(type: "bind", source: "\(directory)/empty", options: ["rbind", "ro"])] }
        return [SnapshotMount(type: "overlay", source: "overlay", options: ["lowerdir=\(lower)", "ro"], workingDirectory: root)]
    }

    public func changes(_ directory: String, over layers: [Snapshot]) -> [Change] {
        TreeChanges.overlay(upper: "\(directory)/upper") { path in
            for layer in layers.reversed() {
                if let st = TreeArchiver.lstat("\(layer.path)/\(path)") {
                    return !((st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0)
                }
            }
            return false
        }
    }

    public func archiveChanges(_ directory: String, over layers: [Snapshot], into writer: TarWriter) throws -> LayerStats {
        // The upper directory *is* the change set: whiteouts go back to `.wh.` entries.
        try TreeArchiver().archiveOverlayUpper(directory: "\(directory)/upper", into: writer)
    }

    public func remove(_ chainID: Digest) {
        if let link = snapshot(chainID)?.link { unlink("\(root)/l/\(link)") }
        FileSystem.removeTree(directory(chainID))
    }

    /// Whether this kernel and filesystem can mount overlay here (a test mount).
    static func works(in parent: String) -> Bool {
        let probe = "\(parent)/probe-\(getpid())"
        defer { FileSystem.removeTree(probe) }
        for dir in ["lower", "upper", "work", "merged"] {
            guard (try? FileSystem.createDirectory("\(probe)/\(dir)")) != nil else { return false }
        }
        let options = "lowerdir=\(probe)/lower,upperdir=\(probe)/upper,workdir=\(probe)/work"
        guard Glibc.mount("overlay", "\(probe)/merged", "overlay", 0, options) == 0 else { return false }
        umount2("\(probe)/merged", Int32(MNT_DETACH))
        return true
    }
}
