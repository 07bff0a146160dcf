import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

extension RegistryClient {
    /// HEAD a blob in a repository: whether the registry has it there.
    public func blobExists(_ repository: String, _ digest: Digest, pushing: Bool = false) async throws -> Bool {
        let target = "/v2/\(repository)/blobs/\(digest)"
        let response = try await send(.HEAD, target, scopes: [pushing ? Self.pushScope(repository) : Self.pullScope(repository)],
                                      timeout: .seconds(60))
        switch response.status.code {
        case 200..<300: return true
        case 404: return false
        default: throw await error(.HEAD, target, response, body: ByteBuffer(), repository: repository, reference: nil, blob: digest, pushing: pushing)
        }
    }

    /// Streams a blob to `consume`, in order. A connection that drops midway is resumed with a
    /// `Range` request from the first byte not yet received, so `consume` sees each byte exactly
    /// once (a registry that answers 200 instead of 206 has the bytes already seen skipped);
    /// `onResume` is told where each resumption starts. Gives up after `retries + 1`
    /// interruptions in a row that brought no new byte, or 100 in all.
    public func fetchBlob(_ repository: String, _ descriptor: Descriptor, from offset: Int64 = 0,
                          onResume: (@Sendable (Int64) -> Void)? = nil,
                          consume: (ByteBuffer) async throws -> Void) async throws {
        struct ConsumerFailure: Error { var error: Error }
        var received = offset
        var target = "/v2/\(repository)/blobs/\(descriptor.digest)"
        var fruitless = 0
        var interruptions = 0
        var redirects = 0
        while true {
            var headers: HTTPHeaders = [:]
            if received > 0 { headers.add(name: "Range", value: "bytes=\(received)-") }
            let response = try await send(.GET, target, headers: headers, scopes: [Self.pullScope(repository)])
            var skip: Int64 = 0
            switch response.status.code {
            case 301, 302, 303, 307, 308:
                _ = try? await response.body.collect(upTo: 1 << 20)
                guard redirects < 10, let location = response.headers.first(name: "Location") else {
                    throw StrataError(.registry, "blob \(descriptor.digest): too many redirects")
                }
                redirects += 1
                target = await absolute(location)
                continue
            case 200:
                skip = received  // the server ignored the range: drop what we already have
                if let length = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }) {
                    try checkSize(length, of: descriptor)
                }
            case 206:
                if let range = response.headers.first(name: "Content-Range") {
                    guard range.hasPrefix("bytes \(received)-") else {
                        throw StrataError(.registry, "blob \(descriptor.digest): asked for bytes from \(received), got \(range)")
                    }
                    if let total = range.split(separator: "/").last.flatMap({ Int64($0) }) { try checkSize(total, of: descriptor) }
                }
            case 416:
                _ = try? await response.body.collect(upTo: 1 << 20)
                if received == descriptor.size { return }
                // Nothing from `received` on: the registry's blob is shorter than its descriptor.
                throw StrataError(.sizeMismatch, "blob \(descriptor.digest) in \(endpoint.name)/\(repository) ends after \(received) bytes, its descriptor says \(descriptor.size)")
            default:
                let body = try await response.body.collect(upTo: 1 << 20)
                throw await error(.GET, target, response, body: body, repository: repository, reference: nil, blob: descriptor.digest, pushing: false)
            }
            let before = received
            do {
                for try await var chunk in response.body {
                    if skip > 0 {
                        let drop = Int(min(skip, Int64(chunk.readableBytes)))
                        chunk.moveReaderIndex(forwardBy: drop)
                        skip -= Int64(drop)
                        if chunk.readableBytes == 0 { continue }
                    }
                    received += Int64(chunk.readableBytes)
                    if descriptor.size >= 0, received > descriptor.size {
                        throw StrataError(.sizeMismatch, "blob \(descriptor.digest) is larger than the \(descriptor.size) bytes its descriptor says")
                    }
                    do { try await consume(chunk) } catch { throw ConsumerFailure(error: error) }
                }
                if descriptor.size < 0 || received == descriptor.size { return }
                // A short body: the connection ended early.
                throw ConnectionFailure(kind: .closed, method: "GET", url: await absolute(target), afterContact: true,
                                        reason: "the body ended after \(received) of \(descriptor.size) bytes")
            } catch let failure as ConsumerFailure {
                throw failure.error
            } catch {
                if error is StrataError || error is CancellationError || Task.isCancelled { throw error }
                let url = await absolute(target)
                guard let failure = ConnectionFailure.classify(error, method: "GET", url: url, afterContact: true) else { throw error }
                fruitless = received > before ? 0 : fruitless + 1
                interruptions += 1
                guard failure.isRetryable, fruitless <= retry.retries, interruptions <= 100 else {
                    throw StrataError(.unreachable,
                        "download of blob \(descriptor.digest) from \(endpoint.name) failed after \(received) of \(descriptor.size) bytes: \(failure.reason)",
                        cause: failure)
                }
                let delay = fruitless == 0 ? 0 : retry.delay(attempt: fruitless)
                logger.debug("blob \(descriptor.digest) broke off after \(received) of \(descriptor.size) bytes (\(failure.reason)); resuming in \(HTTPTransport.seconds(delay))")
                onResume?(received)
                if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
            }
        }
    }

    /// A blob the registry says is of another size than its descriptor is the wrong blob: no
    /// resuming makes it right.
    private func checkSize(_ size: Int64, of descriptor: Descriptor) throws {
        guard descriptor.size >= 0, size != descriptor.size else { return }
        throw StrataError(.sizeMismatch, "the registry serves blob \(descriptor.digest) with \(size) bytes, its descriptor says \(descriptor.size)")
    }

    /// A registry-relative location made absolute.
    func absolute(_ location: String) async -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        let transport = await state.transport ?? endpoint.transports[0]
        return endpoint.baseURL(transport) + (location.hasPrefix("/") ? location : "/" + location)
    }

    /// What starting an upload gave: the blob mounted from another repository, or an upload session.
    public enum UploadStart: Sendable, Equatable {
        case mounted
        case session(location: String)
    }

    /// POST an upload; with `mount`/`from`, asks for a cross-repository mount first (the registry
    /// answers 201 when it mounted the blob, or opens an upload session when it could not).
    public func startUpload(_ repository: String, mount digest: Digest? = nil, from source: String? = nil) async throws -> UploadStart {
        var target = "/v2/\(repository)/blobs/uploads/"
        var scopes = [Self.pushScope(repository)]
        if let digest, let source {
            target += "?mount=\(digest)&from=\(Self.percentEncode(source))"
            scopes.append(Self.pullScope(source))
        }
        let response = try await send(.POST, target, headers: ["Content-Length": "0"], scopes: scopes, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 20)
        switch response.status.code {
        case 201: return .mounted
        case 202:
            guard let location = response.headers.first(name: "Location") else {
                throw StrataError(.registry, "\(endpoint.name) opened an upload without a Location")
            }
            return .session(location: await absolute(location))
        default:
            throw await error(.POST, target, response, body: body, repository: repository, reference: nil, pushing: true)
        }
    }

    /// Uploads a blob from a file into an open session: in one PUT (monolithic), or in PATCH
    /// chunks of `chunkSize` bytes followed by the closing PUT (chunked).
    public func upload(_ repository: String, session: String, descriptor: Descriptor, file: String,
                       chunkSize: Int64? = nil, progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        var location = session
        let scopes = [Self.pushScope(repository)]
        if let chunkSize, chunkSize > 0, descriptor.size > chunkSize {
            var offset: Int64 = 0
            while offset < descriptor.size {
                let length = Swift.min(chunkSize, descriptor.size - offset)
                let start = offset
                let response = try await send(.PATCH, location,
                                              headers: ["Content-Type": "application/octet-stream",
                                                        "Content-Range": "\(start)-\(start + length - 1)",
                                                        "Content-Length": "\(length)"],
                                              scopes: scopes,
                                              body: { .stream(FileChunks(path: file, offset: start, length: length), length: .known(length)) })
                let body = try await response.body.collect(upTo: 1 << 20)
                guard response.status.code == 202, let next = response.headers.first(name: "Location") else {
                    throw await uploadError(.PATCH, location, response, body: body, repository: repository, descriptor: descriptor)
                }
                location = await absolute(next)
                offset += length
                progress?(offset)
            }
            // The chunks went out as they were; the session is closed only over bytes that hash right.
            for try await _ in FileChunks(path: file, offset: 0, length: descriptor.size, expected: descriptor.digest) {}
            let put = Self.appendingDigest(location, descriptor.digest)
            let response = try await send(.PUT, put, headers: ["Content-Length": "0"], scopes: scopes)
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code == 201 else {
                throw await uploadError(.PUT, put, response, body: body, repository: repository, descriptor: descriptor)
            }
            return
        }
        let size = descriptor.size
        let put = Self.appendingDigest(location, descriptor.digest)
        let response = try await send(.PUT, put, headers: ["Content-Type": "application/octet-stream", "Content-Length": "\(size)"],
                                      scopes: scopes,
                                      body: { .stream(FileChunks(path: file, offset: 0, length: size, expected: descriptor.digest),
                                                      length: .known(size)) })
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 201 else {
            throw await uploadError(.PUT, put, response, body: body, repository: repository, descriptor: descriptor)
        }
        progress?(size)
    }

    /// Streams a blob whose length and digest are known only at its end (a layer compressed on
    /// the way) into an open session: one PATCH with a chunked body, then the PUT that names the
    /// digest `finished` returns once the body is done. The body cannot be replayed, so a failure
    /// is not retried here: the caller starts over.
    public func uploadStreaming<Body: AsyncSequence & Sendable>(
        _ repository: String, session: String, body: Body, what: String,
        finished: @Sendable () async throws -> Descriptor
    ) async throws -> Descriptor where Body.Element == ByteBuffer {
        let scopes = [Self.pushScope(repository)]
        let sent = OneShot()
        let interrupted = "\(endpoint.name)/\(repository): the upload of \(what) was interrupted and cannot be resent as a stream"
        let response = try await send(.PATCH, session, headers: ["Content-Type": "application/octet-stream"], scopes: scopes,
                                      body: {
            guard sent.take() else {
                throw StrataError(.registry, interrupted)
            }
            return .stream(body, length: .unknown)
        }, replayable: false)
        let patchBody = try await response.body.collect(upTo: 1 << 20)
        // The producer's outcome first: a failure there (a digest check, say) is the real cause.
        let descriptor = try await finished()
        guard response.status.code == 202, let next = response.headers.first(name: "Location") else {
            throw await uploadError(.PATCH, session, response, body: patchBody, repository: repository, descriptor: descriptor)
        }
        let location = Self.appendingDigest(await absolute(next), descriptor.digest)
        let put = try await send(.PUT, location, headers: ["Content-Length": "0"], scopes: scopes)
        let putBody = try await put.body.collect(upTo: 1 << 20)
        guard put.status.code == 201 else {
            throw await uploadError(.PUT, location, put, body: putBody, repository: repository, descriptor: descriptor)
        }
        return descriptor
    }

    static func appendingDigest(_ location: String, _ digest: Digest) -> String {
        location + (location.contains("?") ? "&" : "?") + "digest=\(percentEncode(digest.description))"
    }

    func uploadError(_ method: HTTPMethod, _ target: String, _ response: HTTPClientResponse, body: ByteBuffer,
                     repository: String, descriptor: Descriptor) async -> StrataError {
        await error(method, target, response, body: body, repository: repository, reference: nil, blob: descriptor.digest, pushing: true)
    }
}

