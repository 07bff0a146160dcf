import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// Blobs by digest in `blobs/<algorithm>/<hex>`, the layout of an OCI image layout.
///
/// Every blob enters through an `Ingest`: bytes stream into a private temp file under `ingest/`
/// while they are hashed and counted; only a blob whose digest and size check out is fsynced and
/// renamed into place. A reader therefore never sees a partial blob, and one copy of each
/// blob exists however many images use it.
public final class ContentStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        for algorithm in DigestAlgorithm.allCases {
            try FileSystem.createDirectory("\(root)/blobs/\(algorithm.rawValue)")
        }
        try FileSystem.createDirectory(ingestDirectory)
    }

    var ingestDirectory: String { "\(root)/ingest" }

    public func path(for digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    public func contains(_ digest: Digest) -> Bool { FileSystem.exists(path(for: digest)) }

    /// The size of a stored blob, or nil when it is absent.
    public func size(of digest: Digest) -> Int64? {
        var st = stat()
        return stat(path(for: digest), &st) == 0 ? Int64(st.st_size) : nil
    }

    public func open(_ digest: Digest) throws -> FileReader {
        do {
            return try FileReader(path: path(for: digest))
        } catch {
            throw StrataError(.blobUnknown, "blob \(digest) is missing from the content store")
        }
    }

    /// Reads a small blob (manifest, config) whole.
    public func read(_ digest: Digest, limit: Int = 16 << 20) throws -> [UInt8] {
        try open(digest).readAll(limit: limit)
    }

    /// Starts an ingest; write into it, then `commit` or `abort`.
    public func ingest(_ algorithm: DigestAlgorithm = .sha256) throws -> Ingest { try Ingest(store: self, algorithm: algorithm) }

    /// Makes a complete, verified file the blob `digest`: synced, renamed into `blobs/` (the same
    /// filesystem: nothing is copied), the directory synced. A blob already there is kept and the
    /// file removed. Ingests end here, and so do the registry's upload sessions.
    public func adopt(_ file: String, as digest: Digest, syncing writer: FileWriter? = nil) throws {
        let final = path(for: digest)
        do {
            if FileSystem.exists(final) {
                unlink(file)
                return
            }
            if let writer { try writer.sync() } else { try FileSystem.syncFile(file) }
            guard rename(file, final) == 0 else { throw StrataError.posix("cannot store blob \(digest)", errno: errno) }
            FileSystem.syncDirectory(PathString(final).deletingLastComponent)
        } catch {
            unlink(file)
            throw error
        }
    }

    /// Streams `reader` into the store and verifies it against `expected` (digest, and size if given).
    @discardableResult
    public func ingest(from reader: ByteReader, expected: Digest? = nil, expectedSize: Int64? = nil) throws -> (digest: Digest, size: Int64) {
        let ingest = try self.ingest()
        do {
            try reader.copy(to: ingest)
            return try ingest.commit(expected: expected, expectedSize: expectedSize)
        } catch {
            ingest.abort()
            throw error
        }
    }

    @discardableResult
    public func ingest(bytes: [UInt8], expected: Digest? = nil) throws -> Digest {
        if let expected, contains(expected) {
            guard Digest.sha256(of: bytes) == expected else { throw ContentStore.mismatch("blob", expected: expected, actual: Digest.sha256(of: bytes)) }
            return expected
        }
        return try ingest(from: MemoryReader(bytes), expected: expected, expectedSize: Int64(bytes.count)).digest
    }

    /// Deletes a blob; absent blobs are fine (deletion is idempotent).
    public func delete(_ digest: Digest) {
        unlink(path(for: digest))
    }

    /// Every blob present.
    public func list() -> [Digest] {
        DigestAlgorithm.allCases.flatMap { algorithm in
            FileSystem.listDirectory("\(root)/blobs/\(algorithm.rawValue)").compactMap {
                try? Digest(algorithm: algorithm, encoded: $0)
            }
        }
    }

    /// Removes temp files of ingests that were interrupted (a crash, kill -9). Call only while no
    /// ingest can be running: under the store's exclusive lock.
    public func removeAbandonedIngests() {
        for name in FileSystem.listDirectory(ingestDirectory) { unlink("\(ingestDirectory)/\(name)") }
    }

    /// Removes this process's own unfinished ingests (an interrupted command on its way out).
    public func removeIngests(ofProcess pid: Int32) {
        for name in FileSystem.listDirectory(ingestDirectory) where name.hasPrefix("\(pid)-") { unlink("\(ingestDirectory)/\(name)") }
    }

    static func mismatch(_ what: String, expected: Digest, actual: Digest) -> StrataError {
        StrataError(.digestMismatch, "\(what) digest mismatch: expected \(expected), got \(actual)")
    }
}

/// One blob being written: a temp file that becomes a blob only on a verified `commit`.
public final class Ingest: ByteWriter {
    private let store: ContentStore
    private let writer: FileWriter
    public let tempPath: String
    private var digester: Digester
    public private(set) var count: Int64 = 0
    private var done = false
    private var verified: Digest?

    init(store: ContentStore, algorithm: DigestAlgorithm) throws {
        self.store = store
        digester = Digester(algorithm)
        tempPath = "\(store.ingestDirectory)/\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        writer = try FileWriter(path: tempPath, mode: 0o644, exclusive: true)
    }

    deinit { if !done { unlink(tempPath) } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        digester.update(bytes)
        count += Int64(bytes.count)
        try writer.write(bytes)
    }

    public func finish() throws { try writer.flush() }

    /// The digest of what was written so far.
    public var digest: Digest { digester.finalize() }

    /// Verifies and publishes the blob. Throws (and removes the temp file) on a mismatch.
    @discardableResult
    public func commit(expected: Digest? = nil, expectedSize: Int64? = nil) throws -> (digest: Digest, size: Int64) {
        let verified = try verify(expected: expected, expectedSize: expectedSize)
        try publish()
        return verified
    }

    /// Checks digest and size without publishing yet: a load verifies every blob of an archive
    /// before any becomes visible. Throws (and removes the temp file) on a mismatch.
    @discardableResult
    public func verify(expected: Digest? = nil, expectedSize: Int64? = nil) throws -> (digest: Digest, size: Int64) {
        precondition(!done, "ingest used after it was committed or aborted")
        do {
            if let expected, expected.algorithm != digester.algorithm {
                throw StrataError(.invalidDigest, "cannot verify \(expected): this blob was hashed with \(digester.algorithm.rawValue)")
            }
            let actual = digest
            if let expectedSize, expectedSize != count {
                throw StrataError(.sizeMismatch,
                    "blob \(expected?.description ?? actual.description) is \(count < expectedSize ? "truncated" : "too long"): expected \(expectedSize) bytes, got \(count)")
            }
            if let expected, expected != actual { throw ContentStore.mismatch("blob", expected: expected, actual: actual) }
            verified = actual
            return (actual, count)
        } catch {
            abort()
            throw error
        }
    }

    /// Publishes a verified blob: synced, renamed into `blobs/`, the directory synced.
    public func publish() throws {
        guard let actual = verified else { preconditionFailure("ingest published before it was verified") }
        guard !done else { return }
        defer { done = true }
        try store.adopt(tempPath, as: actual, syncing: writer)
    }

    /// The store this ingest publishes into.
    public var contentStore: ContentStore { store }

    /// Discards what was written.
    public func abort() {
        guard !done else { return }
        done = true
        unlink(tempPath)
    }
}
