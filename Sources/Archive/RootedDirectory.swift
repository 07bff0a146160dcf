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
    private var cachedParent: (path: String, fd: Int32)?

    public init(path: String) throws {
        self.path = path
        fd = open(path, strata_o_path() | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
    }

    deinit {
        if let cachedParent { close(cachedParent.fd) }
        close(fd)
    }

    /// Splits an archive path into clean components. Leading `/` and `./` are dropped; a path whose
    /// `..` would climb above the root is refused (not clamped: such an entry is an attack or a bug).
    /// `clamp`: `..` at the root stays at the root, as the kernel resolves a symlink under a chroot.
    public static func components(_ name: String, entry: String? = nil, clamp: Bool = false) throws -> [String] {
        var parts: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if clamp, parts.isEmpty { continue }
                guard !parts.isEmpty else {
                    throw StrataError(.invalidArchive, "refusing tar entry \"\(entry ?? name)\": its path leads outside the root")
                }
                parts.removeLast()
                continue
            }
            parts.append(String(part))
        }
        return parts
    }

    /// Opens a directory of the tree (an `strata_o_path()` descriptor the caller closes), creating missing
    /// directories on the way when `create` is set. Symlinks on the way resolve inside the root.
    func openDirectory(_ parts: ArraySlice<String>, create: Bool, depth: Int = 0) throws -> Int32 {
        if parts.isEmpty { return dup(fd) }
        let joined = parts.joined(separator: "/")
        let resolve = UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS)
        let flags = UInt64(strata_o_path() | O_DIRECTORY | O_CLOEXEC)
        var result = strata_openat2(fd, joined, flags, resolve)
        if result < 0, errno == ENOENT, create {
            let parent = try openDirectory(parts.dropLast(), create: true)
            defer { close(parent) }
            if mkdirat(parent, parts.last!, 0o755) != 0, errno != EEXIST {
                throw StrataError.posix("cannot create directory \(joined) in \(path)", errno: errno)
            }
            result = strata_openat2(fd, joined, flags, resolve)
            if result < 0, errno == ENOENT, depth < 16, let target = Self.readLink(parent, parts.last!) {
                // A dangling symlink: make its target, resolved inside the root (as mkdir -p in a chroot).
                let base = target.hasPrefix("/") ? [] : Array(parts.dropLast())
                let targetParts = try Self.components((base + [target]).joined(separator: "/"), clamp: true)
                close(try openDirectory(targetParts[...], create: true, depth: depth + 1))
                result = strata_openat2(fd, joined, flags, resolve)
            }
        }
        guard result >= 0 else {
            if errno == ENOTDIR {
                throw StrataError(.invalidArchive, "cannot use \(joined) as a directory in \(path): something else is there")
            }
            if errno == EXDEV || errno == ELOOP {
                throw StrataError(.invalidArchive, "refusing path \(joined): it does not resolve inside \(path)")
            }
            throw StrataError.posix("cannot open directory \(joined) in \(path)", errno: errno)
        }
        return result
    }

    /// The parent directory of `parts` (cached while entries stay in one directory). Not closed by the caller.
    func parent(of parts: [String], create: Bool) throws -> Int32 {
        let key = parts.dropLast().joined(separator: "/")
        if let cachedParent, cachedParent.path == key { return cachedParent.fd }
        let opened = try openDirectory(parts.dropLast(), create: create)
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = (key, opened)
        return opened
    }

    /// The target of a symlink named `name` in `dir`, or nil when it is not one.
    static func readLink(_ dir: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(dir, name, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Forgets the cached parent (after a directory was removed or replaced).
    func invalidate() {
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = nil
    }

    /// lstat of a name inside a directory descriptor.
    static func stat(_ dir: Int32, _ name: String) -> stat? {
        var st = Glibc.stat()
        return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// Removes `name` in `dir`, recursively for a directory, without following any link.
    static func removeAll(_ dir: Int32, _ name: String) throws {
        guard let st = stat(dir, name) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let child = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw StrataError.posix("cannot open \(name) to remove it", errno: errno) }
            for entry in list(child) { try removeAll(child, entry) }
            close(child)
            guard unlinkat(dir, name, AT_REMOVEDIR) == 0 else { throw StrataError.posix("cannot remove directory \(name)", errno: errno) }
        } else {
            guard unlinkat(dir, name, 0) == 0 || errno == ENOENT else { throw StrataError.posix("cannot remove \(name)", errno: errno) }
        }
    }

    /// Names in a directory descriptor (the descriptor stays open and usable).
    static func list(_ dir: Int32) -> [String] {
        let copy = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let stream = fdopendir(copy) else { return [] }
        defer { closedir(stream) }
        return FileSystem.names(in: stream)
    }
}

