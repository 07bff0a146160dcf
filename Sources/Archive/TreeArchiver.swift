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

    /// Archives everything below `root` (not `root` itself) into `writer`.
    @discardableResult
    public func archive(directory root: String, into writer: TarWriter) throws -> LayerStats {
        guard FileSystem.isDirectory(root) else {
            throw StrataError(.invalidArgument, "\(root) is not a directory")
        }
        var state = WalkState()
        try walk(root: root, relative: "", writer: writer, state: &state)
        return state.stats
    }

    private struct WalkState {
        var stats = LayerStats()
        /// (device, inode) of files with several links → the first name archived, for hard links.
        var linkTargets: [InodeKey: String] = [:]
    }

    private struct InodeKey: Hashable { var device: UInt64; var inode: UInt64 }

    private func walk(root: String, relative: String, writer: TarWriter, state: inout WalkState) throws {
        let directory = relative.isEmpty ? root : "\(root)/\(relative)"
        let names = FileSystem.listDirectory(directory).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in names {
            let rel = relative.isEmpty ? name : "\(relative)/\(name)"
            let path = "\(root)/\(rel)"
            var st = stat()
            guard lstat(path, &st) == 0 else { throw StrataError.posix("cannot stat \(path)", errno: errno) }
            var header = TarHeader(name: rel)
            header.mode = UInt32(st.st_mode) & 0o7777
            header.uid = Int(st.st_uid)
            header.gid = Int(st.st_gid)
            header.modificationTime = Int64(st.st_mtim.tv_sec)
            if let clampTime, header.modificationTime > clampTime { header.modificationTime = clampTime }
            header.xattrs = Self.xattrs(path)
            let type = st.st_mode & S_IFMT
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
                    body = try FileReader(path: path)
                }
            case S_IFCHR, S_IFBLK:
                header.kind = type == S_IFCHR ? .characterDevice : .blockDevice
                let dev = UInt64(st.st_rdev)
                header.deviceMajor = UInt32(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff))
                header.deviceMinor = UInt32((dev & 0xff) | ((dev >> 12) & ~0xff))
            case S_IFIFO:
                header.kind = .fifo
            default:
                continue  // sockets have no place in a layer
            }
            try writer.append(header, body: body)
            state.stats.add(header)
            if type == S_IFDIR { try walk(root: root, relative: rel, writer: writer, state: &state) }
        }
    }

    static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { throw StrataError.posix("cannot read link \(path)", errno: errno) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Extended attributes of a path (not following links), as a layer records them.
    static func xattrs(_ path: String) -> [String: [UInt8]] {
        let size = llistxattr(path, nil, 0)
        guard size > 0 else { return [:] }
        var names = [CChar](repeating: 0, count: size)
        let got = llistxattr(path, &names, size)
        guard got > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        var start = 0
        for i in 0..<got where names[i] == 0 {
            let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            // Overlay's own bookkeeping never belongs in a layer.
            if name.hasPrefix("trusted.overlay.") || name.hasPrefix("user.overlay.") { continue }
            let valueSize = lgetxattr(path, name, nil, 0)
            guard valueSize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: valueSize)
            if valueSize > 0, lgetxattr(path, name, &value, valueSize) < 0 { continue }
            result[name] = value
        }
        return result
    }
}
