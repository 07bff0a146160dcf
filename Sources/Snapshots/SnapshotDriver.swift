import Archive
import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// How unpacked layers become root filesystems: one implementation per storage driver
/// (`OverlayDriver`, `CopyDriver`), in containerd's snapshotter terms. A *committed* snapshot is
/// one unpacked layer, keyed by chain ID and shared by every image above it; a *prepared*
/// directory is a container's read/write layer over snapshots; a *view* is a read-only root.
/// Both are handed back as the mounts that make them.
public protocol SnapshotDriver: AnyObject, Sendable {
    var kind: StorageDriver { get }
    /// `snapshots/<driver>` in the store.
    var root: String { get }
    /// Whether a layer can be unpacked before the one below it exists (overlay keeps each
    /// layer's own files; copy builds each level on the one below). Pulls unpack while they
    /// download only when it can.
    var unpacksLayersIndependently: Bool { get }

    /// The committed snapshot `chainID`, if it is there.
    func snapshot(_ chainID: Digest) -> Snapshot?
    /// Makes the snapshot `chainID` over `below` by running `apply` on a fresh applier over a
    /// private temp tree; publishes it only if `apply` returns. A snapshot another process made
    /// meanwhile wins harmlessly.
    func commit(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> Snapshot
    /// What `commit` publishes, made in a private temp directory and left there (the caller
    /// removes `directory`): `system check --deep` holds a stored snapshot against it.
    func build(chainID: Digest, below: Snapshot?, apply: (LayerApplier) throws -> Void) throws -> (directory: String, tree: String)
    /// A container's read/write layer in `directory` over `layers` (lowest first); returns the
    /// mounts of its root filesystem.
    func prepare(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount]
    /// The mounts of a directory `prepare` made.
    func mounts(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount]
    /// A read-only root of `layers` in `directory`: nothing is copied, nothing can change.
    func view(_ directory: String, over layers: [Snapshot]) throws -> [SnapshotMount]
    /// What the container in `directory` changed, as `diff` lists it.
    func changes(_ directory: String, over layers: [Snapshot]) -> [Change]
    /// The container's changes as one layer tar (`commit`).
    func archiveChanges(_ directory: String, over layers: [Snapshot], into writer: TarWriter) throws -> LayerStats
    /// Removes the committed snapshot `chainID`.
    func remove(_ chainID: Digest)
}

extension SnapshotDriver {
    func directory(_ chainID: Digest) -> String { "\(root)/\(chainID.encoded)" }

    /// The file that says a snapshot was finished: its chain ID, written last.
    var completionMarker: String { "complete" }

    /// Whether the snapshot `chainID` carries its completion marker, naming it.
    public func isComplete(_ chainID: Digest) -> Bool {
        (try? FileSystem.readFile("\(directory(chainID))/\(completionMarker)")) == Array(chainID.description.utf8)
    }

    /// Names in the driver's directory that are neither snapshots nor its own (`l/`): temp trees
    /// of unpacks, and anything else that does not belong.
    public func strayEntries() -> [String] {
        FileSystem.listDirectory(root).filter { name in
            name != "l" && (try? Digest(algorithm: .sha256, encoded: name)) == nil
        }
    }

    /// Every committed snapshot.
    public func list() -> [Digest] {
        FileSystem.listDirectory(root).compactMap { try? Digest(algorithm: .sha256, encoded: $0) }
    }

    /// A private directory for a snapshot being made; renamed into place by `publish`.
    func temporarySnapshotDirectory() throws -> String {
        let temp = "\(root)/tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.createDirectory(temp, mode: 0o700)
        return temp
    }

    /// Runs `body` on a new private snapshot directory, removed again if `body` throws.
    func withTemporarySnapshotDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let temp = try temporarySnapshotDirectory()
        do { return try body(temp) } catch {
            FileSystem.removeTree(temp)
            throw error
        }
    }

    /// Renames a finished temp directory into place: visible whole or not at all. Returns false
    /// when another process published the same snapshot first (the temp tree is then removed).
    func publish(_ temp: String, as chainID: Digest) throws -> Bool {
        try Trace.measure(.commit) { try publishing(temp, as: chainID) }
    }

    private func publishing(_ temp: String, as chainID: Digest) throws -> Bool {
        // The tree is on disk before anything says it is finished: one syncfs for all of its
        // files (their writeback started as they were written).
        try FileSystem.syncFilesystem(holding: temp)
        // The marker is the last thing written before the rename: a snapshot without it was
        // never finished (or was damaged), whatever else its directory holds.
        try FileSystem.writeAtomically("\(temp)/\(completionMarker)", Array(chainID.description.utf8))
        if rename(temp, directory(chainID)) != 0 {
            guard errno == EEXIST || errno == ENOTEMPTY, snapshot(chainID) != nil else {
                throw StrataError.posix("cannot store snapshot \(chainID.short)", errno: errno)
            }
            FileSystem.removeTree(temp)
            return false
        }
        FileSystem.syncDirectory(root)
        return true
    }

    /// Removes this process's own unfinished unpacks (an interrupted command on its way out).
    public func removeTemporaries(ofProcess pid: Int32) {
        for name in FileSystem.listDirectory(root) where name.hasPrefix("tmp-\(pid)-") { FileSystem.removeTree("\(root)/\(name)") }
    }

    /// Removes temp directories of unpacks killed midway (the caller holds the collection lock).
    func removeAbandonedTemporaries() {
        for name in FileSystem.listDirectory(root) where name.hasPrefix("tmp-") { FileSystem.removeTree("\(root)/\(name)") }
    }
}

/// Mount points the runtime needs in every root filesystem, and `/etc/mtab`. Made before the container runs
/// (Docker's "init layer"), so they never show up in `diff` or a committed layer.
enum MountPoints {
    /// In the order they are made: a directory before what is in it.
    static let entries: [(path: String, entry: RootedDirectory.MissingEntry)] = [
        ("dev", .directory), ("proc", .directory), ("sys", .directory), ("etc", .directory),
        ("etc/hostname", .file), ("etc/hosts", .file), ("etc/resolv.conf", .file),
        // Docker's init layer has it: `mount`, `df` and older tools read the mount table there.
        ("etc/mtab", .symlink(to: "/proc/mounts")),
    ]

    /// Creates the mount points missing from `rootfs`; returns those it made. Paths resolve inside
    /// the root (an image's /etc may be a symlink: it must never lead to the host), and the times
    /// of the directories they are made in are kept, so they do not count as changes.
    static func create(in rootfs: String) throws -> [String] {
        let root = try RootedDirectory(path: rootfs)
        var made: [String] = []
        for (path, entry) in entries where try root.createIfMissing(path, as: entry) {
            made.append(path)
        }
        return made
    }
}
