import ContentStore
import Foundation
import ImageSpec
import Metadata
import NIOPosix
import ObjectStore
import Registry
import Synchronization

/// Blobs in an S3 bucket (`storage: {driver: s3}`), the database still deciding what exists.
///
/// An object is written before the transaction that links it, under a **lease**: a row in
/// `blob_leases` taken (in a transaction that first waits out any collection of the digest) before
/// the bytes go up and released by the transaction that links them. A collection never takes a
/// leased digest, so it can never delete an object between its upload and its link; a lease left
/// by a killed process expires after `leaseLifetime`. Objects are named `blobs/<algorithm>/<hex>`
/// under the configured prefix, content-addressed as in the filesystem store, and written whole
/// (one PUT, or a multipart upload completed only once every part is there), so no reader ever
/// sees part of one.
extension RegistryStorage {
    static let leaseMigration = """
        CREATE TABLE blob_leases (id TEXT PRIMARY KEY, digest TEXT NOT NULL, expires INTEGER NOT NULL);
        CREATE INDEX blob_leases_digest ON blob_leases(digest);
        -- Where this registry's blobs are (`blob-store`): its links mean nothing anywhere else.
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """

    /// `filesystem`, or `s3 ENDPOINT/BUCKET/PREFIX`.
    var blobStoreName: String {
        guard let c = objectStore?.configuration else { return "filesystem" }
        return "s3 \(c.endpoint)/\(c.bucket)/\(c.prefix)"
    }

