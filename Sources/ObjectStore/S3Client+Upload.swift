import Crypto
import Foundation
import ImageSpec
import NIOCore

extension S3Client {
    /// What `upload` stored.
    public struct Uploaded: Sendable, Equatable {
        public var size: Int64
        /// The SHA-256 of the bytes, computed as they went by: the caller checks it against the
        /// digest it was promised before publishing the object.
        public var digest: ImageSpec.Digest
    }

    /// Streams `body` into the object `key`: one PUT when it fits in a part, else a multipart
    /// upload of `configuration.partSize` parts, `concurrency` of them in flight. The object is
    /// visible only once whole; on any failure (the body's, the store's, a cancellation) the
    /// multipart upload is aborted, so no part of it is left or seen.
    /// `expected`: the digest the bytes must have; on a mismatch nothing becomes visible
    /// (`.digestMismatch`).
    public func upload<Body: AsyncSequence & Sendable>(_ key: String, from body: Body, expected: ImageSpec.Digest? = nil,
                                                       concurrency: Int = 4) async throws -> Uploaded
    where Body.Element == ByteBuffer {
        let partSize = configuration.partSize
        var hash = SHA256()
        var size: Int64 = 0
        var pending: [UInt8] = []
        var iterator = body.makeAsyncIterator()

        /// Fills `pending` up to a part; false when the body has ended.
        func fill() async throws -> Bool {
            while pending.count < partSize {
                guard var buffer = try await iterator.next() else { return false }
                buffer.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
                size += Int64(buffer.readableBytes)
                pending += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
            return true
        }

        /// The digest of all the bytes, once they are all read; a mismatch with `expected` throws.
        func finished() throws -> Uploaded {
            let uploaded = Uploaded(size: size, digest: try ImageSpec.Digest(algorithm: .sha256, encoded: Data(hash.finalize()).hex))
            if let expected, expected != uploaded.digest {
                throw StrataError(.digestMismatch, "the bytes for \(key) hash to \(uploaded.digest), not \(expected): nothing was stored")
            }
            return uploaded
        }
        var more = try await fill()
        if !more {
            let uploaded = try finished()
            try await put(key, pending)
            return uploaded
        }
        let id = try await startMultipart(key)
        var uploaded: Uploaded?
        do {
            var parts: [Part] = []
            try await withThrowingTaskGroup(of: Part.self) { group in
                var number = 0
                var inFlight = 0
                while true {
                    // A part is exactly partSize; the last one carries the rest.
                    let chunk = Array(pending.prefix(partSize))
                    pending.removeFirst(chunk.count)
                    number += 1
                    let partNumber = number
                    group.addTask { try await self.uploadPart(key, uploadID: id, number: partNumber, chunk) }
                    inFlight += 1
                    if inFlight >= concurrency, let done = try await group.next() {
                        parts.append(done)
                        inFlight -= 1
                    }
                    if !more && pending.isEmpty { break }
                    more = try await fill()
                    if !more && pending.isEmpty { break }
                }
                for try await done in group { parts.append(done) }
            }
            uploaded = try finished()
            do {
                try await completeMultipart(key, uploadID: id, parts: parts.sorted { $0.number < $1.number })
            } catch let error as StrataError where error.cause(as: S3Error.self)?.code == "NoSuchUpload" {
                // A completion whose answer was lost, retried: done if the object is there whole.
                guard try await head(key)?.size == size else { throw error }
            }
        } catch {
            // Best effort, and not cancelled with the task: a failed upload leaves no parts behind.
            await Task.detached { try? await self.abortMultipart(key, uploadID: id) }.value
            throw error
        }
        return uploaded!
    }

    /// The multipart uploads begun under `prefix` and not completed or aborted: what a crash
    /// leaves, for a check to find and abort.
    public func unfinishedUploads(prefix: String) async throws -> [(key: String, uploadID: String)] {
        let answer = try await send("GET", key: nil, query: [("uploads", ""), ("prefix", configuration.prefix + prefix)])
        return S3XML.elements("Upload", in: answer.text).compactMap { record in
            let record = String(record)
            guard let key = S3XML.value("Key", in: record), key.hasPrefix(configuration.prefix), let id = S3XML.value("UploadId", in: record) else { return nil }
            return (String(key.dropFirst(configuration.prefix.count)), id)
        }
    }
}
