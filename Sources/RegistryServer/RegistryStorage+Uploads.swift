import ContentStore
import Foundation
import HTTPTypes
import ImageSpec
import Metadata
import NIOCore
import NIOPosix

/// The hash state of upload sessions this process is writing, so each byte is hashed once, as it
/// arrives: the closing PUT verifies without reading the file again. After a restart a session's
/// state is rebuilt from its file once (swift-crypto cannot save a hash state).
final class UploadSessions: @unchecked Sendable {
    struct State {
        var digester = Digester(.sha256)
        var length: Int64 = 0
    }
    private let lock = NSLock()
    private var states: [String: State] = [:]
    private var busy: Set<String> = []

    /// Claims a session for one request; a second concurrent request on it is refused.
    func claim(_ id: String) -> Bool { lock.withLock { busy.insert(id).inserted } }
    func release(_ id: String) { lock.withLock { _ = busy.remove(id) } }
    func state(_ id: String) -> State? { lock.withLock { states[id] } }
    func set(_ id: String, _ state: State?) { lock.withLock { states[id] = state } }
}

extension RegistryStorage {
    public struct Upload: Sendable {
        public var id: String
        public var repository: String
        /// Bytes received so far: the session's file length.
        public var length: Int64
    }

    func uploadPath(_ id: String) -> String { "\(uploadsDirectory)/\(id)" }

