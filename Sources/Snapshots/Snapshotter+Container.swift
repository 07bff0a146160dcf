import Archive
import CLinux
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// A container's read/write layer on disk: `upper`, `work` and `merged` for overlay; a full
/// `rootfs` copy for the copy driver.
extension Snapshotter {
    /// Mount points the runtime needs in every root filesystem. Made before the container runs
    /// (Docker's "init layer"), so they never show up in `diff` or a committed layer.
    static let mountPointDirectories = ["dev", "proc", "sys", "etc"]
    static let mountPointFiles = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]

    /// Creates the mount points missing from `rootfs`; returns those it made. Paths resolve inside
    /// the root (an image's /etc may be a symlink: it must never lead to the host), and the times
    /// of the directories they are made in are kept, so they do not count as changes.
    static func createMountPoints(in rootfs: String) throws -> [String] {
        let root = try RootedDirectory(path: rootfs)
        var made: [String] = []
        for path in mountPointDirectories + mountPointFiles {
            if try root.createIfMissing(path, directory: mountPointDirectories.contains(path)) { made.append(path) }
        }
        return made
    }

    /// Creates the container's directories (and, for the copy driver, its copy of the image).
    public func createContainerLayer(in directory: String, over layers: [Snapshot]) throws {
        switch driver {
        case .overlay:
            for dir in ["upper", "work", "merged", "init"] { try FileSystem.createDirectory("\(directory)/\(dir)", mode: 0o755) }
            // The init layer sits between the image and the container's upper directory.
            _ = try Self.createMountPoints(in: "\(directory)/init")
        case .copy:
            if let top = layers.last {
                try Self.copyTree(top.path, to: "\(directory)/rootfs")
            } else {
                try FileSystem.createDirectory("\(directory)/rootfs", mode: 0o755)
            }
            let made = try Self.createMountPoints(in: "\(directory)/rootfs")
            try FileSystem.writeAtomically("\(directory)/mount-points", Array(made.joined(separator: "\n").utf8))
        }
    }

    /// Mount points the copy driver added to the container's copy (not the container's changes).
    func addedMountPoints(_ directory: String) -> Set<String> {
        guard let bytes = try? FileSystem.readFile("\(directory)/mount-points") else { return [] }
        return Set(String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init))
    }

    /// The root filesystem path a runtime uses.
    public func rootfs(of directory: String) -> String {
        driver == .overlay ? "\(directory)/merged" : "\(directory)/rootfs"
    }

    /// Mounts the union (overlay) and returns the root filesystem path. Idempotent.
    @discardableResult
    public func mount(_ directory: String, over layers: [Snapshot]) throws -> String {
        guard driver == .overlay else { return rootfs(of: directory) }
        let merged = "\(directory)/merged"
        if Self.isMountPoint(merged) { return merged }
        // Lower directories by their short links, relative to the snapshot root, topmost first:
        // 127 layers stay far below the one-page limit of mount options.
        let lower = (["\(directory)/init"] + layers.reversed().map { "l/\($0.link!)" }).joined(separator: ":")
        let options = "lowerdir=\(lower),upperdir=\(directory)/upper,workdir=\(directory)/work,index=off,redirect_dir=off,metacopy=off"
        guard options.utf8.count < 4000 else {
            throw StrataError(.invalidArgument, "too many layers (\(layers.count)) to mount: squash the image into fewer layers")
        }
        let cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if cwd >= 0 { fchdir(cwd); close(cwd) } }
        guard chdir(root) == 0 else { throw StrataError.posix("cannot enter \(root)", errno: errno) }
        guard Glibc.mount("overlay", merged, "overlay", 0, options) == 0 else {
            throw StrataError.posix("cannot mount the container filesystem (overlay, \(layers.count) layers)", errno: errno)
        }
        return merged
    }

    /// One user of a container's mounted root filesystem (a run, an export). Each holds a shared
    /// lock on the container's `mount.lock`; the last one out — the one that can take it
    /// exclusively — unmounts. So an export never unmounts a root a run is using, nor the reverse.
    public final class MountUse {
        public let rootfs: String
        let directory: String
        let fd: Int32
        let snapshotter: Snapshotter
        private var released = false

        init(snapshotter: Snapshotter, directory: String, rootfs: String, fd: Int32) {
            self.snapshotter = snapshotter
            self.directory = directory
            self.rootfs = rootfs
            self.fd = fd
        }

        public func release() {
            guard !released else { return }
            released = true
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                Snapshotter.serialized(directory) { snapshotter.unmount(directory) }
            }
            close(fd)
        }

        deinit { release() }
    }

    /// Mounts (if needed) and registers a user of the container's root filesystem.
    public func use(_ directory: String, over layers: [Snapshot]) throws -> MountUse {
        let fd = open("\(directory)/mount.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(directory)/mount.lock", errno: errno) }
        flock(fd, LOCK_SH)
        do {
            let rootfs = try Self.serialized(directory) { try mount(directory, over: layers) }
            return MountUse(snapshotter: self, directory: directory, rootfs: rootfs, fd: fd)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Runs `body` while holding the container's mount-serialising lock (mount and unmount never interleave).
    static func serialized<T>(_ directory: String, _ body: () throws -> T) rethrows -> T {
        let fd = open("\(directory)/mount.serial", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { flock(fd, LOCK_EX) }
        defer { if fd >= 0 { close(fd) } }
        return try body()
    }

    /// Unmounts the union if mounted.
    public func unmount(_ directory: String) {
        guard driver == .overlay else { return }
        let merged = "\(directory)/merged"
        if Self.isMountPoint(merged) { umount2(merged, Int32(MNT_DETACH)) }
    }

    /// Removes the container's layer (unmounting it first).
    public func removeContainerLayer(_ directory: String) {
        unmount(directory)
        FileSystem.removeTree(directory)
    }

    /// What the container changed, as `diff` lists it.
    public func changes(_ directory: String, over layers: [Snapshot]) -> [Change] {
        switch driver {
        case .overlay:
            return TreeChanges.overlay(upper: "\(directory)/upper") { path in
                for layer in layers.reversed() {
                    if let st = TreeArchiver.lstat("\(layer.path)/\(path)") {
                        return !((st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0)
                    }
                }
                return false
            }
        case .copy:
            return TreeChanges.compare(lower: layers.last?.path ?? "\(directory)/empty", upper: "\(directory)/rootfs",
                                       ignoring: addedMountPoints(directory))
        }
    }

    /// Writes the container's changes as one layer tar (for `commit`): the upper directory with
    /// whiteouts converted (overlay), or the comparison of the copy with the image (copy).
    @discardableResult
    public func archiveChanges(_ directory: String, over layers: [Snapshot], into writer: TarWriter) throws -> LayerStats {
        let archiver = TreeArchiver()
        switch driver {
        case .overlay:
            return try archiver.archiveOverlayUpper(directory: "\(directory)/upper", into: writer)
        case .copy:
            let lower = layers.last?.path ?? "\(directory)/empty"
            try FileSystem.createDirectory(lower)
            return try archiver.archiveChanges(lower: lower, upper: "\(directory)/rootfs", ignoring: addedMountPoints(directory), into: writer)
        }
    }

    static func isMountPoint(_ path: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(path, &a) == 0, stat("\(path)/..", &b) == 0 else { return false }
        return a.st_dev != b.st_dev
    }
}
