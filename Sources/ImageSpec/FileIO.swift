import CLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file through a raw descriptor (no Foundation buffering on the hot path).
public final class FileReader: ByteReader {
    public let fd: Int32
    public let path: String
    private let owns: Bool

    /// `noFollow`: refuse a symlink in the last component (a tree that may change underfoot).
    public convenience init(path: String, noFollow: Bool = false) throws {
        try self.init(path: BytePath(path), noFollow: noFollow)
    }

    /// Opens a path given as bytes (a file of a tree being archived, whose name need not be UTF-8).
    public init(path: BytePath, noFollow: Bool = false) throws {
        let fd = open(path.cString, O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0))
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
        self.fd = fd
        self.path = path.description
        owns = true
    }

    /// Wraps a descriptor; the caller keeps ownership of it (stdin, say) unless `owned`.
    public init(fd: Int32, path: String, owned: Bool = false) {
        self.fd = fd
        self.path = path
        owns = owned
    }

    deinit { if owns { close(fd) } }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw StrataError.posix("cannot read \(path)", errno: errno)
        }
    }

    public var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }
}

/// Writes to a raw descriptor, coalescing small writes into large ones.
public final class FileWriter: ByteWriter {
    public let fd: Int32
    public let path: String
    private let owns: Bool
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Start the kernel's writeback every this many bytes (`sync_file_range`), so a final
    /// `sync()` of a large file waits for the last stretch only, not for all of it.
    public var writeBehind: Int?
    private var unsubmitted = 0
    /// The stretch after which large files' writeback is started (blobs, uploads, unpacked files):
    /// enough to keep the disk busy, little enough that the final sync is short.
    public static let writeBehindInterval = 8 << 20

    /// Creates (or truncates) `path` with `mode`.
    public init(path: String, mode: mode_t = 0o644, exclusive: Bool = false) throws {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let fd = open(path, flags, mode)
        guard fd >= 0 else { throw StrataError.posix("cannot create \(path)", errno: errno) }
        self.fd = fd
        self.path = path
        owns = true
        buffer = .allocate(byteCount: 1 << 20, alignment: 64)
    }

    public init(fd: Int32, path: String, owned: Bool = false) {
        self.fd = fd
        self.path = path
        owns = owned
        buffer = .allocate(byteCount: 1 << 20, alignment: 64)
    }

    deinit {
        if owns { close(fd) }
        buffer.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if used + bytes.count <= buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[used..<used + bytes.count]).copyMemory(from: bytes)
            used += bytes.count
            return
        }
        try flush()
        if bytes.count >= buffer.count / 2 {
            try writeFully(bytes)
        } else {
            UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count]).copyMemory(from: bytes)
            used = bytes.count
        }
    }

    public func finish() throws { try flush() }

    public func flush() throws {
        guard used > 0 else { return }
        try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<used]))
        used = 0
    }

    /// Flushes and forces the data to stable storage.
    public func sync() throws {
        try flush()
        guard Trace.measure(.fsync, { fsync(fd) }) == 0 else { throw StrataError.posix("cannot sync \(path)", errno: errno) }
    }

    /// Writes all of `bytes` to `fd`, through short writes and EINTR; returns 0, or the errno
    /// that stopped it (EPIPE when the reader went away). `toSocket`: through send(2) with
    /// MSG_NOSIGNAL, so that a peer gone away is EPIPE, not SIGPIPE.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, toSocket: Bool = false) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let n = toSocket
                ? Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                : Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0, errno == EINTR { continue }
            if n < 0 { return errno }
            if n == 0 { return EIO }
            offset += n
        }
        return 0
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        let error = Self.writeAll(fd, bytes)
        guard error == 0 else { throw StrataError.posix("cannot write \(path)", errno: error) }
        if let writeBehind {
            unsubmitted += bytes.count
            if unsubmitted >= writeBehind {
                // Initiates writeback of the dirty pages and returns; an error here only loses the head start.
                _ = strata_start_writeback(fd)
                unsubmitted = 0
            }
        }
    }
}