extension RootedDirectory {
    /// Reads a small file of the tree, resolving its path inside the root (an image's /etc/passwd
    /// may be a symlink; it must never lead to the host's). Nil when it does not exist.
    public func readFile(_ path: String, limit: Int = 4 << 20) throws -> [UInt8]? {
        let parts = try Self.components(path)
        let f = strata_openat2(fd, parts.joined(separator: "/"), UInt64(O_RDONLY | O_CLOEXEC),
                               UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS))
        guard f >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StrataError.posix("cannot read \(path) in \(self.path)", errno: errno)
        }
        return try FileReader(fd: f, path: path, owned: true).readAll(limit: limit)
    }

    /// Whether `path` names an executable regular file inside the root.
    public func isExecutable(_ path: String) -> Bool {
        guard let parts = try? Self.components(path), !parts.isEmpty else { return false }
        let f = strata_openat2(fd, parts.joined(separator: "/"), UInt64(strata_o_path() | O_CLOEXEC),
                               UInt64(RESOLVE_IN_ROOT) | UInt64(RESOLVE_NO_MAGICLINKS))
        guard f >= 0 else { return false }
        defer { close(f) }
        var st = Glibc.stat()
        guard fstat(f, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFREG && (st.st_mode & 0o111) != 0
    }
}

extension RootedDirectory {
    /// Creates an empty directory or file at `path` (inside the root) when nothing is there;
    /// returns whether it did. The parent's times are restored, so the creation leaves no trace
    /// a tree comparison would see.
    public func createIfMissing(_ path: String, directory: Bool) throws -> Bool {
        let parts = try Self.components(path)
        guard let name = parts.last else { return false }
        let parent = try openDirectory(parts.dropLast()[...], create: true)
        defer { close(parent) }
        if Self.stat(parent, name) != nil { return false }
        var before = Glibc.stat()
        fstat(parent, &before)
        if directory {
            guard mkdirat(parent, name, 0o755) == 0 else { throw StrataError.posix("cannot create /\(path)", errno: errno) }
        } else {
            let f = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard f >= 0 else { throw StrataError.posix("cannot create /\(path)", errno: errno) }
            close(f)
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
            let dir = try openDirectory(resolved[...], create: false)
            defer { close(dir) }
            guard let st = Self.stat(dir, name) else {
                missing = true
                resolved.append(name)
                continue
            }
            if (st.st_mode & S_IFMT) == S_IFLNK, followLast || !pending.isEmpty {
                links += 1
                guard links <= 40, let target = Self.readLink(dir, name) else {
                    throw StrataError.posix("cannot resolve /\((resolved + [name]).joined(separator: "/")) in \(self.path)", errno: ELOOP)
                }
                if target.hasPrefix("/") { resolved = [] }
                pending = Self.rawComponents(target) + pending
                continue
            }
            resolved.append(name)
        }
        return resolved
    }

    /// lstat of a resolved path (components as `resolve` returns them); nil when nothing is there.
    public func lstat(_ parts: [String]) -> stat? {
        guard let name = parts.last else {
            var st = Glibc.stat()
            return fstat(fd, &st) == 0 ? st : nil
        }
        guard let dir = try? openDirectory(parts.dropLast()[...], create: false) else { return nil }
        defer { close(dir) }
        return Self.stat(dir, name)
    }

    /// A link target's components without `.` and empty ones, `..` kept (it goes up from the link).
    static func rawComponents(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }.map(String.init)
    }
}
