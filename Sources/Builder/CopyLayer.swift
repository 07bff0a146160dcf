import Archive
import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// The layer a COPY or ADD makes: files from the context (or another stage's root filesystem,
/// a heredoc, a download, an archive ADD unpacks) placed at their destinations, as one tar.
/// Ownership is root's unless `--chown` says otherwise, modes are the source's unless `--chmod`
/// does, and every timestamp is the build's epoch — so the layer's digest depends on bytes,
/// modes and ownership only, never on when files were touched.
struct CopyLayer {
    enum Source {
        /// A file, directory or link on this host (directories are copied with their contents).
        case path(String)
        /// A file's bytes (a heredoc), with its mode.
        case inline([UInt8], mode: UInt32)
        /// A tar (plain, gzip or zstd) unpacked at the destination directory (ADD).
        case archive(String)
    }

    struct Item {
        var source: Source
        /// Its path in the image, absolute, through the image's links (see `Builder.place`).
        var destination: String
        /// The name messages and cache reasons use (context-relative, or `stage:/path`).
        var display: String
    }

    /// `--chown`: the owner of everything written (else root, or an archive's own owners).
    var owner: (uid: Int, gid: Int)?
    var chmod: UInt32?
    var epoch: Int64 = 0
    /// The root filesystem of the image the layer goes on (nil: scratch). A directory on the way
    /// to a destination that is there already goes into the layer as the image has it — mode and
    /// owner kept — since the layer's entry replaces it; only the directories that are missing
    /// are made (0755, owned as Docker's classic builder makes them: by `--chown`'s owner on the
    /// way to a file, by root on the way to a directory).
    var root: RootedDirectory?

    /// Writes the items into `tar`; returns each file's digest by display name, for the cache to
    /// say which one changed, and the layer's stats (its size as Docker counts it). `walk` lists
    /// a directory's descendants (relative, parents first).
    func write(_ items: [Item], into tar: TarWriter, walk: (String) throws -> [String]) throws -> (digests: [String: String], stats: LayerStats) {
        var written = Set<String>()
        var digests: [String: String] = [:]
        var stats = LayerStats()
        func append(_ h: TarHeader, body: ByteReader? = nil) throws {
            stats.add(h)
            try tar.append(h, body: body)
        }
        /// A directory entry: the image's own when it has one there, else a new one.
        func directory(_ path: String, newOwner: (uid: Int, gid: Int), newMode: UInt32 = 0o755) throws {
            written.insert(path)
            let name = String(path.dropFirst())
            var h = header(name, kind: .directory, mode: newMode)
            (h.uid, h.gid) = newOwner
            if let st = root?.lstat(name.split(separator: "/").map(String.init)), st.st_mode & S_IFMT == S_IFDIR {
                h.mode = UInt32(st.st_mode) & 0o7777
                (h.uid, h.gid) = (Int(st.st_uid), Int(st.st_gid))
            }
            try append(h)
        }
        func ensureParents(_ path: String, newOwner: (uid: Int, gid: Int)) throws {
            var parents: [String] = []
            var p = (path as NSString).deletingLastPathComponent
            while p != "/" && !p.isEmpty && !written.contains(p) {
                parents.append(p)
                p = (p as NSString).deletingLastPathComponent
            }
            for parent in parents.reversed() { try directory(parent, newOwner: newOwner) }
        }
        let fileOwner = owner ?? (0, 0)
        func add(_ source: String, at destination: String, display: String) throws {
            var st = stat()
            guard lstat(source, &st) == 0 else { throw StrataError.posix("cannot read \(display)", errno: errno) }
            try ensureParents(destination, newOwner: fileOwner)
            let name = String(destination.dropFirst())
            guard !name.isEmpty else { return }  // the root itself: only its contents go in
            written.insert(destination)
            let mode = chmod ?? (UInt32(st.st_mode) & 0o7777)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try append(header(name, kind: .directory, mode: mode))
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(source, &buffer, buffer.count - 1)
                guard n >= 0 else { throw StrataError.posix("cannot read link \(display)", errno: errno) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                var h = header(name, kind: .symlink, mode: 0o777)
                h.linkName = BytePath(bytes: buffer[0..<n].map { UInt8(bitPattern: $0) })
                try append(h)
                digests[display] = "link:\(target)"
            case S_IFREG:
                var h = header(name, kind: .regular, mode: mode)
                h.size = Int64(st.st_size)
                let reader = DigestingReader(try FileReader(path: source))
                try append(h, body: reader)
                digests[display] = "\(String(mode, radix: 8)):\(reader.digest().encoded)"
            default:
                throw StrataError(.buildFailed, "cannot copy \(display): not a regular file, directory or symbolic link")
            }
        }
        for item in items {
            switch item.source {
            case .path(let source) where FileSystem.isDirectory(source) && !isLink(source):
                // A directory's contents go into the destination, made (by root, then given to
                // --chown's owner) if the image lacks it, kept as it is if it has it.
                try ensureParents(item.destination, newOwner: (0, 0))
                if item.destination != "/", !written.contains(item.destination) {
                    try directory(item.destination, newOwner: fileOwner, newMode: chmod ?? 0o755)
                }
                for child in try walk(source) {
                    try add("\(source)/\(child)", at: item.destination == "/" ? "/\(child)" : "\(item.destination)/\(child)",
                            display: item.display.isEmpty || item.display == "." ? child : "\(item.display)/\(child)")
                }
            case .path(let source):
                try add(source, at: item.destination, display: item.display)
            case .inline(let bytes, let fileMode):
                try ensureParents(item.destination, newOwner: fileOwner)
                written.insert(item.destination)
                let mode = chmod ?? fileMode
                var h = header(String(item.destination.dropFirst()), kind: .regular, mode: mode)
                h.size = Int64(bytes.count)
                try append(h, body: bytes.isEmpty ? nil : MemoryReader(bytes))
                digests[item.display] = "\(String(mode, radix: 8)):\(Digest.sha256(of: bytes).encoded)"
            case .archive(let path):
                try ensureParents(item.destination == "/" ? "/x" : item.destination + "/x", newOwner: (0, 0))
                digests[item.display] = try unpack(path, at: item.destination, append: { try append($0, body: $1) },
                                                   ensureParents: { try ensureParents($0, newOwner: fileOwner) },
                                                   mark: { written.insert($0) })
            }
        }
        return (digests, stats)
    }