    /// Opens a session: a row and an empty file (in an object store's registry, the row only).
    public func startUpload(_ repository: String) throws -> Upload {
        let id = UUID().uuidString.lowercased()
        if objectStore == nil {
            let fd = open(uploadPath(id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw StrataError.posix("cannot create upload \(id)", errno: errno) }
            close(fd)
        }
        try withDatabase { db in
            try db.write {
                try Self.ensureRepository(repository, in: db)
                try db.execute("INSERT INTO uploads (id, repository, started) VALUES (?, ?, ?)", [.text(id), .text(repository), .integer(Self.now)])
            }
        }
        sessions.set(id, UploadSessions.State())
        return Upload(id: id, repository: repository, length: 0)
    }

    /// A session of this repository, or `BLOB_UPLOAD_UNKNOWN`.
    public func upload(_ repository: String, _ id: String) throws -> Upload {
        let row = try withDatabase { try $0.query("SELECT repository FROM uploads WHERE id = ?", [.text(id)]).first }
        guard let row, row.string(0) == repository else {
            throw DistributionError(.blobUploadUnknown, "upload \(id.prefix(100)) is not known in repository \(repository)")
        }
        if objectStore != nil {
            return Upload(id: id, repository: repository, length: try withDatabase { try Self.chunkedLength(id, in: $0) })
        }
        var st = stat()
        guard stat(uploadPath(id), &st) == 0 else {
            throw DistributionError(.blobUploadUnknown, "upload \(id) has lost its data; start it again")
        }
        return Upload(id: id, repository: repository, length: Int64(st.st_size))
    }

    /// How much of a request body is read and dropped after its bytes could not be stored.
    static let drainLimit: Int64 = 1 << 30

    /// Appends a request body to a session. `start`, from `Content-Range`, must be the session's
    /// length (else 416); `expectedLength`, from `Content-Length`, must be what arrives (else the
    /// bytes that did arrive stay, and the client resumes from them).
    public func append<Body: AsyncSequence & Sendable>(_ upload: Upload, body: Body, start: Int64?, expectedLength: Int64?) async throws -> Upload
    where Body.Element == ByteBuffer {
        guard sessions.claim(upload.id) else {
            throw DistributionError(.blobUploadInvalid, "upload \(upload.id) is busy with another request")
        }
        defer { sessions.release(upload.id) }
        if let objectStore { return try await appendChunk(upload, body: body, start: start, expectedLength: expectedLength, to: objectStore) }
        let current = try self.upload(upload.repository, upload.id)
        if let start, start != current.length {
            throw DistributionError(.blobUploadInvalid, "chunk starts at byte \(start), but the upload has \(current.length) bytes: send the chunk that starts at \(current.length)",
                                    status: .rangeNotSatisfiable, headers: Self.progressHeaders(current))
        }
        var state = try hashState(current)
        let fd = open(uploadPath(upload.id), O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open upload \(upload.id)", errno: errno) }
        let writer = FileWriter(fd: fd, path: uploadPath(upload.id), owned: true)
        writer.writeBehind = FileWriter.writeBehindInterval
        var received: Int64 = 0
        do {
            var storing: (any Error)?
            var dropped: Int64 = 0
            for try await buffer in body {
                // After a failed write (a full disk) the client is still sending: the rest is read
                // and dropped, up to a bound, so that it hears why instead of stalling on a socket
                // nobody reads.
                if storing != nil {
                    dropped += Int64(buffer.readableBytes)
                    if dropped > Self.drainLimit { break }
                    continue
                }
                do {
                    try buffer.withUnsafeReadableBytes { bytes in
                        state.digester.update(bytes)
                        try writer.write(bytes)
                    }
                } catch {
                    storing = error
                    continue
                }
                received += Int64(buffer.readableBytes)
                state.length += Int64(buffer.readableBytes)
            }
            if let storing { throw storing }
            try writer.flush()
        } catch {
            // What arrived stays: the session is resumable from its length.
            try? writer.flush()
            sessions.set(upload.id, nil)
            throw error
        }
        sessions.set(upload.id, state)
        if let expectedLength, expectedLength != received {
            throw DistributionError(.sizeInvalid, "the request body ended after \(received) of its \(expectedLength) bytes; the upload has \(state.length) bytes and can be resumed from there")
        }
        return Upload(id: upload.id, repository: upload.repository, length: state.length)
    }

    /// The session's hash state, rebuilt from its file when this process has none for it.
    private func hashState(_ upload: Upload) throws -> UploadSessions.State {
        if let state = sessions.state(upload.id), state.length == upload.length { return state }
        return try hashFile(uploadPath(upload.id), .sha256)
    }

    /// One read of a file, hashed.
    private func hashFile(_ path: String, _ algorithm: DigestAlgorithm) throws -> UploadSessions.State {
        var state = UploadSessions.State(digester: Digester(algorithm))
        let reader = try FileReader(path: path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while case let n = try reader.read(into: buffer), n > 0 {
            state.digester.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            state.length += Int64(n)
        }
        return state
    }

    /// Completes a session as the blob `digest`: verified (sha256 from the state kept while it
    /// arrived; another algorithm by one read of the file), published into the content store and
    /// linked to the repository. A wrong digest ends the session and stores nothing.
    public func completeUpload(_ upload: Upload, digest: Digest) throws -> Int64 {
        guard sessions.claim(upload.id) else {
            throw DistributionError(.blobUploadInvalid, "upload \(upload.id) is busy with another request")
        }
        defer { sessions.release(upload.id) }
        let current = try verifiedUpload(upload, digest: digest)
        // Flushed first, outside the lock; published and linked in one transaction.
        try FileSystem.syncFile(uploadPath(upload.id))
        try writeUnlessCollecting(digest) { db in
            try content.adopt(uploadPath(upload.id), as: digest)
            try Self.link(digest, size: current.length, into: upload.repository, in: db)
            try db.execute("DELETE FROM uploads WHERE id = ?", [.text(upload.id)])
        }
        sessions.set(upload.id, nil)
        return current.length
    }

    /// The session, its bytes checked against `digest` (sha256 from the state kept while they
    /// arrived; another algorithm by one read of the file). A wrong digest ends the session.
    func verifiedUpload(_ upload: Upload, digest: Digest) throws -> Upload {
        let current = try self.upload(upload.repository, upload.id)
        let actual = digest.algorithm == .sha256 ? try hashState(current).digester.finalize()
                                                  : try hashFile(uploadPath(upload.id), digest.algorithm).digester.finalize()
        guard actual == digest else {
            try cancelUpload(current)
            throw DistributionError(.digestInvalid, "uploaded content has digest \(actual), not \(digest); the upload is discarded")
        }
        return current
    }

    /// Completes a session wherever blobs are kept: on the thread pool into the content store,
    /// or up to the object store.
    public func finishUpload(_ upload: Upload, digest: Digest) async throws -> Int64 {
        guard let objectStore else {
            return try await NIOThreadPool.singleton.runIfActive { try self.completeUpload(upload, digest: digest) }
        }
        guard sessions.claim(upload.id) else {
            throw DistributionError(.blobUploadInvalid, "upload \(upload.id) is busy with another request")
        }
        defer { sessions.release(upload.id) }
        return try await finishChunkedUpload(upload, digest: digest, in: objectStore)
    }

    /// Ends a session and deletes its bytes (an object store's chunks go with the next collection's sweep).
    public func cancelUpload(_ upload: Upload) throws {
        try withDatabase { db in
            try db.write {
                try db.execute("DELETE FROM upload_chunks WHERE upload = ?", [.text(upload.id)])
                try db.execute("DELETE FROM uploads WHERE id = ?", [.text(upload.id)])
            }
        }
        unlink(uploadPath(upload.id))
        sessions.set(upload.id, nil)
    }

    /// `Location`, `Range` and `Docker-Upload-UUID` of a session, as every upload answer carries them.
    static func progressHeaders(_ upload: Upload) -> HTTPFields {
        var headers = HTTPFields()
        headers[.location] = "/v2/\(upload.repository)/blobs/uploads/\(upload.id)"
        headers[.range] = "0-\(max(upload.length - 1, 0))"
        headers[.dockerUploadUUID] = upload.id
        return headers
    }
}