/// Small POSIX helpers shared by the stores.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `path` made absolute against the working directory, with `.` and `..` components and
    /// doubled slashes removed (lexically: links are not resolved).
    public static func absolutePath(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "/"
            full = cwd + "/" + path
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `mkdir -p`.
    public static func createDirectory(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = PathString(path).deletingLastComponent
        if !parent.isEmpty, parent != path { try createDirectory(parent, mode: mode) }
        if mkdir(path, mode) != 0, errno != EEXIST {
            throw StrataError.posix("cannot create directory \(path)", errno: errno)
        }
    }

    /// Makes a rename or create durable by syncing the directory that holds it.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { Trace.measure(.fsync) { _ = fsync(fd) }; close(fd) }
    }

    /// Flushes everything written to the filesystem that holds `path`, in one call: a whole
    /// unpacked tree made durable at once, instead of a fsync per file.
    public static func syncFilesystem(holding path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        guard Trace.measure(.fsync, { strata_syncfs(fd) }) == 0 else { throw StrataError.posix("cannot sync the filesystem of \(path)", errno: errno) }
    }

    /// Flushes a file's bytes to disk (before a rename makes it visible).
    public static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        guard Trace.measure(.fsync, { fsync(fd) }) == 0 else { throw StrataError.posix("cannot sync \(path)", errno: errno) }
    }

    public static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        try FileReader(path: path).readAll(limit: limit)
    }

    /// Writes a file through a temp file beside it, synced and renamed into place only when `body`
    /// finished: a failed or interrupted write leaves no half-written file, and no old one replaced.
    public static func writeAtomically(_ path: String, mode: mode_t = 0o644, body: (FileWriter) throws -> Void) throws {
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let writer = try FileWriter(path: temp, mode: mode, exclusive: true)
            try body(writer)
            try writer.sync()
            guard rename(temp, path) == 0 else { throw StrataError.posix("cannot rename \(temp) to \(path)", errno: errno) }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// Writes a small file atomically: temp file, fsync, rename. `durable: false` leaves out both
    /// syncs, for a file made afresh whenever it is needed (a bundle's config): whole or absent
    /// all the same, only not kept through a power loss.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true) throws {
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let w = try FileWriter(path: temp, mode: mode, exclusive: true)
            try w.write(bytes)
            if durable { try w.sync() } else { try w.flush() }
            guard rename(temp, path) == 0 else { throw StrataError.posix("cannot rename \(temp) to \(path)", errno: errno) }
        } catch {
            unlink(temp)
            throw error
        }
        if durable { syncDirectory(PathString(path).deletingLastComponent) }
    }

    /// `rm -rf --one-file-system`: never follows symlinks, and never descends into another
    /// filesystem mounted below `path` (a container's still-mounted root, say).
    public static func removeTree(_ path: String) {
        let path = BytePath(path)
        var st = stat()
        guard lstat(path.cString, &st) == 0 else { return }
        removeTree(path, st: st, device: st.st_dev)
    }

    /// Byte paths all the way down: a container's files may have names that are not UTF-8.
    private static func removeTree(_ path: BytePath, st: stat, device: dev_t) {
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            unlink(path.cString)
            return
        }
        guard st.st_dev == device else { return }
        for name in entries(of: path) {
            let child = path.appending(name)
            var childStat = stat()
            if lstat(child.cString, &childStat) == 0 { removeTree(child, st: childStat, device: device) }
        }
        rmdir(path.cString)
    }

    /// Names in a directory (no `.` and `..`), unsorted, as text: for directories whose names
    /// Strata makes (digests, ids) or that come from UTF-8 sources. Trees of untrusted files use
    /// `entries(of:)`, which keeps every name's bytes.
    /// Whether a work file named `<pid>-…` (the store's rule for ingests and temporaries) was left
    /// by a process that has exited; a name without a pid counts as left too.
    public static func ownerIsGone(_ name: String) -> Bool {
        guard let pid = name.split(separator: "-").first.flatMap({ Int32($0) }), pid > 0 else { return true }
        return !(kill(pid, 0) == 0 || errno == EPERM)
    }

    public static func listDirectory(_ path: String) -> [String] {
        entries(of: BytePath(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Names in a directory (no `.` and `..`), unsorted, byte for byte.
    public static func entries(of path: BytePath) -> [BytePath] {
        guard let dir = opendir(path.cString) else { return [] }
        defer { closedir(dir) }
        return entries(in: dir)
    }

    /// Reads an open directory stream to its end (no `.` and `..`), byte for byte.
    public static func entries(in dir: OpaquePointer) -> [BytePath] {
        var names: [BytePath] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) { BytePath(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// Path string helpers without Foundation's NSString bridging.
public struct PathString {
    /// An archive member's path made relative and clean: no empty or `.` parts, and `..` never
    /// climbing above the top (`./a/../../b` → `b`).
    public static func normalizedMember(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") where p != "." && !p.isEmpty {
            if p == ".." { _ = parts.popLast() } else { parts.append(p) }
        }
        return parts.joined(separator: "/")
    }

    let path: String
    public init(_ path: String) { self.path = path }
    public var deletingLastComponent: String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        return String(p[..<slash])
    }
    public var lastComponent: String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return String(p) }
        return String(p[p.index(after: slash)...])
    }
}
