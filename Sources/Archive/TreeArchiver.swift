import ImageSpec
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// Writes a directory tree as a layer tar, reproducibly: entries sorted by name (byte order),
/// headers normalised (numeric ids only, no user or group names, no atime or ctime), and with
/// `SOURCE_DATE_EPOCH` set, modification times clamped to it — the same tree gives the same digest.
public struct TreeArchiver {
    public var clampTime: Int64?

    public init(clampTime: Int64? = TreeArchiver.sourceDateEpoch) { self.clampTime = clampTime }

    /// `SOURCE_DATE_EPOCH` from the environment, when set to a valid number.
    public static var sourceDateEpoch: Int64? {
        guard let raw = getenv("SOURCE_DATE_EPOCH") else { return nil }
        return Int64(String(cString: raw))
    }

    /// Archives everything below `root` (not `root` itself) into `writer`. Names are read and
    /// written as bytes: a file whose name is not UTF-8 keeps it.
    @discardableResult
    public func archive(directory root: String, into writer: TarWriter) throws -> LayerStats {
        guard FileSystem.isDirectory(root) else {
            throw StrataError(.invalidArgument, "\(root) is not a directory")
        }
        var state = WalkState()
        try walk(root: BytePath(root), relative: BytePath(), writer: writer, state: &state)
        return state.stats
    }

    /// Archives an overlayfs upper directory as an OCI layer: a 0/0 character device becomes a
    /// `.wh.NAME` whiteout, a directory marked opaque gets a `.wh..wh..opq` entry.
    @discardableResult
    public func archiveOverlayUpper(directory root: String, into writer: TarWriter) throws -> LayerStats {
        var state = WalkState()
        state.overlay = true
        try walk(root: BytePath(root), relative: BytePath(), writer: writer, state: &state)
        return state.stats
    }

    /// Archives what changed from `lower` to `upper` (two full trees: the copy driver's image and
    /// container): added and changed entries whole, deleted ones as whiteouts.
    /// `ignoring`: paths made only to be mount points (not written by the container); they are
    /// left out themselves, though anything written below them is not.
    @discardableResult
    public func archiveChanges(lower: String, upper: String, ignoring: Set<String> = [], into writer: TarWriter) throws -> LayerStats {
        var state = WalkState()
        state.ignoring = Set(ignoring.map { BytePath($0) })
        try diffWalk(lower: BytePath(lower), upper: BytePath(upper), relative: BytePath(), writer: writer, state: &state)
        return state.stats
    }

    private struct WalkState {
        var stats = LayerStats()
        /// (device, inode) of files with several links → the first name archived, for hard links.
        var linkTargets: [InodeKey: BytePath] = [:]
        var overlay = false
        var ignoring: Set<BytePath> = []
    }

    private struct InodeKey: Hashable { var device: UInt64; var inode: UInt64 }

    /// A directory's names in byte order (the order tar writers and `sort` use).
    static func sortedNames(_ directory: BytePath) -> [BytePath] {
        FileSystem.entries(of: directory).sorted()
    }

    private func walk(root: BytePath, relative: BytePath, writer: TarWriter, state: inout WalkState) throws {
        for name in Self.sortedNames(root.appending(relative)) {
            try emit(root: root, relative: relative.appending(name), writer: writer, state: &state, recurse: true)
        }
    }

    /// Writes one entry (and, for a directory with `recurse`, everything below it).
    private func emit(root: BytePath, relative rel: BytePath, writer: TarWriter, state: inout WalkState, recurse: Bool) throws {
        let path = root.appending(rel)
        var st = stat()
        guard Glibc.lstat(path.cString, &st) == 0 else { throw StrataError.posix("cannot stat \(path)", errno: errno) }
        let type = st.st_mode & S_IFMT
        if state.overlay, type == S_IFCHR, st.st_rdev == 0 {
            try whiteout(rel, writer: writer, state: &state)
            return
        }
        var header = TarHeader(name: rel)
        header.mode = UInt32(st.st_mode) & 0o7777
        header.uid = Int(st.st_uid)
        header.gid = Int(st.st_gid)
        header.modificationTime = Int64(st.st_mtim.tv_sec)
        if let clampTime, header.modificationTime > clampTime { header.modificationTime = clampTime }
        header.xattrs = Self.xattrs(path)
        var body: FileReader?
        switch type {
        case S_IFDIR:
            header.kind = .directory
        case S_IFLNK:
            header.kind = .symlink
            header.linkName = try Self.readLink(path)
        case S_IFREG:
            let key = InodeKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            if st.st_nlink > 1, let first = state.linkTargets[key] {
                header.kind = .hardLink
                header.linkName = first
            } else {
                if st.st_nlink > 1 { state.linkTargets[key] = rel }
                header.kind = .regular
                header.size = Int64(st.st_size)
                body = try FileReader(path: path, noFollow: true)
            }
        case S_IFCHR, S_IFBLK:
            header.kind = type == S_IFCHR ? .characterDevice : .blockDevice
            let dev = UInt64(st.st_rdev)
            header.deviceMajor = strata_major(dev)
            header.deviceMinor = strata_minor(dev)
        case S_IFIFO:
            header.kind = .fifo
        default:
            return  // sockets have no place in a layer
        }
        try writer.append(header, body: body)
        state.stats.add(header)
        if type == S_IFDIR {
            if state.overlay, Self.isOpaque(path) {
                try writer.append(TarHeader(name: rel.appending(LayerApplier.opaqueMarker), modificationTime: header.modificationTime), body: nil)
                state.stats.add(TarHeader(name: LayerApplier.opaqueMarker))
            }
            if recurse { try walk(root: root, relative: rel, writer: writer, state: &state) }
        }
    }

