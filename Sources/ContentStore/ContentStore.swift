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

    /// Reads a small blob (manifest, config) whole, checked against its name: a damaged config
    /// must not silently change what a container runs.
    public func read(_ digest: Digest, limit: Int = 16 << 20) throws -> [UInt8] {
        let bytes = try open(digest).readAll(limit: limit)
        var digester = Digester(digest.algorithm)
        bytes.withUnsafeBytes { digester.update($0) }
        let actual = digester.finalize()
        guard actual == digest else { throw StrataError.damagedBlob(digest, "it hashes to \(actual)") }
        return bytes
    }

    /// A stored blob as a stream that is checked against its name as it is read: the read that
    /// reaches the end throws `damagedBlob` instead of ending a damaged blob's bytes.
    public func openVerified(_ digest: Digest) throws -> VerifiedBlobReader {
        VerifiedBlobReader(try open(digest), digest: digest)
    }

    /// Hashes a stored blob whole; throws `damagedBlob` when it does not hash to its name (or,
    /// given `expectedSize`, is not that long), `blobUnknown` when it is missing. Returns its size.
    @discardableResult
    public func verify(_ digest: Digest, expectedSize: Int64? = nil) throws -> Int64 {
        let (size, damage) = try condition(of: digest)
        if let damage { throw StrataError.damagedBlob(digest, damage) }
        if let expectedSize, size != expectedSize {
            throw StrataError.damagedBlob(digest, "\(size) bytes where \(expectedSize) were recorded")
        }
        return size
    }

    /// A stored blob hashed whole: its size, and what is wrong with it in words (nil: nothing).
    public func condition(of digest: Digest) throws -> (size: Int64, damage: String?) {
        let reader = DigestingReader(try open(digest), algorithm: digest.algorithm)
        try reader.copy(to: NullWriter())
        let actual = reader.digest()
        return (reader.count, actual == digest ? nil : "its \(reader.count) bytes hash to \(actual)")
    }

    /// What an error met while decoding a stored blob (a gzip, zstd or tar failure, a digest that
    /// came out wrong) stands for: `damagedBlob` when the blob no longer hashes to its name, else
    /// the error itself. The blob is hashed again only here, on the way out of a failure.
    public static func diagnose(file path: String, as digest: Digest, _ error: any Error) -> any Error {
        if let strata = error as? StrataError, strata.code == .damagedBlob || strata.code == .cancelled { return error }
        if error is CancellationError { return error }
        do {
            _ = try VerifiedBlobReader(try FileReader(path: path), digest: digest).copy(to: NullWriter())
        } catch let damaged as StrataError where damaged.code == .damagedBlob {
            return StrataError(damaged.code, damaged.message, cause: error)
        } catch {}
        return error
    }

    public func diagnose(_ digest: Digest, _ error: any Error) -> any Error {
        Self.diagnose(file: path(for: digest), as: digest, error)
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

    /// Moves a damaged blob out of `blobs/` into `damaged/<algorithm>/<hex>`: kept for a look, never
    /// served or read again, and absent to every pull and load, which fetch it anew. Returns where it went.
    public func setAside(_ digest: Digest) throws -> String {
        let directory = "\(root)/damaged/\(digest.algorithm.rawValue)"
        try FileSystem.createDirectory(directory, mode: 0o700)
        let target = "\(directory)/\(digest.encoded)"
        guard rename(path(for: digest), target) == 0 else { throw StrataError.posix("cannot set blob \(digest) aside", errno: errno) }
        return target
    }

    /// Names in `ingest/`: ingests under way, or left by a process that was killed.
    public func ingestFiles() -> [String] { FileSystem.listDirectory(ingestDirectory).map { "\(ingestDirectory)/\($0)" } }

    /// Files in `ingest/` whose writing process is gone: what a killed process left, while other
    /// processes may be ingesting (a registry server that keeps running).
    public func abandonedIngests() -> [String] {
        FileSystem.listDirectory(ingestDirectory).filter(FileSystem.ownerIsGone).map { "\(ingestDirectory)/\($0)" }
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

/// A stored blob read through its digest: bytes pass as they are read; at the end, a blob that
/// does not hash to its name is a `damagedBlob` error instead of an end.
public final class VerifiedBlobReader: ByteReader {
    private let reading: DigestingReader
    public let digest: Digest
    public var count: Int64 { reading.count }

    init(_ base: FileReader, digest: Digest) {
        reading = DigestingReader(base, algorithm: digest.algorithm)
        self.digest = digest
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try reading.read(into: buffer)
        if n == 0, case let actual = reading.digest(), actual != digest {
            throw StrataError.damagedBlob(digest, "its \(count) bytes hash to \(actual)")
        }
        return n
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
        // Every blob is synced before it is published: the disk writes it while the rest comes
        // (and is inflated and unpacked), so the sync waits for the last stretch only.
        writer.writeBehind = FileWriter.writeBehindInterval
    }

    deinit { if !done { unlink(tempPath) } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        digester.update(bytes)
        count += Int64(bytes.count)
        try Trace.measure(.write) { try writer.write(bytes) }
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
