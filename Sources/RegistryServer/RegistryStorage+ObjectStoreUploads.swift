import Foundation
import ImageSpec
import Metadata
import NIOCore
import NIOPosix
import ObjectStore

/// Upload sessions when blobs are in an object store: every chunk a PATCH brings becomes an object
/// of its own (`uploads/<session>/<start>-<random>`, streamed as it arrives, multipart when large),
/// and a row of `upload_chunks` once whole. Nothing of a session is in one replica's memory or
/// disk, so a client whose replica died resumes on any other: the length it is told is the sum of
/// the chunks the database holds. The closing PUT hashes the chunks (a session of one chunk was
/// hashed on its way up), then makes the blob's object from them: a store-side copy of a single
/// chunk, else one streamed pass. A chunk cut short (a replica killed mid-PATCH) never gets a row;
/// objects without one are swept by the next collection.
extension RegistryStorage {
    static let uploadChunksMigration = """
        CREATE TABLE upload_chunks (
            upload TEXT NOT NULL, start INTEGER NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL, object TEXT NOT NULL,
            PRIMARY KEY (upload, start));
        """

    struct UploadChunk: Sendable {
        var start: Int64
        var size: Int64
        var digest: Digest
        var object: String
    }

    /// The session's chunks, in order.
    func uploadChunks(_ id: String, in db: any SQLDatabase) throws -> [UploadChunk] {
        try db.query("SELECT start, size, digest, object FROM upload_chunks WHERE upload = ? ORDER BY start", [.text(id)]).compactMap { row in
            guard let start = row.int(0), let size = row.int(1), let digest = row.string(2).flatMap({ try? Digest(parsing: $0) }),
                  let object = row.string(3) else { return nil }
            return UploadChunk(start: start, size: size, digest: digest, object: object)
        }
    }

    /// Bytes the session holds: the sum of its chunks.
    static func chunkedLength(_ id: String, in db: any SQLDatabase) throws -> Int64 {
        try db.query("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM upload_chunks WHERE upload = ?", [.text(id)]).first?.int(0) ?? 0
    }

    /// A PATCH's body as one more chunk of the session.
    func appendChunk<Body: AsyncSequence & Sendable>(_ upload: Upload, body: Body, start: Int64?, expectedLength: Int64?,
                                                      to objectStore: S3Client) async throws -> Upload where Body.Element == ByteBuffer {
        let current = try await NIOThreadPool.singleton.runIfActive { try self.upload(upload.repository, upload.id) }
        if let start, start != current.length {
            throw DistributionError(.blobUploadInvalid, "chunk starts at byte \(start), but the upload has \(current.length) bytes: send the chunk that starts at \(current.length)",
                                    status: .rangeNotSatisfiable, headers: Self.progressHeaders(current))
        }
        // A random part in the name: two replicas given the same chunk never write one object.
        let key = "uploads/\(upload.id)/\(String(format: "%020lld", current.length))-\(UUID().uuidString.lowercased().prefix(8))"
        let stored = try await objectStore.upload(key, from: body)
        guard stored.size > 0 else {
            try? await objectStore.delete(key)
            return current
        }
        do {
            try await NIOThreadPool.singleton.runIfActive {
                try self.withDatabase { db in
                    try db.write {
                        // Checked again under the write lock: a session another replica grew (or ended) meanwhile keeps what it has.
                        guard try !db.query("SELECT 1 FROM uploads WHERE id = ?", [.text(upload.id)]).isEmpty else {
                            throw DistributionError(.blobUploadUnknown, "upload \(upload.id) ended while this chunk arrived")
                        }
                        let length = try Self.chunkedLength(upload.id, in: db)
                        guard length == current.length else {
                            throw DistributionError(.blobUploadInvalid, "upload \(upload.id) grew to \(length) bytes while this chunk arrived: send the chunk that starts at \(length)",
                                                    status: .rangeNotSatisfiable)
                        }
                        try db.execute("INSERT INTO upload_chunks (upload, start, size, digest, object) VALUES (?, ?, ?, ?, ?)",
                                       [.text(upload.id), .integer(current.length), .integer(stored.size), .text(stored.digest.description), .text(key)])
                    }
                }
            }
        } catch {
            try? await objectStore.delete(key)
            throw error
        }
        let grown = Upload(id: upload.id, repository: upload.repository, length: current.length + stored.size)
        if let expectedLength, expectedLength != stored.size {
            throw DistributionError(.sizeInvalid, "the request body ended after \(stored.size) of its \(expectedLength) bytes; the upload has \(grown.length) bytes and can be resumed from there")
        }
        return grown
    }