    /// `.wh.NAME` beside what is gone: the prefix, then the name's own bytes.
    private func whiteout(_ rel: BytePath, writer: TarWriter, state: inout WalkState) throws {
        let header = TarHeader(name: rel.deletingLastComponent.appending(LayerApplier.whiteoutPrefix + rel.lastComponent), mode: 0,
                               modificationTime: 0)
        try writer.append(header, body: nil)
        state.stats.add(header)
    }

    private func diffWalk(lower: BytePath, upper: BytePath, relative: BytePath, writer: TarWriter, state: inout WalkState) throws {
        let upperNames = Self.sortedNames(upper.appending(relative))
        let lowerNames = Set(FileSystem.entries(of: lower.appending(relative)))
        let upperSet = Set(upperNames)
        let all = upperSet.union(lowerNames).sorted()
        for name in all {
            let rel = relative.appending(name)
            let lowerPath = lower.appending(rel), upperPath = upper.appending(rel)
            guard upperSet.contains(name) else {
                try whiteout(rel, writer: writer, state: &state)
                continue
            }
            guard lowerNames.contains(name), let a = Self.lstat(lowerPath), let b = Self.lstat(upperPath) else {
                if state.ignoring.contains(rel) {
                    // lstat, never stat: the container may have put a symlink to the host there.
                    if let st = Self.lstat(upperPath), (st.st_mode & S_IFMT) == S_IFDIR {
                        try diffWalk(lower: lower, upper: upper, relative: rel, writer: writer, state: &state)
                    }
                    continue
                }
                try emit(root: upper, relative: rel, writer: writer, state: &state, recurse: true)
                continue
            }
            let bothDirectories = (a.st_mode & S_IFMT) == S_IFDIR && (b.st_mode & S_IFMT) == S_IFDIR
            if bothDirectories {
                if Self.metadataDiffers(a, b) { try emit(root: upper, relative: rel, writer: writer, state: &state, recurse: false) }
                try diffWalk(lower: lower, upper: upper, relative: rel, writer: writer, state: &state)
            } else if Self.differs(a, b, lower: lowerPath, upper: upperPath) {
                if (a.st_mode & S_IFMT) == S_IFDIR {
                    // A directory replaced by something else: the directory goes first.
                    try whiteout(rel, writer: writer, state: &state)
                }
                try emit(root: upper, relative: rel, writer: writer, state: &state, recurse: true)
            }
        }
    }

    /// lstat of a path given as bytes; nil when there is nothing there.
    public static func lstat(_ path: BytePath) -> stat? {
        var st = stat()
        return Glibc.lstat(path.cString, &st) == 0 ? st : nil
    }

    static func metadataDiffers(_ a: stat, _ b: stat) -> Bool {
        a.st_mode != b.st_mode || a.st_uid != b.st_uid || a.st_gid != b.st_gid
            || a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec
    }

    /// Whether an entry changed between two trees: type, metadata, size, device, link target
    /// (file contents are taken as unchanged when size and nanosecond mtime are, as Docker's naive diff does).
    static func differs(_ a: stat, _ b: stat, lower: BytePath, upper: BytePath) -> Bool {
        if metadataDiffers(a, b) || a.st_size != b.st_size || a.st_rdev != b.st_rdev { return true }
        if (a.st_mode & S_IFMT) == S_IFLNK { return (try? readLink(lower)) != (try? readLink(upper)) }
        return false
    }

    static func isOpaque(_ path: BytePath) -> Bool {
        var value = [UInt8](repeating: 0, count: 4)
        let n = lgetxattr(path.cString, "trusted.overlay.opaque", &value, value.count)
        return n == 1 && value[0] == UInt8(ascii: "y")
    }

    /// A symlink's target, byte for byte.
    static func readLink(_ path: BytePath) throws -> BytePath {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path.cString, &buffer, buffer.count - 1)
        guard n >= 0 else { throw StrataError.posix("cannot read link \(path)", errno: errno) }
        return buffer.withUnsafeBytes { BytePath(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// Extended attributes of a path (not following links), as a layer records them.
    static func xattrs(_ path: BytePath) -> [String: [UInt8]] {
        let size = llistxattr(path.cString, nil, 0)
        guard size > 0 else { return [:] }
        var names = [CChar](repeating: 0, count: size)
        let got = llistxattr(path.cString, &names, size)
        guard got > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        var start = 0
        for i in 0..<got where names[i] == 0 {
            let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            // Overlay's own bookkeeping never belongs in a layer.
            if name.hasPrefix("trusted.overlay.") || name.hasPrefix("user.overlay.") { continue }
            let valueSize = lgetxattr(path.cString, name, nil, 0)
            guard valueSize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: valueSize)
            if valueSize > 0, lgetxattr(path.cString, name, &value, valueSize) < 0 { continue }
            result[name] = value
        }
        return result
    }
}
