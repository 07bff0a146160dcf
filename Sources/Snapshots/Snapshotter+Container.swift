import Archive
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// A container's read/write layer, and read-only views, on disk: `directory/merged` is where
/// the root filesystem is mounted, whatever the driver.
extension Snapshotter {
    /// Creates the container's read/write layer over the image's snapshots.
    public func createContainerLayer(in directory: String, over layers: [Snapshot]) throws {
        _ = try driver.prepare(directory, over: layers)
    }

    /// The root filesystem path a runtime uses.
    public func rootfs(of directory: String) -> String { "\(directory)/merged" }

    /// One user of a mounted root filesystem (a run, an export, a build step reading an image).
    /// Each holds a shared lock on the directory's `mount.lock`; the last one out — the one that
    /// can take it exclusively — unmounts. So an export never unmounts a root a run is using.
    public final class MountUse: @unchecked Sendable {
        public let rootfs: String
        let directory: String
        let fd: Int32
        /// A view's directory goes with its last user.
        let removeWhenReleased: Bool
        private var released = false

        init(directory: String, rootfs: String, fd: Int32, removeWhenReleased: Bool) {
            self.directory = directory
            self.rootfs = rootfs
            self.fd = fd
            self.removeWhenReleased = removeWhenReleased
        }

        public func release() {
            guard !released else { return }
            released = true
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                Snapshotter.serialized(directory) { SnapshotMount.unmount("\(directory)/merged") }
                if removeWhenReleased { FileSystem.removeTree(directory) }
            }
            close(fd)
        }

        deinit { release() }
    }

    /// Mounts a container's root filesystem (if it is not mounted yet) and registers a user of it.
    public func use(_ directory: String, over layers: [Snapshot]) throws -> MountUse {
        try use(directory, removeWhenReleased: false) { try driver.mounts(directory, over: layers) }
    }

    /// A read-only root filesystem of `layers` in a new `directory`, removed when released:
    /// for reading an image (COPY --from, squash) without a container's copy or upper layer.
    public func view(_ directory: String, over layers: [Snapshot]) throws -> MountUse {
        try FileSystem.createDirectory(directory, mode: 0o700)
        do {
            return try use(directory, removeWhenReleased: true) { try driver.view(directory, over: layers) }
        } catch {
            FileSystem.removeTree(directory)
            throw error
        }
    }

    private func use(_ directory: String, removeWhenReleased: Bool, mounts: () throws -> [SnapshotMount]) throws -> MountUse {
        let fd = open("\(directory)/mount.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(directory)/mount.lock", errno: errno) }
        flock(fd, LOCK_SH)
        do {
            let merged = rootfs(of: directory)
            try Self.serialized(directory) {
                guard !SnapshotMount.isMountPoint(merged) else { return }
                try FileSystem.createDirectory(merged, mode: 0o755)
                for mount in try mounts() { try mount.mount(at: merged) }
            }
            return MountUse(directory: directory, rootfs: merged, fd: fd, removeWhenReleased: removeWhenReleased)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Runs `body` while holding the directory's mount-serialising lock (mount and unmount never interleave).
    static func serialized<T>(_ directory: String, _ body: () throws -> T) rethrows -> T {
        let fd = open("\(directory)/mount.serial", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { flock(fd, LOCK_EX) }
        defer { if fd >= 0 { close(fd) } }
        return try body()
    }

    /// Unmounts the root filesystem if mounted.
    public func unmount(_ directory: String) {
        SnapshotMount.unmount(rootfs(of: directory))
    }

    /// Removes the container's layer (unmounting it first).
    public func removeContainerLayer(_ directory: String) {
        unmount(directory)
        FileSystem.removeTree(directory)
    }

    /// What the container changed, as `diff` lists it.
    public func changes(_ directory: String, over layers: [Snapshot]) -> [Change] {
        driver.changes(directory, over: layers)
    }

    /// Writes the container's changes as one layer tar (for `commit`).
    @discardableResult
    public func archiveChanges(_ directory: String, over layers: [Snapshot], into writer: TarWriter) throws -> LayerStats {
        try driver.archiveChanges(directory, over: layers, into: writer)
    }
}