/// A file's bytes (or a range of them) as an async sequence of buffers, for request bodies. The
/// descriptor belongs to the iterator's `OpenFile`, closed when the iterator is released: an
/// upload that fails, is retried or is cancelled midway (the HTTP client drops the body unread)
/// leaves no descriptor behind.
///
/// Given the whole file's digest (`expected`), the bytes are hashed as they go and the last buffer
/// is handed over only when they match: a damaged blob is never sent whole, so no registry can
/// accept it.
public struct FileChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64
    var expected: Digest? = nil

    public init(path: String, offset: Int64 = 0, length: Int64, expected: Digest? = nil) {
        self.path = path
        self.offset = offset
        self.length = length
        self.expected = expected
    }

    /// An open descriptor, closed once, when it is done with or forgotten.
    final class OpenFile {
        private(set) var fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
        deinit { close() }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var file: OpenFile?
        var position: Int64
        var left: Int64
        let expected: Digest?
        var digester: Digester?

        public mutating func next() async throws -> ByteBuffer? {
            guard left > 0 else {
                file?.close()
                file = nil
                return nil
            }
            if file == nil {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
                file = OpenFile(fd)
            }
            let want = Int(Swift.min(left, 1 << 20))
            var buffer = ByteBuffer()
            buffer.reserveCapacity(want)
            let descriptor = file!.fd, at = position
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw -> Int in
                let r = pread(descriptor, raw.baseAddress, want, off_t(at))
                if r < 0 { throw StrataError.posix("cannot read \(path)", errno: errno) }
                return r
            }
            guard n > 0 else {
                file?.close()
                file = nil
                throw StrataError(.sizeMismatch, "\(path) is shorter than expected")
            }
            position += Int64(n)
            left -= Int64(n)
            if let expected {
                buffer.withUnsafeReadableBytes { digester?.update($0) }
                if left == 0, let actual = digester?.finalize(), actual != expected {
                    throw StrataError.damagedBlob(expected, "its bytes in \(path) hash to \(actual)")
                }
            }
            return buffer
        }
    }

    /// Each iteration (a retried request's too) starts the hash afresh.
    public func makeAsyncIterator() -> AsyncIterator {
        let whole = offset == 0 && expected != nil
        return AsyncIterator(path: path, position: offset, left: length, expected: whole ? expected : nil,
                             digester: whole ? Digester(expected!.algorithm) : nil)
    }
}

/// True the first time only: a request body that can be sent once.
final class OneShot: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool {
        lock.withLock {
            defer { taken = true }
            return !taken
        }
    }
}