    /// Records where the blobs are the first time, and after that says (nil: all is well) when
    /// this opening names another place while the database links blobs: serving, checking or
    /// collecting then would take every blob for missing.
    func blobStoreProblem() throws -> String? {
        try withDatabase { db in
            try db.write {
                // A registry from before the setting kept its blobs on the filesystem.
                let row = try db.query("SELECT value FROM settings WHERE key = 'blob-store'").first?.string(0)
                let there = row ?? "filesystem"
                let linked = try !db.query("SELECT 1 FROM repository_blobs LIMIT 1").isEmpty
                if there == blobStoreName || !linked {
                    if row != blobStoreName {
                        try db.execute("INSERT INTO settings (key, value) VALUES ('blob-store', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [.text(blobStoreName)])
                    }
                    return nil
                }
                return "this registry's blobs are in \(there == "filesystem" ? "\(root)/blobs" : there), not in \(blobStoreName == "filesystem" ? "\(root)/blobs" : blobStoreName): give the storage settings it was served with (--config)"
            }
        }
    }

    /// Throws `blobStoreProblem` as an error.
    public func checkBlobStore() throws {
        if let problem = try blobStoreProblem() { throw StrataError(.invalidArgument, problem) }
    }

    /// Long enough for the largest upload to reach the store.
    static let leaseLifetime: Int64 = 6 * 3600

    static func objectKey(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// The blob an object key names, or nil for any other object.
    static func blobDigest(key: String) -> Digest? {
        let parts = key.split(separator: "/")
        guard parts.count == 3, parts[0] == "blobs", let algorithm = DigestAlgorithm(rawValue: String(parts[1])) else { return nil }
        return try? Digest(algorithm: algorithm, encoded: String(parts[2]))
    }

    /// A promise to a collection that `digest` is being written.
    struct BlobLease: Sendable {
        var id: String
        var digest: Digest
        func release(in db: any SQLDatabase) throws {
            try db.execute("DELETE FROM blob_leases WHERE id = ?", [.text(id)])
        }
    }

    func takeLease(_ digest: Digest) throws -> BlobLease {
        let lease = BlobLease(id: UUID().uuidString.lowercased(), digest: digest)
        try writeUnlessCollecting(digest) { db in
            try db.execute("INSERT INTO blob_leases (id, digest, expires) VALUES (?, ?, ?)",
                           [.text(lease.id), .text(digest.description), .integer(Self.now + Self.leaseLifetime)])
        }
        return lease
    }

    private func dropLease(_ lease: BlobLease) {
        try? withDatabase { db in try db.write { try lease.release(in: db) } }
    }

    /// Uploads a verified file as the object of `digest` (unless the bucket has it whole already),
    /// then links it into `repository` in one transaction with `also`.
    func publishToObjectStore(file: String, digest: Digest, size: Int64, into repository: String,
                              also: @escaping @Sendable (any SQLDatabase) throws -> Void = { _ in }) async throws {
        guard let objectStore else { preconditionFailure("publishToObjectStore without an object store") }
        try await publishToObjectStore(digest: digest, size: size, into: repository, store: { key in
            // Hashed again as it goes: a file damaged since it was verified never becomes the object.
            let stored = try await objectStore.upload(key, from: FileChunks(path: file, length: size, expected: digest), expected: digest)
            guard stored.digest == digest, stored.size == size else {
                try? await objectStore.delete(key)
                throw StrataError(.digestMismatch, "blob \(digest) reached the object store as \(stored.digest) (\(stored.size) bytes)")
            }
        }, also: also)
    }

    /// Makes the object of a verified `digest` with `store` (unless the bucket has it whole
    /// already), under a lease, then links it into `repository` in one transaction with `also`.
    func publishToObjectStore(digest: Digest, size: Int64, into repository: String, store: @Sendable (String) async throws -> Void,
                              also: @escaping @Sendable (any SQLDatabase) throws -> Void) async throws {
        guard let objectStore else { preconditionFailure("publishToObjectStore without an object store") }
        let lease = try await NIOThreadPool.singleton.runIfActive { try self.takeLease(digest) }
        do {
            let key = Self.objectKey(digest)
            if try await objectStore.head(key)?.size != size { try await store(key) }
            try await NIOThreadPool.singleton.runIfActive {
                try self.withDatabase { db in
                    try db.write {
                        try lease.release(in: db)
                        try Self.link(digest, size: size, into: repository, in: db)
                        try also(db)
                    }
                }
            }
        } catch {
            dropLease(lease)
            throw error
        }
    }

    /// Stores a validated manifest wherever blobs are kept (see `putManifest`).
    func storeManifest(_ repository: String, _ manifest: ValidatedManifest, bytes: [UInt8], tag: String?, pushedBy: String?,
                       requireBlobs: Bool = true) async throws {
        guard let objectStore else {
            try await NIOThreadPool.singleton.runIfActive {
                try self.putManifest(repository, manifest, bytes: bytes, tag: tag, pushedBy: pushedBy, requireBlobs: requireBlobs)
            }
            return
        }
        let lease = try await NIOThreadPool.singleton.runIfActive { try self.takeLease(manifest.digest) }
        do {
            try await objectStore.put(Self.objectKey(manifest.digest), bytes, contentType: manifest.mediaType)
            try await NIOThreadPool.singleton.runIfActive {
                try self.putManifest(repository, manifest, bytes: bytes, tag: tag, pushedBy: pushedBy, requireBlobs: requireBlobs, lease: lease)
            }
        } catch {
            dropLease(lease)
            throw error
        }
    }

    /// A small blob (a manifest, a config) whole, checked against its digest wherever it is kept.
    public func readBlob(_ digest: Digest, limit: Int = 64 << 20) async throws -> [UInt8] {
        guard let objectStore else { return try content.read(digest, limit: limit) }
        if let kept = smallObjects[digest], kept.count <= limit { return kept }
        guard let bytes = try await objectStore.bytes(Self.objectKey(digest), limit: limit) else {
            throw StrataError(.blobUnknown, "blob \(digest) is missing from the object store \(objectStore.configuration.endpoint)/\(objectStore.configuration.bucket)")
        }
        guard Digest.sha256(of: bytes) == digest || digest.algorithm != .sha256 else {
            throw StrataError.damagedBlob(digest, "the object store's copy hashes to \(Digest.sha256(of: bytes))")
        }
        if digest.algorithm == .sha256 { smallObjects.keep(bytes, for: digest) }
        return bytes
    }

    /// A presigned GET of the blob's object, for `redirect: true`.
    func presignedBlobURL(_ digest: Digest) -> String? {
        objectStore?.presignedGET(Self.objectKey(digest), expires: 1200)
    }

    // MARK: garbage collection

    /// One collection wherever the blobs are: `collectGarbage` on the thread pool for the
    /// filesystem; over the bucket, the same three steps, candidates taken from a listing of
    /// the objects (each older than `grace` by the store's clock, unreferenced, unlinked for as
    /// long, and unleased).
    public func collect(grace: TimeInterval = 3600, deleteUntagged: Bool = false, dryRun: Bool = false,
                        uploadTTL: TimeInterval = 86_400) async throws -> CollectionReport {
        guard let objectStore else {
            return try await NIOThreadPool.singleton.runIfActive {
                try self.collectGarbage(grace: grace, deleteUntagged: deleteUntagged, dryRun: dryRun, uploadTTL: uploadTTL)
            }
        }
        try checkBlobStore()
        let lock = try collectionLock()
        defer { withExtendedLifetime(lock) {} }
        var ages: [Digest: (size: Int64, modified: Int64)] = [:]
        for object in try await objectStore.listAll(prefix: "blobs/") {
            guard let digest = Self.blobDigest(key: object.key), let modified = object.modified else { continue }
            ages[digest] = (object.size, Int64(modified.timeIntervalSince1970))
        }
        let listed = ages
        let report = try await NIOThreadPool.singleton.runIfActive {
            try self.mark(Array(listed.keys), grace: grace, deleteUntagged: deleteUntagged, dryRun: dryRun, uploadTTL: uploadTTL) { listed[$0] }
        }
        guard !dryRun else { return report }
        var failure: (any Error)?
        for digest in report.blobs {
            do { try await objectStore.delete(Self.objectKey(digest)) } catch {
                failure = failure ?? error
            }
        }
        // Forgotten even after a failed delete: an object left is unlinked, and the next
        // collection takes it; an upload of its digest meanwhile uploads it again.
        try await NIOThreadPool.singleton.runIfActive { try self.forgetCollected() }
        do { _ = try await sweepUploadObjects(dryRun: false, in: objectStore) } catch { failure = failure ?? error }
        if let failure { throw failure }
        return report
    }
}

// MARK: for code that reads synchronously (the web page's summaries and diffs, on NIO's thread pool)

extension RegistryStorage {
    /// `readBlob` from a thread that may wait (never a task of the cooperative pool).
    func readBlobWaiting(_ digest: Digest, limit: Int = 64 << 20) throws -> [UInt8] {
        guard objectStore != nil else { return try content.read(digest, limit: limit) }
        return try Self.waiting { try await self.readBlob(digest, limit: limit) }
    }

    /// A blob's bytes to read through: the content store's file, or the object downloaded to a
    /// temporary file first (removed at once; the open descriptor keeps it until it is read).
    func openBlobWaiting(_ digest: Digest) throws -> any ByteReader {
        guard let objectStore else { return try content.open(digest) }
        let path = "\(uploadsDirectory)/download-\(UUID().uuidString.lowercased())"
        defer { unlink(path) }
        try Self.waiting {
            let (_, body) = try await objectStore.get(Self.objectKey(digest))
            let writer = try FileWriter(path: path, mode: 0o600, exclusive: true)
            for try await buffer in body { try buffer.withUnsafeReadableBytes { try writer.write($0) } }
            try writer.flush()
        }
        return try FileReader(path: path)
    }

    /// Waits for async work on a thread that is allowed to block.
    static func waiting<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<T, any Error>?>(nil)
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await work()) } catch { result = .failure(error) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }
}
