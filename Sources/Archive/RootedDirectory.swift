import CLinux
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// A directory that untrusted paths are resolved inside, never outside.
///
/// Every lookup goes through `openat2(RESOLVE_IN_ROOT)`: `..`, absolute symlinks and symlink
/// chains are resolved as if the directory were `/` (as a chroot would), so no path — whatever
/// the links in the tree say — reaches the host. The last component of a path is always
/// operated on with `*at()` calls that do not follow it.
public final class RootedDirectory {
    public let path: String
    let fd: Int32
    /// The last parent opened, reused while entries stay in one directory (tars are grouped so).
    private var cachedParent: (path: BytePath, fd: Int32)?

    public init(path: String) throws {
        self.path = path
        fd = open(path, strata_o_path() | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
    }

    deinit {
        if let cachedParent { close(cachedParent.fd) }
        close(fd)
    }

    /// Makes an archive path clean: its components joined by "/", without a leading "/" or any
    /// "." (a path already clean is returned as it is). A path whose `..` would climb above the
    /// root is refused (not clamped: such an entry is an attack or a bug).
    /// `clamp`: `..` at the root stays at the root, as the kernel resolves a symlink under a chroot.
    public static func clean(_ name: BytePath, entry: BytePath? = nil, clamp: Bool = false) throws -> BytePath {
        guard let cleaned = name.cleaned(clampingAtTop: clamp) else {
            throw StrataError(.invalidArchive, "refusing tar entry \"\(entry ?? name)\": its path leads outside the root")
        }
        return cleaned
    }

    /// Opens a directory of the tree (an `strata_o_path()` descriptor the caller closes), creating missing
    /// directories on the way when `create` is set. Symlinks on the way resolve inside the root.
    /// `path` is clean (see `clean`).
    func openDirectory(_ path: BytePath, create: Bool, depth: Int = 0) throws -> Int32 {
        if path.isEmpty { return dup(fd) }
        let resolve = UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS)
        let flags = UInt64(strata_o_path() | O_DIRECTORY | O_CLOEXEC)
        var result = strata_openat2(fd, path.cString, flags, resolve)
        if result < 0, errno == ENOENT, create {
            let parentPath = path.deletingLastComponent, name = path.lastComponent
            let parent = try openDirectory(parentPath, create: true)
            defer { close(parent) }
            if mkdirat(parent, name.cString, 0o755) != 0, errno != EEXIST {
                throw StrataError.posix("cannot create directory \(path) in \(self.path)", errno: errno)
            }
            result = strata_openat2(fd, path.cString, flags, resolve)
            if result < 0, errno == ENOENT, depth < 16, let target = Self.readLink(parent, name) {
                // A dangling symlink: make its target, resolved inside the root (as mkdir -p in a chroot).
                let base: BytePath = target.first == UInt8(ascii: "/") ? BytePath() : parentPath
                let targetPath = try Self.clean(base.appending(target), clamp: true)
                close(try openDirectory(targetPath, create: true, depth: depth + 1))
                result = strata_openat2(fd, path.cString, flags, resolve)
            }
        }
        guard result >= 0 else {
            if errno == ENOTDIR {
                throw StrataError(.invalidArchive, "cannot use \(path) as a directory in \(self.path): something else is there")
            }
            if errno == EXDEV || errno == ELOOP {
                throw StrataError(.invalidArchive, "refusing path \(path): it does not resolve inside \(self.path)")
            }
            throw StrataError.posix("cannot open directory \(path) in \(self.path)", errno: errno)
        }
        return result
    }

    /// The parent directory of the clean `path` (cached while entries stay in one directory).
    /// Not closed by the caller.
    func parent(of path: BytePath, create: Bool) throws -> Int32 {
        let end = path.lastIndex(of: UInt8(ascii: "/")) ?? path.startIndex
        // Compared in place: most entries share their predecessor's directory, and need no copy.
        if let cachedParent, cachedParent.path.elementsEqual(path[..<end]) { return cachedParent.fd }
        let parentPath = BytePath(bytes: path[..<end])
        let opened = try openDirectory(parentPath, create: create)
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = (parentPath, opened)
        return opened
    }

    /// The target of a symlink named `name` in `dir`, or nil when it is not one.
    static func readLink(_ dir: Int32, _ name: BytePath) -> BytePath? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(dir, name.cString, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return buffer.withUnsafeBytes { BytePath(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// Forgets the cached parent (after a directory was removed or replaced).
    func invalidate() {
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = nil
    }

    /// lstat of a name inside a directory descriptor.
    static func stat(_ dir: Int32, _ name: BytePath) -> stat? {
        var st = Glibc.stat()
        return fstatat(dir, name.cString, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// Removes `name` in `dir`, recursively for a directory, without following any link.
    static func removeAll(_ dir: Int32, _ name: BytePath) throws {
        guard let st = stat(dir, name) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let child = openat(dir, name.cString, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw StrataError.posix("cannot open \(name) to remove it", errno: errno) }
            for entry in list(child) { try removeAll(child, entry) }
            close(child)
            guard unlinkat(dir, name.cString, AT_REMOVEDIR) == 0 else { throw StrataError.posix("cannot remove directory \(name)", errno: errno) }
        } else {
            guard unlinkat(dir, name.cString, 0) == 0 || errno == ENOENT else { throw StrataError.posix("cannot remove \(name)", errno: errno) }
        }
    }

    /// Names in a directory descriptor (the descriptor stays open and usable).
    static func list(_ dir: Int32) -> [BytePath] {
        let copy = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let stream = fdopendir(copy) else { return [] }
        defer { closedir(stream) }
        return FileSystem.entries(in: stream)
    }
}

extension RootedDirectory {
    /// Reads a small file of the tree, resolving its path inside the root (an image's /etc/passwd
    /// may be a symlink; it must never lead to the host's). Nil when it does not exist.
    public func readFile(_ path: String, limit: Int = 4 << 20) throws -> [UInt8]? {
        let clean = try Self.clean(BytePath(path))
        let f = strata_openat2(fd, clean.cString, UInt64(O_RDONLY | O_CLOEXEC),
                               UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS))
        guard f >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StrataError.posix("cannot read \(path) in \(self.path)", errno: errno)
        }
        return try FileReader(fd: f, path: path, owned: true).readAll(limit: limit)
    }

    /// A descriptor of the directory `path` names inside the root (links followed as under a
    /// chroot), open for reading; nil when there is none. The caller closes it.
    public func openDirectory(_ path: String) throws -> Int32? {
        let clean = try Self.clean(BytePath(path), clamp: true)
        let f = strata_openat2(fd, (clean.isEmpty ? BytePath(".") : clean).cString, UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                               UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS))
        guard f >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StrataError.posix("cannot open \(path) in \(self.path)", errno: errno)
        }
        return f
    }

