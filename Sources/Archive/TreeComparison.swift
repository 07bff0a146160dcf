import CLinux
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// Two trees compared entry by entry — names, types, modes, owners, sizes, times, devices, link
/// targets, overlay's opaque mark and every file's bytes — for `system check --deep`, which
/// unpacks a layer afresh and holds the stored snapshot against it.
public enum TreeComparison {
    /// How `actual` differs from `expected`, in words, at most `limit` of them ("etc/passwd: contents differ").
    public static func differences(expected: String, actual: String, limit: Int = 10) -> [String] {
        var found: [String] = []
        compare(BytePath(expected), BytePath(actual), relative: BytePath(""), found: &found, limit: limit)
        return found
    }

    private static func compare(_ expected: BytePath, _ actual: BytePath, relative: BytePath, found: inout [String], limit: Int) {
        let want = Set(FileSystem.entries(of: expected)), have = Set(FileSystem.entries(of: actual))
        for name in (want.union(have)).sorted() {
            guard found.count < limit else { return }
            let path = relative.isEmpty ? name : relative.appending(name)
            guard want.contains(name) else { found.append("\(path): not in the layer"); continue }
            guard have.contains(name) else { found.append("\(path): missing"); continue }
            let e = expected.appending(name), a = actual.appending(name)
            guard let se = TreeArchiver.lstat(e), let sa = TreeArchiver.lstat(a) else { found.append("\(path): unreadable"); continue }
            if let difference = difference(se, sa, e, a) {
                found.append("\(path): \(difference)")
                continue
            }
            if se.st_mode & S_IFMT == S_IFDIR { compare(e, a, relative: path, found: &found, limit: limit) }
        }
    }

    private static func difference(_ e: stat, _ a: stat, _ expected: BytePath, _ actual: BytePath) -> String? {
        if e.st_mode != a.st_mode { return "mode \(String(e.st_mode, radix: 8)) expected, \(String(a.st_mode, radix: 8)) found" }
        if e.st_uid != a.st_uid || e.st_gid != a.st_gid { return "owner \(e.st_uid):\(e.st_gid) expected, \(a.st_uid):\(a.st_gid) found" }
        switch e.st_mode & S_IFMT {
        case S_IFDIR:
            if TreeArchiver.isOpaque(expected) != TreeArchiver.isOpaque(actual) { return "overlay opaque mark differs" }
        case S_IFLNK:
            if (try? TreeArchiver.readLink(expected)) != (try? TreeArchiver.readLink(actual)) { return "link target differs" }
        case S_IFCHR, S_IFBLK:
            if e.st_rdev != a.st_rdev { return "device number differs" }
        case S_IFREG:
            if e.st_size != a.st_size { return "\(e.st_size) bytes expected, \(a.st_size) found" }
            if !sameContents(expected, actual) { return "contents differ" }
        default: break
        }
        if e.st_mode & S_IFMT != S_IFDIR, e.st_mtim.tv_sec != a.st_mtim.tv_sec { return "modification time differs" }
        return nil
    }

    private static func sameContents(_ a: BytePath, _ b: BytePath) -> Bool {
        let fa = open(a.cString, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), fb = open(b.cString, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        defer { if fa >= 0 { close(fa) }; if fb >= 0 { close(fb) } }
        guard fa >= 0, fb >= 0 else { return false }
        var x = [UInt8](repeating: 0, count: 1 << 20), y = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = x.withUnsafeMutableBytes { read(fa, $0.baseAddress, $0.count) }
            guard n >= 0 else { return false }
            var got = 0
            while got < n {
                let m = y.withUnsafeMutableBytes { read(fb, $0.baseAddress! + got, n - got) }
                guard m > 0 else { return false }
                got += m
            }
            if n == 0 {
                var extra: UInt8 = 0
                return read(fb, &extra, 1) == 0
            }
            if !x.withUnsafeBytes({ xb in y.withUnsafeBytes { yb in memcmp(xb.baseAddress!, yb.baseAddress!, n) == 0 } }) { return false }
        }
    }
}