    /// ADD of a local archive: its entries under `directory`, their modes and (without
    /// `--chown`) owners kept, times clamped to the epoch; returns the archive's digest.
    private func unpack(_ path: String, at directory: String, append: (TarHeader, ByteReader?) throws -> Void,
                        ensureParents: (String) throws -> Void, mark: (String) -> Void) throws -> String {
        let file = DigestingReader(try FileReader(path: path))
        let reader = TarReader(try Codecs.decompressing(file).reader)
        let base = directory == "/" ? "" : directory
        while var h = try reader.next() {
            // Context paths are text here (as COPY's): a member name that is not UTF-8 is decoded.
            let member = PathString.normalizedMember(String(decoding: h.name, as: UTF8.self))
            guard !member.isEmpty, !member.hasPrefix("../"), member != ".." else { continue }
            let destination = "\(base)/\(member)"
            try ensureParents(destination)
            mark(destination)
            h.name = BytePath(String(destination.dropFirst()))
            if h.kind == .hardLink {
                h.linkName = BytePath(String("\(base)/\(PathString.normalizedMember(String(decoding: h.linkName, as: UTF8.self)))".dropFirst()))
            }
            if let owner { (h.uid, h.gid) = owner }
            if let chmod, h.kind != .symlink { h.mode = chmod }
            h.modificationTime = min(h.modificationTime, epoch == 0 ? h.modificationTime : epoch)
            h.paxRecords = [:]
            try append(h, h.kind.hasBody ? reader.bodyReader : nil)
        }
        try file.copy(to: NullWriter())
        return "archive:\(file.digest().encoded)"
    }

    private func isLink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    private func header(_ name: String, kind: TarHeader.Kind, mode: UInt32) -> TarHeader {
        var h = kind == .directory ? TarHeader.directory(BytePath(name), mode: mode, modificationTime: epoch)
                                   : TarHeader.file(BytePath(name), size: 0, mode: mode, modificationTime: epoch)
        h.kind = kind
        (h.uid, h.gid) = owner ?? (0, 0)
        return h
    }
}
