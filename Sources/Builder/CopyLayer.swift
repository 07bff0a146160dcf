import Archive
import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// The layer a COPY or ADD makes: files from the context (or another stage's root filesystem)
/// placed at their destinations, as one tar. Ownership is root's unless `--chown` says otherwise,
/// modes are the source's unless `--chmod` does, and every timestamp is the build's epoch — so the
/// layer's digest depends on bytes, modes and ownership only, never on when files were touched.
struct CopyLayer {
    struct Item {
        /// Where the file is on this host.
        var source: String
        /// Its path in the image, absolute.
        var destination: String
        /// The name messages and cache reasons use (context-relative, or `stage:/path`).
        var display: String
    }

    var uid = 0
    var gid = 0
    var chmod: UInt32?
    var epoch: Int64 = 0

    /// Writes the items (directories recursively, following nothing) into `tar`; returns each
    /// file's digest by display name, for the cache to say which one changed.
    func write(_ items: [Item], into tar: TarWriter, walk: (String) throws -> [String]) throws -> [String: String] {
        var written = Set<String>()
        var digests: [String: String] = [:]
        func ensureParents(_ path: String) throws {
            var parents: [String] = []
            var p = (path as NSString).deletingLastPathComponent
            while p != "/" && !p.isEmpty && !written.contains(p) {
                parents.append(p)
                p = (p as NSString).deletingLastPathComponent
            }
            for parent in parents.reversed() {
                written.insert(parent)
                try tar.append(header(String(parent.dropFirst()), kind: .directory, mode: 0o755), data: [])
            }
        }
        func add(_ source: String, at destination: String, display: String) throws {
            var st = stat()
            guard lstat(source, &st) == 0 else { throw StrataError.posix("cannot read \(display)", errno: errno) }
            try ensureParents(destination)
            let name = String(destination.dropFirst())
            guard !name.isEmpty else { return }  // the root itself: only its contents go in
            written.insert(destination)
            let mode = chmod ?? (UInt32(st.st_mode) & 0o7777)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try tar.append(header(name, kind: .directory, mode: mode), data: [])
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(source, &buffer, buffer.count - 1)
                guard n >= 0 else { throw StrataError.posix("cannot read link \(display)", errno: errno) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                var h = header(name, kind: .symlink, mode: 0o777)
                h.linkName = target
                try tar.append(h, data: [])
                digests[display] = "link:\(target)"
            case S_IFREG:
                var h = header(name, kind: .regular, mode: mode)
                h.size = Int64(st.st_size)
                let reader = DigestingReader(try FileReader(path: source))
                try tar.append(h, body: reader)
                digests[display] = "\(String(mode, radix: 8)):\(reader.digest().encoded)"
            default:
                throw StrataError(.buildFailed, "cannot copy \(display): not a regular file, directory or symbolic link")
            }
        }
        for item in items {
            var st = stat()
            guard lstat(item.source, &st) == 0 else { throw StrataError.posix("cannot read \(item.display)", errno: errno) }
            try add(item.source, at: item.destination, display: item.display)
            if st.st_mode & S_IFMT == S_IFDIR {
                for child in try walk(item.source) {
                    try add("\(item.source)/\(child)", at: item.destination == "/" ? "/\(child)" : "\(item.destination)/\(child)",
                            display: item.display.isEmpty || item.display == "." ? child : "\(item.display)/\(child)")
                }
            }
        }
        return digests
    }

    private func header(_ name: String, kind: TarHeader.Kind, mode: UInt32) -> TarHeader {
        var h = kind == .directory ? TarHeader.directory(name, mode: mode, modificationTime: epoch)
                                   : TarHeader.file(name, size: 0, mode: mode, modificationTime: epoch)
        h.kind = kind
        h.uid = uid
        h.gid = gid
        return h
    }
}
