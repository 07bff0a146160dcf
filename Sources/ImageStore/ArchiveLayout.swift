import Foundation
import ImageSpec
import Archive
import ContentStore

/// Where `save` writes an image archive: a tar stream or a directory. The docker-archive and
/// OCI-layout writers only name paths; the sink decides how they land.
protocol LayoutSink: AnyObject {
    func addDirectory(_ path: String) throws
    func addFile(_ path: String, size: Int64, from reader: ByteReader) throws
}

extension LayoutSink {
    func addFile(_ path: String, bytes: [UInt8]) throws {
        try addFile(path, size: Int64(bytes.count), from: MemoryReader(bytes))
    }
}

/// Writes entries into a tar: root-owned, mode 0644/0755, mtime 0 — the same images give the same bytes.
final class TarLayoutSink: LayoutSink {
    let tar: TarWriter
    init(_ sink: ByteWriter) { tar = TarWriter(sink) }

    func addDirectory(_ path: String) throws {
        try tar.append(TarHeader(name: BytePath(path), kind: .directory, mode: 0o755), body: nil)
    }

    func addFile(_ path: String, size: Int64, from reader: ByteReader) throws {
        try tar.append(TarHeader(name: BytePath(path), kind: .regular, mode: 0o644, size: size), body: reader)
    }

    func finish() throws { try tar.finish() }
}

/// Writes entries as files below a directory (an OCI image layout on disk).
final class DirectoryLayoutSink: LayoutSink {
    let root: String
    init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root)
    }

    func addDirectory(_ path: String) throws { try FileSystem.createDirectory("\(root)/\(path)") }

    func addFile(_ path: String, size: Int64, from reader: ByteReader) throws {
        let target = "\(root)/\(path)"
        try FileSystem.createDirectory(PathString(target).deletingLastComponent)
        let writer = try FileWriter(path: target)
        let written = try reader.copy(to: writer)
        try writer.finish()
        guard written == size else {
            throw StrataError(.sizeMismatch, "\(path): expected \(size) bytes, wrote \(written)")
        }
    }
}

/// The files of an archive being loaded. Small files stay in memory; large ones stream into
/// content-store ingests as they are read, hashed on the way, and become blobs only if an
/// image references them — so a tar is read once, and a failed load leaves nothing behind.
final class StagedArchive {
    enum Entry {
        case memory([UInt8])
        case staged(Ingest, Digest, Int64)
        /// Already in the content store; verified while reading, not written again.
        case present(Digest, Int64)
        /// A file of a layout directory, read when needed.
        case file(String)
    }

    private(set) var entries: [String: Entry] = [:]
    private var links: [String: String] = [:]
    private var committed: Set<String> = []
    private var hashed: [String: (digest: Digest, size: Int64)] = [:]
    let source: String
    let content: ContentStore

    static let memoryLimit: Int64 = 1 << 20

    init(source: String, content: ContentStore) {
        self.source = source
        self.content = content
    }

    /// Reads a tar (optionally gzip or zstd compressed) of a docker-archive or an OCI layout.
    static func read(tar input: ByteReader, source: String, content: ContentStore) throws -> StagedArchive {
        let staged = StagedArchive(source: source, content: content)
        let (reader, _) = try Codecs.decompressing(input)
        let tar = TarReader(reader)
        do {
            while let header = try tar.next() {
                // An image archive's members are named by the spec (index.json, blobs/sha256/…): text.
                let path = normalize(String(decoding: header.name, as: UTF8.self))
                let linkName = String(decoding: header.linkName, as: UTF8.self)
                switch header.kind {
                case .regular:
                    staged.entries[path] = try stage(path: path, size: header.size, body: tar.bodyReader, content: content)
                case .symlink:
                    let base = PathString(path).deletingLastComponent
                    staged.links[path] = normalize(linkName.hasPrefix("/") ? linkName : (base.isEmpty ? linkName : "\(base)/\(linkName)"))
                case .hardLink:
                    staged.links[path] = normalize(linkName)
                default:
                    continue
                }
            }
        } catch let error as StrataError {
            staged.abort()
            throw StrataError(error.code, "\(source): \(error.message)")
        }
        return staged
    }

    /// An OCI layout (or unpacked docker-archive) directory.
    static func read(directory: String, content: ContentStore) -> StagedArchive {
        let staged = StagedArchive(source: directory, content: content)
        func walk(_ rel: String) {
            let dir = rel.isEmpty ? directory : "\(directory)/\(rel)"
            for name in FileSystem.listDirectory(dir) {
                let child = rel.isEmpty ? name : "\(rel)/\(name)"
                if FileSystem.isDirectory("\(directory)/\(child)") { walk(child) } else { staged.entries[child] = .file("\(directory)/\(child)") }
            }
        }
        walk("")
        return staged
    }

