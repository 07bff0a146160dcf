import CLinux
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// Applies layer tars to a directory, safely.
///
/// Two forms, for the two storage drivers:
/// - `.flatten`: the directory is the merged tree; whiteouts delete what lower layers put there.
/// - `.overlayDiff`: the directory holds this layer alone, as an overlayfs lower layer: a whiteout
///   becomes a 0/0 character device, an opaque directory gets `trusted.overlay.opaque=y`.
///
/// Nothing outside the directory is ever created, linked, changed or deleted: paths resolve
/// through `RootedDirectory` (`openat2` with `RESOLVE_IN_ROOT`), entries that climb out with `..`
/// are refused, and the last component is never followed.
public final class LayerApplier {
    public enum Mode: Sendable { case flatten, overlayDiff }

    public let mode: Mode
    let root: RootedDirectory
    /// Whether to apply ownership and create device nodes (root only).
    let privileged: Bool
    /// Paths this layer created, so an opaque marker spares them (flatten mode).
    private var created: Set<BytePath> = []
    /// Directories this layer made setgid: what is created in them takes their group, so the
    /// owner must be set even when it is ours.
    private var setgidDirectories: Set<BytePath> = []
    private let ownUID = geteuid(), ownGID = getegid()
    /// Directory times are set last: creating children changes them.
    private var directoryTimes: [(BytePath, timespec)] = []
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)

    public static let whiteoutPrefix: BytePath = ".wh."
    public static let opaqueMarker: BytePath = ".wh..wh..opq"

    public init(directory: String, mode: Mode, privileged: Bool = geteuid() == 0) throws {
        self.mode = mode
        self.privileged = privileged
        root = try RootedDirectory(path: directory)
    }

    deinit { buffer.deallocate() }

    /// Applies one layer, streamed from `tar`. Returns what it held.
    @discardableResult
    public func apply(_ tar: TarReader) throws -> LayerStats {
        var stats = LayerStats()
        created.removeAll()
        directoryTimes.removeAll()
        while let header = try tar.next() {
            stats.add(header)
            try apply(header, body: tar)
        }
        for (key, time) in directoryTimes.reversed() {
            guard let dir = try? root.parent(of: key, create: false) else { continue }
            var times = [time, time]
            utimensat(dir, key.lastComponent.cString, &times, AT_SYMLINK_NOFOLLOW)
        }
        root.invalidate()
        return stats
    }

    /// Applies a layer blob: checks the compressed digest and the diff ID while streaming, and
    /// fails (leaving the caller to discard the directory) if either does not match.
    @discardableResult
    public func apply(blob: ByteReader, compression: Compression, digest: Digest?, diffID: Digest?) throws -> LayerStats {
        // The compressed bytes are hashed only when asked: a caller teeing them into an ingest
        // has that hash already. An uncompressed layer's digest is its diff ID: one hash serves both.
        let compressed = compression == .none || digest == nil ? nil : DigestingReader(blob)
        // Three stages over two cores: reading (with whatever the source does per byte, such as
        // writing an ingest) runs ahead on one thread, inflating on another, and this one hashes
        // the tar and makes files. Inflate and the tar's hash are the two big costs; this splits them.
        let reading = PipelinedReader(compressed ?? blob)
        defer { reading.cancel() }
        let inflating = compression == .none ? nil : PipelinedReader(Trace.reader(try Codecs.decompressing(reading, as: compression), .inflate))
        defer { inflating?.cancel() }
        let uncompressed = DigestingReader(inflating ?? reading)
        var stats = try Trace.measure(.unpack) { try apply(TarReader(uncompressed)) }
        try uncompressed.copy(to: NullWriter())  // what follows the end-of-archive blocks counts too
        // The inflater has returned its end: its thread is done with `reading`, whose rest
        // (a gzip trailer's padding, say) still belongs to the blob's digest.
        if inflating != nil { try reading.copy(to: NullWriter()) }
        if let digest {
            let blobDigest = compressed?.digest() ?? uncompressed.digest()
            guard blobDigest == digest else {
                throw StrataError(.digestMismatch, "layer digest mismatch: expected \(digest), got \(blobDigest)")
            }
        }
        if let diffID, uncompressed.digest() != diffID {
            throw StrataError(.digestMismatch, "layer diff ID mismatch: expected \(diffID), got \(uncompressed.digest())")
        }
        stats.tarSize = uncompressed.count
        return stats
    }

    private func apply(_ header: TarHeader, body: TarReader) throws {
        // Names stay bytes all the way to the syscalls: a file called caf\xE9 is made as caf\xE9.
        let key = try RootedDirectory.clean(header.name)
        guard !key.isEmpty else { return }  // the root itself: keep its own metadata
        let base = key.lastComponent

        if base.hasPrefix(Self.whiteoutPrefix) {
            try applyWhiteout(key, base: base)
            return
        }
        let dir: Int32
        do {
            dir = try root.parent(of: key, create: true)
        } catch where mode == .overlayDiff {
            // An entry below a path this layer whited out: the whiteout becomes an opaque directory.
            try replaceWhiteoutParents(key)
            dir = try root.parent(of: key, create: true)
        }
        var replacesWhiteout = false
        if let existing = RootedDirectory.stat(dir, base) {
            let isDir = (existing.st_mode & S_IFMT) == S_IFDIR
            replacesWhiteout = mode == .overlayDiff && (existing.st_mode & S_IFMT) == S_IFCHR && existing.st_rdev == 0
            if !(isDir && header.kind == .directory) {
                // A later entry replaces an earlier one, whatever either's type.
                // The cached parent is `dir` itself, never inside what is removed: it stays valid.
                try RootedDirectory.removeAll(dir, base)
            }
        }
        created.insert(key)
        let mtime = timespec(tv_sec: Int(header.modificationTime), tv_nsec: Int(header.modificationNanoseconds))

        switch header.kind {
        case .regular:
            let file = openat(dir, base.cString, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard file >= 0 else { throw StrataError.posix("cannot create \(key)", errno: errno) }
            defer { close(file) }
            var left = header.size
            var unsubmitted = 0
            while left > 0 {
                let n = try body.readBody(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), left))]))
                guard n > 0 else { throw StrataError(.invalidArchive, "invalid tar: truncated body of \"\(header.name)\"") }
                var offset = 0
                while offset < n {
                    let w = write(file, buffer.baseAddress! + offset, n - offset)
                    if w < 0 { if errno == EINTR { continue }; throw StrataError.posix("cannot write \(key)", errno: errno) }
                    offset += w
                }
                left -= Int64(n)
                // Writeback starts while the rest arrives, so the snapshot's one sync at the end
                // finds little left to write.
                unsubmitted += n
                if unsubmitted >= FileWriter.writeBehindInterval {
                    _ = strata_start_writeback(file)
                    unsubmitted = 0
                }
            }
            try finish(fd: file, header: header, key: key, mtime: mtime)
        case .directory:
            if mkdirat(dir, base.cString, 0o700) != 0, errno != EEXIST { throw StrataError.posix("cannot create directory \(key)", errno: errno) }
            let d = openat(dir, base.cString, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard d >= 0 else { throw StrataError.posix("cannot open directory \(key)", errno: errno) }
            defer { close(d) }
            if header.mode & 0o2000 != 0 { setgidDirectories.insert(key) }  // S_ISGID
            try finish(fd: d, header: header, key: key, mtime: nil)
            if replacesWhiteout {
                // Deleted and made again in one layer: nothing of the lower directory shows through.
                guard fsetxattr(d, "trusted.overlay.opaque", "y", 1, 0) == 0 else {
                    throw StrataError.posix("cannot mark \(key) opaque", errno: errno)
                }
            }
            directoryTimes.append((key, mtime))
        case .symlink:
            guard symlinkat(header.linkName.cString, dir, base.cString) == 0 else { throw StrataError.posix("cannot create symlink \(key)", errno: errno) }
            if privileged { fchownat(dir, base.cString, uid_t(header.uid), gid_t(header.gid), AT_SYMLINK_NOFOLLOW) }
            var times = [mtime, mtime]
            utimensat(dir, base.cString, &times, AT_SYMLINK_NOFOLLOW)
        case .hardLink:
            let target = try RootedDirectory.clean(header.linkName, entry: header.name)
            guard !target.isEmpty else {
                throw StrataError(.invalidArchive, "refusing hard link \"\(header.name)\": it points at the root")
            }
            let targetDir = try root.openDirectory(target.deletingLastComponent, create: false)
            defer { close(targetDir) }
            // linkat without AT_SYMLINK_FOLLOW links the target itself, never what it points to.
            guard linkat(targetDir, target.lastComponent.cString, dir, base.cString, 0) == 0 else {
                throw StrataError.posix("cannot hard-link \(key) to \(header.linkName)", errno: errno)
            }
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = header.kind == .fifo ? S_IFIFO : header.kind == .characterDevice ? S_IFCHR : S_IFBLK
            if header.kind != .fifo, !privileged { return }  // only root can make device nodes
            let dev = header.kind == .fifo ? 0 : dev_t(strata_makedev(header.deviceMajor, header.deviceMinor))
            guard mknodat(dir, base.cString, type | 0o600, dev) == 0 else { throw StrataError.posix("cannot create \(key)", errno: errno) }
            if privileged { fchownat(dir, base.cString, uid_t(header.uid), gid_t(header.gid), AT_SYMLINK_NOFOLLOW) }
            fchmodat(dir, base.cString, mode_t(header.mode), 0)
            var times = [mtime, mtime]
            utimensat(dir, base.cString, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    /// Owner, then mode (chown clears setuid), xattrs and times, on an open descriptor.
    private func finish(fd: Int32, header: TarHeader, key: BytePath, mtime: timespec?) throws {
        // A file this call created in a fresh snapshot directory is ours already: chown only when
        // the tar names another owner, or its directory is setgid and handed down its group.
        // Most layers are root's: one syscall per file saved. (Flattening onto an existing tree
        // may meet a setgid directory from below: it always sets the owner.)
        let alreadyOwned = mode == .overlayDiff && header.kind == .regular
            && uid_t(header.uid) == ownUID && gid_t(header.gid) == ownGID
            && (setgidDirectories.isEmpty || !setgidDirectories.contains(key.deletingLastComponent))
        if privileged, !alreadyOwned, fchown(fd, uid_t(header.uid), gid_t(header.gid)) != 0 {
            throw StrataError.posix("cannot set the owner of \(key)", errno: errno)
        }
        guard fchmod(fd, mode_t(header.mode & 0o7777)) == 0 else { throw StrataError.posix("cannot set the mode of \(key)", errno: errno) }
        for (name, value) in header.xattrs.sorted(by: { $0.key < $1.key }) {
            // Overlay's private attributes come only from whiteout conversion, never from a tar.
            if name.hasPrefix("trusted.overlay.") { continue }
            let rc = value.withUnsafeBytes { fsetxattr(fd, name, $0.baseAddress, $0.count, 0) }
            if rc != 0, errno != ENOTSUP, !(errno == EPERM && !privileged) {
                throw StrataError.posix("cannot set extended attribute \(name) on \(key)", errno: errno)
            }
        }
        if let mtime {
            var times = [mtime, mtime]
            futimens(fd, &times)
        }
    }

    /// Turns whiteout devices on the way to `key` into opaque directories (overlay form).
    private func replaceWhiteoutParents(_ key: BytePath) throws {
        for end in key.indices where key[end] == UInt8(ascii: "/") {
            let prefix = BytePath(bytes: key[..<end])
            let parent = try root.parent(of: prefix, create: true)
            let name = prefix.lastComponent
            guard let st = RootedDirectory.stat(parent, name), (st.st_mode & S_IFMT) == S_IFCHR, st.st_rdev == 0 else { continue }
            guard unlinkat(parent, name.cString, 0) == 0, mkdirat(parent, name.cString, 0o755) == 0 else {
                throw StrataError.posix("cannot replace whiteout \(prefix)", errno: errno)
            }
            let d = openat(parent, name.cString, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard d >= 0 else { throw StrataError.posix("cannot open \(prefix)", errno: errno) }
            defer { close(d) }
            guard fsetxattr(d, "trusted.overlay.opaque", "y", 1, 0) == 0 else {
                throw StrataError.posix("cannot mark \(prefix) opaque", errno: errno)
            }
            root.invalidate()
        }
    }

    /// A `.wh.` entry: `base` is the last component of `key`, and names what it hides (bytes
    /// after the prefix, whatever their encoding) or is the opaque marker.
    private func applyWhiteout(_ key: BytePath, base: BytePath) throws {
        let dir: Int32
        if mode == .overlayDiff {
            dir = try root.parent(of: key, create: true)
        } else {
            // Flattening: a whiteout in a directory that is not there has nothing to remove.
            guard let existing = try? root.parent(of: key, create: false) else { return }
            dir = existing
        }
        let directory = key.deletingLastComponent
        if base == Self.opaqueMarker {
            switch mode {
            case .flatten:
                // Everything lower layers put in this directory goes; what this layer added stays.
                for name in RootedDirectory.list(dir) where !created.contains(directory.appending(name)) {
                    try RootedDirectory.removeAll(dir, name)
                }
            case .overlayDiff:
                let d = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard d >= 0 else { throw StrataError.posix("cannot open \(directory)", errno: errno) }
                defer { close(d) }
                guard fsetxattr(d, "trusted.overlay.opaque", "y", 1, 0) == 0 else {
                    throw StrataError.posix("cannot mark \(directory) opaque", errno: errno)
                }
            }
            return
        }
        let target = BytePath(bytes: base.dropFirst(Self.whiteoutPrefix.count))
        guard !target.isEmpty, target != ".", target != ".." else {
            throw StrataError(.invalidArchive, "refusing whiteout \"\(key)\": it names no file")
        }
        // A whiteout hides only what lower layers put there, never this layer's own entries (OCI).
        if created.contains(directory.appending(target)) { return }
        try RootedDirectory.removeAll(dir, target)
        if mode == .overlayDiff {
            guard mknodat(dir, target.cString, S_IFCHR, 0) == 0 else {
                throw StrataError.posix("cannot create whiteout for \(target)", errno: errno)
            }
        }
    }
}