    /// Completes a session of chunks as the blob `digest`: verified, made one object, linked, and
    /// the session's rows gone in the same transaction. A wrong digest ends the session.
    func finishChunkedUpload(_ upload: Upload, digest: Digest, in objectStore: S3Client) async throws -> Int64 {
        let chunks = try await NIOThreadPool.singleton.runIfActive { () throws -> [UploadChunk] in
            _ = try self.upload(upload.repository, upload.id)
            return try self.withDatabase { try self.uploadChunks(upload.id, in: $0) }
        }
        let size = chunks.reduce(0) { $0 + $1.size }
        let actual: Digest
        if chunks.count == 1 && digest.algorithm == .sha256 {
            actual = chunks[0].digest
        } else {
            var digester = Digester(digest.algorithm)
            for try await buffer in Self.chunkBytes(chunks, from: objectStore) { buffer.withUnsafeReadableBytes { digester.update($0) } }
            actual = digester.finalize()
        }
        guard actual == digest else {
            try await cancelChunkedUpload(upload, in: objectStore)
            throw DistributionError(.digestInvalid, "uploaded content has digest \(actual), not \(digest); the upload is discarded")
        }
        try await publishToObjectStore(digest: digest, size: size, into: upload.repository, store: { key in
            if chunks.count == 1 && size <= Self.largestCopy {
                try await objectStore.copy(chunks[0].object, to: key)
            } else {
                let stored = try await objectStore.upload(key, from: Self.chunkBytes(chunks, from: objectStore), expected: digest)
                guard stored.size == size else { throw StrataError(.sizeMismatch, "blob \(digest) reached the object store with \(stored.size) of \(size) bytes") }
            }
        }, also: { db in
            try db.execute("DELETE FROM upload_chunks WHERE upload = ?", [.text(upload.id)])
            try db.execute("DELETE FROM uploads WHERE id = ?", [.text(upload.id)])
        })
        // The rows are gone: an object left here is swept by the next collection.
        for chunk in chunks { try? await objectStore.delete(chunk.object) }
        return size
    }

    /// S3's limit for one store-side copy.
    static let largestCopy: Int64 = 5 << 30

    /// Ends a session of chunks: its rows, then its objects.
    func cancelChunkedUpload(_ upload: Upload, in objectStore: S3Client) async throws {
        let chunks = try await NIOThreadPool.singleton.runIfActive { () throws -> [UploadChunk] in
            try self.withDatabase { db in
                try db.write {
                    let chunks = try self.uploadChunks(upload.id, in: db)
                    try db.execute("DELETE FROM upload_chunks WHERE upload = ?", [.text(upload.id)])
                    try db.execute("DELETE FROM uploads WHERE id = ?", [.text(upload.id)])
                    return chunks
                }
            }
        }
        for chunk in chunks { try? await objectStore.delete(chunk.object) }
    }

    /// The chunks' bytes, in order, as the store sends them.
    static func chunkBytes(_ chunks: [UploadChunk], from objectStore: S3Client) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for chunk in chunks {
                        let (object, body) = try await objectStore.get(chunk.object)
                        guard object.size == chunk.size else {
                            throw StrataError(.sizeMismatch, "upload chunk \(chunk.object) has \(object.size) bytes in the object store, not \(chunk.size)")
                        }
                        for try await buffer in body { continuation.yield(buffer) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Chunk objects no session's row names, older than `age`: what a PATCH cut short by a kill
    /// left (a chunk gets its row within moments of its object being whole).
    static func strayChunks(_ objects: [S3Client.Object], named: Set<String>, olderThan age: TimeInterval) -> [S3Client.Object] {
        let cutoff = Date().addingTimeInterval(-age)
        return objects.filter { !named.contains($0.key) && ($0.modified ?? .distantFuture) < cutoff }
    }

    /// Chunk objects no row names (a replica killed mid-PATCH, a session expired), older than
    /// `age` by the store's clock, deleted by a collection; returns how many. The default is a
    /// lease's lifetime: a chunk still on its way up has no row yet either.
    func sweepUploadObjects(olderThan age: TimeInterval = TimeInterval(leaseLifetime), dryRun: Bool, in objectStore: S3Client) async throws -> Int {
        let objects = try await objectStore.listAll(prefix: "uploads/")
        guard !objects.isEmpty else { return 0 }
        let named = try await NIOThreadPool.singleton.runIfActive {
            Set(try self.withDatabase { try $0.query("SELECT object FROM upload_chunks").compactMap { $0.string(0) } })
        }
        let strays = Self.strayChunks(objects, named: named, olderThan: age)
        if !dryRun {
            for stray in strays { try await objectStore.delete(stray.key) }
        }
        return strays.count
    }
}