    private static func stage(path: String, size: Int64, body: ByteReader, content: ContentStore) throws -> Entry {
        // A blob named by its digest that the store already has: verify it, don't write it again.
        if let expected = blobDigest(path), content.contains(expected) {
            let digesting = DigestingReader(body)
            try digesting.copy(to: NullWriter())
            guard digesting.digest() == expected else {
                throw StrataError(.digestMismatch, "\(path) does not match its name: its digest is \(digesting.digest())")
            }
            return .present(expected, digesting.count)
        }
        if size <= memoryLimit {
            return .memory(try body.readAll(limit: Int(memoryLimit)))
        }
        let ingest = try content.ingest()
        do {
            try body.copy(to: ingest)
            try ingest.finish()
        } catch {
            ingest.abort()
            throw error
        }
        return .staged(ingest, ingest.digest, ingest.count)
    }

    /// `blobs/sha256/<hex>` → its digest.
    static func blobDigest(_ path: String) -> Digest? {
        let parts = path.split(separator: "/")
        guard parts.count == 3, parts[0] == "blobs", let algorithm = DigestAlgorithm(rawValue: String(parts[1])) else { return nil }
        return try? Digest(algorithm: algorithm, encoded: String(parts[2]))
    }

    static func normalize(_ path: String) -> String { PathString.normalizedMember(path) }

    private func resolve(_ path: String) -> String {
        var p = Self.normalize(path)
        var hops = 0
        while entries[p] == nil, let target = links[p], hops < 40 { p = target; hops += 1 }
        return p
    }

    func contains(_ path: String) -> Bool { entries[resolve(path)] != nil }

    /// A small file (manifest.json, index.json, a config), whole.
    func bytes(_ path: String) throws -> [UInt8] {
        switch entries[resolve(path)] {
        case .memory(let b): return b
        case .staged(let ingest, _, _): return try FileSystem.readFile(ingest.tempPath, limit: 64 << 20)
        case .present(let d, _): return try content.read(d, limit: 64 << 20)
        case .file(let f): return try FileSystem.readFile(f, limit: 64 << 20)
        case nil: throw missing(path)
        }
    }

    func missing(_ path: String) -> StrataError {
        StrataError(.invalidArchive, "\(source): \(path) is referenced but not in the archive")
    }

    /// Streams a file's bytes.
    func reader(_ path: String) throws -> ByteReader {
        switch entries[resolve(path)] {
        case .memory(let b): return MemoryReader(b)
        case .staged(let ingest, _, _): return try FileReader(path: ingest.tempPath)
        case .present(let d, _): return try content.open(d)
        case .file(let f): return try FileReader(path: f)
        case nil: throw missing(path)
        }
    }

    /// A file's sha256 and size (hashed while staging, or now for files of a directory).
    func digestAndSize(_ path: String) throws -> (digest: Digest, size: Int64) {
        let key = resolve(path)
        if let known = hashed[key] { return known }
        let result: (Digest, Int64)
        switch entries[key] {
        case .memory(let b): result = (Digest.sha256(of: b), Int64(b.count))
        case .staged(_, let d, let n), .present(let d, let n): result = (d, n)
        case .file(let f):
            let r = DigestingReader(try FileReader(path: f))
            try r.copy(to: NullWriter())
            result = (r.digest(), r.count)
        case nil: throw missing(path)
        }
        hashed[key] = result
        return result
    }

    /// Checks a file against a descriptor's digest and size.
    func verify(_ path: String, against descriptor: Descriptor) throws {
        let (digest, size) = try digestAndSize(path)
        if digest != descriptor.digest {
            throw StrataError(.digestMismatch, "\(source): \(path): digest mismatch: expected \(descriptor.digest), got \(digest)")
        }
        if size != descriptor.size {
            throw StrataError(.sizeMismatch, "\(source): \(path): size mismatch: expected \(descriptor.size) bytes, got \(size)")
        }
    }

    /// Publishes a verified file as a blob (once, however many images use it).
    func commitBlob(_ path: String) throws -> Digest {
        let key = resolve(path)
        let (digest, size) = try digestAndSize(path)
        if committed.contains(key) { return digest }
        switch entries[key] {
        case .memory(let b): try content.ingest(bytes: b, expected: digest)
        case .staged(let ingest, _, _): try ingest.commit(expected: digest, expectedSize: size)
        case .present: break
        case .file(let f): try content.ingest(from: try FileReader(path: f), expected: digest, expectedSize: size)
        case nil: throw missing(path)
        }
        committed.insert(key)
        return digest
    }

    /// Drops staged files no image used.
    func abort() {
        for case .staged(let ingest, _, _) in entries.values { ingest.abort() }
    }
}