    /// Whether `path` names an executable regular file inside the root.
    public func isExecutable(_ path: String) -> Bool {
        guard let clean = try? Self.clean(BytePath(path)), !clean.isEmpty else { return false }
        let f = strata_openat2(fd, clean.cString, UInt64(strata_o_path() | O_CLOEXEC),
                               UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS))
        guard f >= 0 else { return false }
        defer { close(f) }
        var st = Glibc.stat()
        guard fstat(f, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFREG && (st.st_mode & 0o111) != 0
    }
}

extension RootedDirectory {
    /// What `createIfMissing` makes.
    public enum MissingEntry: Sendable, Equatable {
        case directory, file
        case symlink(to: String)
    }

    /// Creates an empty directory or file, or a symlink, at `path` (inside the root) when nothing
    /// is there; returns whether it did. The parent's times are restored, so the creation leaves
    /// no trace a tree comparison would see.
    public func createIfMissing(_ path: String, as entry: MissingEntry) throws -> Bool {
        let clean = try Self.clean(BytePath(path))
        guard !clean.isEmpty else { return false }
        let name = clean.lastComponent
        let parent = try openDirectory(clean.deletingLastComponent, create: true)
        defer { close(parent) }
        if Self.stat(parent, name) != nil { return false }
        var before = Glibc.stat()
        fstat(parent, &before)
        switch entry {
        case .directory:
            guard mkdirat(parent, name.cString, 0o755) == 0 else { throw StrataError.posix("cannot create /\(path)", errno: errno) }
        case .file:
            let f = openat(parent, name.cString, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard f >= 0 else { throw StrataError.posix("cannot create /\(path)", errno: errno) }
            close(f)
        case .symlink(let target):
            guard symlinkat(target, parent, name.cString) == 0 else { throw StrataError.posix("cannot create /\(path)", errno: errno) }
        }
        var times = [before.st_atim, before.st_mtim]
        let writable = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if writable >= 0 {
            futimens(writable, &times)
            close(writable)
        }
        return true
    }
}

extension RootedDirectory {
    /// Where `path` leads inside the root, as clean components, as Docker's FollowSymlinkInScope
    /// finds it: the path is cleaned first, then every symlink on the way is followed inside the
    /// root (an absolute target starts again at the root; a target's `..` goes up from where the
    /// link is, never above the root, as under a chroot); components that do not exist are kept
    /// as written. The last component is followed too unless `followLast` is false. So
    /// `/bin/hello` in a Debian image, whose `/bin` is a link to `usr/bin`, is `usr/bin/hello`.
    public func resolve(_ path: String, followLast: Bool = true) throws -> [String] {
        // COPY destinations are text; the walk itself goes through the byte-path calls.
        var pending = try Self.components(path, clamp: true)
        var resolved: [String] = []
        var links = 0
        var missing = false
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            if missing {
                resolved.append(name)
                continue
            }
            let dir = try openDirectory(BytePath(resolved.joined(separator: "/")), create: false)
            defer { close(dir) }
            guard let st = Self.stat(dir, BytePath(name)) else {
                missing = true
                resolved.append(name)
                continue
            }
            if (st.st_mode & S_IFMT) == S_IFLNK, followLast || !pending.isEmpty {
                links += 1
                guard links <= 40, let link = Self.readLink(dir, BytePath(name)) else {
                    throw StrataError.posix("cannot resolve /\((resolved + [name]).joined(separator: "/")) in \(self.path)", errno: ELOOP)
                }
                let target = String(decoding: link, as: UTF8.self)
                if target.hasPrefix("/") { resolved = [] }
                pending = Self.rawComponents(target) + pending
                continue
            }
            resolved.append(name)
        }
        return resolved
    }

    /// A path's clean components, as text (for paths with no root to resolve them in).
    public static func components(_ path: String, clamp: Bool) throws -> [String] {
        String(decoding: try clean(BytePath(path), clamp: clamp), as: UTF8.self).split(separator: "/").map(String.init)
    }

    /// lstat of a resolved path (components as `resolve` returns them); nil when nothing is there.
    public func lstat(_ parts: [String]) -> stat? {
        guard let name = parts.last else {
            var st = Glibc.stat()
            return fstat(fd, &st) == 0 ? st : nil
        }
        guard let dir = try? openDirectory(BytePath(parts.dropLast().joined(separator: "/")), create: false) else { return nil }
        defer { close(dir) }
        return Self.stat(dir, BytePath(name))
    }

    /// A link target's components without `.` and empty ones, `..` kept (it goes up from the link).
    static func rawComponents(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }.map(String.init)
    }
}
