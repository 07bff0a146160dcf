import Archive
import ContentStore
import Foundation
import ImageSpec
import NIOCore

/// A blob a source has already written to disk and hashed, that a destination on the same
/// content store may take as it is — renamed into place, never copied.
public final class StagedBlob: @unchecked Sendable {
    public let path: String
    public let digest: Digest
    public let size: Int64
    /// Set when the bytes are an ingest of a content store (`load` stages into the store itself).
    let ingest: Ingest?
    private let lock = NSLock()

    init(path: String, digest: Digest, size: Int64, ingest: Ingest?) {
        self.path = path
        self.digest = digest
        self.size = size
        self.ingest = ingest
    }

    /// Whether `store` can take these bytes without a copy.
    public func isIngest(of store: ContentStore) -> Bool { ingest?.contentStore.root == store.root }

    /// Verifies the staged bytes against `expected` (their hash was taken while staging).
    public func verify(_ expected: Descriptor) throws {
        guard digest == expected.digest else {
            throw StrataError(.digestMismatch, "blob digest mismatch: expected \(expected.digest), got \(digest)")
        }
        guard size == expected.size else {
            throw StrataError(.sizeMismatch, "blob \(expected.digest): expected \(expected.size) bytes, got \(size)")
        }
    }

    /// Publishes the ingest as its blob (once, however many images use it).
    public func publish() throws {
        try lock.withLock {
            guard let ingest else { return }
            try ingest.verify(expected: digest, expectedSize: size)
            try ingest.publish()
        }
    }

    func discard() { ingest?.abort() }
}

/// The files of an archive, read once: a docker-archive or an OCI layout, as a tar (plain, gzip
/// or zstd, from a file or a stream) or a directory. Small files stay in memory; large ones are
/// hashed as they stream into ingests of the content store that will keep them (`load`) or into
/// spool files (`copy`), so a tar is read exactly once and a failed load leaves nothing behind.
final class StagedArchive: @unchecked Sendable {
    enum Entry {
        case memory([UInt8])
        case staged(StagedBlob)
        /// Already in the content store; verified while reading, not written again.
        case present(Digest, Int64)
        /// A file of a layout directory, read when needed.
        case file(String)
    }

    private(set) var entries: [String: Entry] = [:]
    private var links: [String: String] = [:]
    private var hashed: [String: (digest: Digest, size: Int64)] = [:]
    let source: String
    /// Where large files are staged: the content store that will keep them, or nil for spool files.
    let content: ContentStore?
    private var spooled: [String] = []

    static let memoryLimit: Int64 = 1 << 20

    private init(source: String, content: ContentStore?) {
        self.source = source
        self.content = content
    }

    /// Reads a tar (optionally gzip or zstd compressed) of a docker-archive or an OCI layout.
    static func read(tar input: ByteReader, source: String, content: ContentStore?) throws -> StagedArchive {
        let staged = StagedArchive(source: source, content: content)
        do {
            let (reader, _) = try Codecs.decompressing(input)
            let tar = TarReader(reader)
            while let header = try tar.next() {
                // An archive's own member names (manifest.json, blobs/sha256/…) are text.
                let path = normalize(String(decoding: header.name, as: UTF8.self))
                let linkName = String(decoding: header.linkName, as: UTF8.self)
                switch header.kind {
                case .regular:
                    staged.entries[path] = try staged.stage(path: path, size: header.size, body: tar.bodyReader)
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
            staged.discard()
            throw error.context(source)
        } catch {
            staged.discard()
            throw error
        }
        return staged
    }

    /// An OCI layout (or unpacked docker-archive) directory: its files are read where they are.
    static func read(directory: String, content: ContentStore?) -> StagedArchive {
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

    private func stage(path: String, size: Int64, body: ByteReader) throws -> Entry {
        // A blob named by its digest that the store already has: verify it, don't write it again.
        if let content, let expected = Self.blobDigest(path), content.contains(expected) {
            let digesting = DigestingReader(body)
            try digesting.copy(to: NullWriter())
            guard digesting.digest() == expected else {
                throw StrataError(.digestMismatch, "\(path) does not match its name: its digest is \(digesting.digest())")
            }
            return .present(expected, digesting.count)
        }
        if size <= Self.memoryLimit {
            return .memory(try body.readAll(limit: Int(Self.memoryLimit)))
        }
        if let content {
            let ingest = try content.ingest()
            do {
                try body.copy(to: ingest)
                try ingest.finish()
            } catch {
                ingest.abort()
                throw error
            }
            return .staged(StagedBlob(path: ingest.tempPath, digest: ingest.digest, size: ingest.count, ingest: ingest))
        }
        let file = SpoolDirectory.newPath("archive")
        spooled.append(file)
        let writer = DigestingWriter(try FileWriter(path: file, mode: 0o600, exclusive: true))
        try body.copy(to: writer)
        try writer.finish()
        return .staged(StagedBlob(path: file, digest: writer.digest(), size: writer.count, ingest: nil))
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

    func missing(_ path: String) -> StrataError {
        StrataError(.invalidArchive, "\(source): \(path) is referenced but not in the archive")
    }

    /// A small file (manifest.json, index.json, a config), whole.
    func bytes(_ path: String) throws -> [UInt8] {
        switch entries[resolve(path)] {
        case .memory(let b): return b
        case .staged(let blob): return try FileSystem.readFile(blob.path, limit: 64 << 20)
        case .present(let d, _): return try content!.read(d, limit: 64 << 20)
        case .file(let f): return try FileSystem.readFile(f, limit: 64 << 20)
        case nil: throw missing(path)
        }
    }

    /// A file as a transfer hands it on: staged bytes a destination may adopt, or a stream.
    func content(_ path: String) throws -> BlobContent {
        switch entries[resolve(path)] {
        case .memory(let b): return .stream({ consume in try await consume(ByteBuffer(bytes: b)) })
        case .staged(let blob): return .staged(blob)
        case .present(let d, _): return .stored(content!.path(for: d), d)
        case .file(let f): return .file(f)
        case nil: throw missing(path)
        }
    }

    /// Streams a file's bytes.
    func reader(_ path: String) throws -> ByteReader {
        switch entries[resolve(path)] {
        case .memory(let b): return MemoryReader(b)
        case .staged(let blob): return try FileReader(path: blob.path)
        case .present(let d, _): return try content!.open(d)
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
        case .staged(let blob): result = (blob.digest, blob.size)
        case .present(let d, let n): result = (d, n)
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

    /// Drops staged files nothing published.
    func discard() {
        for case .staged(let blob) in entries.values { blob.discard() }
        for file in spooled { unlink(file) }
    }
}
