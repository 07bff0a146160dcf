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
        let response = try await send(.HEAD, "/v2/\(repository)/blobs/\(digest)",
                                      scopes: [pushing ? Self.pushScope(repository) : Self.pullScope(repository)], timeout: .seconds(60))
        switch response.status.code {
        case 200..<300: return true
        case 404: return false
        default: throw error(response, body: ByteBuffer(), repository: repository, reference: nil, pushing: pushing)
        }
    }

    /// Streams a blob to `consume`, in order. A connection that drops midway is resumed with a
    /// `Range` request from the first byte not yet received, so `consume` sees each byte exactly
    /// once; `onResume` is told where each resumption starts.
    public func fetchBlob(_ repository: String, _ descriptor: Descriptor, from offset: Int64 = 0,
                          onResume: (@Sendable (Int64) -> Void)? = nil,
                          consume: (ByteBuffer) async throws -> Void) async throws {
        struct ConsumerFailure: Error { var error: Error }
        var received = offset
        var target = "/v2/\(repository)/blobs/\(descriptor.digest)"
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
            case 206:
                if let range = response.headers.first(name: "Content-Range"),
                   !range.hasPrefix("bytes \(received)-") {
                    throw StrataError(.registry, "blob \(descriptor.digest): asked for bytes from \(received), got \(range)")
                }
            case 416 where received == descriptor.size:
                _ = try? await response.body.collect(upTo: 1 << 20)
                return
            default:
                let body = try await response.body.collect(upTo: 1 << 20)
                if response.status.code == 404 {
                    throw StrataError(.blobUnknown, "blob \(descriptor.digest) is not in \(endpoint.name)/\(repository): \(Self.errorDetails(body))")
                }
                throw error(response, body: body, repository: repository, reference: nil, pushing: false)
            }
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
                throw HTTPClientError.remoteConnectionClosed  // a short body: the connection ended early
            } catch let failure as ConsumerFailure {
                throw failure.error
            } catch let e as StrataError {
                throw e
            } catch {
                interruptions += 1
                guard interruptions <= options.retries + 4, !(error is CancellationError) else {
                    throw StrataError(.unreachable,
                        "download of blob \(descriptor.digest) from \(endpoint.name) failed after \(received) of \(descriptor.size) bytes: \(error)")
                }
                onResume?(received)
                try await Task.sleep(nanoseconds: UInt64(options.retryDelay * 1e9))
            }
        }
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
            throw error(response, body: body, repository: repository, reference: nil, pushing: true)
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
                    throw uploadError(response, body: body, repository: repository, descriptor: descriptor)
                }
                location = await absolute(next)
                offset += length
                progress?(offset)
            }
            let response = try await send(.PUT, Self.appendingDigest(location, descriptor.digest),
                                          headers: ["Content-Length": "0"], scopes: scopes)
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code == 201 else { throw uploadError(response, body: body, repository: repository, descriptor: descriptor) }
            return
        }
        let size = descriptor.size
        let response = try await send(.PUT, Self.appendingDigest(location, descriptor.digest),
                                      headers: ["Content-Type": "application/octet-stream", "Content-Length": "\(size)"],
                                      scopes: scopes,
                                      body: { .stream(FileChunks(path: file, offset: 0, length: size), length: .known(size)) })
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 201 else { throw uploadError(response, body: body, repository: repository, descriptor: descriptor) }
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
        })
        let patchBody = try await response.body.collect(upTo: 1 << 20)
        // The producer's outcome first: a failure there (a digest check, say) is the real cause.
        let descriptor = try await finished()
        guard response.status.code == 202, let next = response.headers.first(name: "Location") else {
            throw uploadError(response, body: patchBody, repository: repository, descriptor: descriptor)
        }
        let location = await absolute(next)
        let put = try await send(.PUT, Self.appendingDigest(location, descriptor.digest), headers: ["Content-Length": "0"], scopes: scopes)
        let putBody = try await put.body.collect(upTo: 1 << 20)
        guard put.status.code == 201 else { throw uploadError(put, body: putBody, repository: repository, descriptor: descriptor) }
        return descriptor
    }

    static func appendingDigest(_ location: String, _ digest: Digest) -> String {
        location + (location.contains("?") ? "&" : "?") + "digest=\(percentEncode(digest.description))"
    }

    func uploadError(_ response: HTTPClientResponse, body: ByteBuffer, repository: String, descriptor: Descriptor) -> StrataError {
        if response.status.code == 400, Self.errorDetails(body).contains("digest invalid") {
            return StrataError(.digestMismatch, "\(endpoint.name)/\(repository) rejected blob \(descriptor.digest): \(Self.errorDetails(body))")
        }
        return error(response, body: body, repository: repository, reference: nil, pushing: true)
    }
}

/// A file's bytes (or a range of them) as an async sequence of buffers, for request bodies.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var fd: Int32 = -1
        var position: Int64
        var left: Int64

        mutating func next() async throws -> ByteBuffer? {
            guard left > 0 else {
                if fd >= 0 { close(fd); fd = -1 }
                return nil
            }
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
            }
            let want = Int(Swift.min(left, 1 << 20))
            var buffer = ByteBuffer()
            buffer.reserveCapacity(want)
            let descriptor = fd, at = position
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw -> Int in
                let r = pread(descriptor, raw.baseAddress, want, off_t(at))
                if r < 0 { throw StrataError.posix("cannot read \(path)", errno: errno) }
                return r
            }
            guard n > 0 else {
                close(fd)
                fd = -1
                throw StrataError(.sizeMismatch, "\(path) is shorter than expected")
            }
            position += Int64(n)
            left -= Int64(n)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, position: offset, left: length) }
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
