import Foundation
import HTTPTypes
import Hummingbird
import ImageSpec
import Logging
import ObjectStore
import NIOCore
import NIOPosix

/// The request context: Hummingbird's, plus the peer's address for the access log.
public struct RegistryContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// One line of the access log: who asked what, the answer, its size and how long it took.
public struct AccessRecord: Sendable {
    public var remoteAddress: String?
    public var method: String
    public var path: String
    public var status: Int
    public var bytes: Int64
    public var seconds: Double
    public var userAgent: String?

    /// `127.0.0.1 "GET /v2/ HTTP/1.1" 200 2 0.4ms "skopeo/1.9"`, as web servers write it.
    public var line: String {
        let ms = String(format: "%.1fms", seconds * 1000)
        return "\(remoteAddress ?? "-") \"\(method) \(path) HTTP/1.1\" \(status) \(bytes) \(ms) \"\(userAgent ?? "-")\""
    }
}

/// Answers every distribution-spec request. Routing is by `RegistryRoute` (the name has slashes,
/// which a path router cannot take apart), and every failure is the spec's JSON error.
public struct RegistryResponder: HTTPResponder {
    public typealias Context = RegistryContext

    let storage: RegistryStorage
    let accessLog: @Sendable (AccessRecord) -> Void
    let logger: Logger
    /// Blob bodies go out by `sendfile(2)` through `SendfileHandler` (plain HTTP); else 1 MiB reads.
    let zeroCopy: Bool
    /// Who may do what; `.open` checks nothing.
    let access: RegistryAccess
    /// `http` or `https`: the scheme of the token realm this server names.
    let scheme: String
    /// Set when this registry mirrors another: pulls fill it, pushes are refused.
    let cache: PullThroughCache?
    /// Listings answer at most this many entries per page, with a `Link` to the next.
    public static let pageLimit = 1000

    public init(storage: RegistryStorage, logger: Logger, zeroCopy: Bool = false, access: RegistryAccess? = nil, scheme: String = "http",
                cache: PullThroughCache? = nil, accessLog: @escaping @Sendable (AccessRecord) -> Void) {
        self.storage = storage
        self.cache = cache
        self.zeroCopy = zeroCopy
        self.access = access ?? .open(storage)
        self.scheme = scheme
        self.logger = logger
        self.accessLog = accessLog
    }

    public func respond(to request: Request, context: RegistryContext) async throws -> Response {
        let started = ContinuousClock.now
        let response = await answer(request, from: context.remoteAddress)
        let elapsed = started.duration(to: .now)
        accessLog(AccessRecord(remoteAddress: context.remoteAddress, method: request.method.rawValue, path: request.uri.description,
                               status: response.status.code, bytes: response.headers[.contentLength].flatMap { Int64($0) } ?? 0,
                               seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                               userAgent: request.headers[.userAgent]))
        return response
    }

    /// The answer to one request, every failure as the spec's JSON error. It needs no connection,
    /// so the upload fuzz target drives the server's state machine through it directly.
    public func answer(_ request: Request, from address: String? = nil) async -> Response {
        var response: Response
        do {
            response = try await dispatch(request, from: address)
        } catch let error as DistributionError {
            response = Self.errorResponse(error)
        } catch let error as StrataError {
            if error.code == .damagedBlob {
                logger.error("\(request.method) \(request.uri.path): \(error.message)")
            } else {
                logger.debug("\(request.method) \(request.uri.path): \(error.message)")
            }
            response = Self.errorResponse(DistributionError(error))
        } catch {
            logger.error("\(request.method) \(request.uri.path): \(error)")
            response = Self.errorResponse(DistributionError(.internalError, "the registry failed: \(error)"))
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        return response
    }

    /// Work that waits on the disk (fsync, a collection's lock) runs on NIO's thread pool: the
    /// few threads every request's async code shares are never parked in a system call.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// Counts an anonymous pull against the limit, if one is set, and returns Docker Hub's
    /// headers saying what is left; past the limit, the pull is refused with 429.
    private func anonymousPull(_ identity: Identity, from address: String?, counted: Bool) async throws -> [(String, String)] {
        guard let limit = access.pullLimit, identity.caller.user == nil else { return [] }
        let key = address ?? "-"
        guard counted else { return limit.headers(remaining: try await blocking { try limit.remaining(key) }) }
        guard let remaining = try await blocking({ try limit.take(key) }) else {
            var headers: HTTPFields = [:]
            for (field, value) in limit.headers(remaining: 0) { headers[HTTPField.Name(field)!] = value }
            headers[.retryAfter] = String(Int(limit.window))
            throw DistributionError(.tooManyRequests, "You have reached your pull rate limit as an anonymous user: \(limit.limit) pulls per \(DurationText.describe(limit.window)). Sign in (strata login / docker login) to pull without it",
                                    headers: headers)
        }
        return limit.headers(remaining: remaining)
    }

    /// Appends to the audit trail. A failure to write it is the server's to report, not the
    /// client's: what the request did is done.
    func record(_ event: RegistryEvent) {
        guard access.mode != .none || event.action != .pull else { return }
        do { try storage.events.append(event) } catch { logger.error("the event log: \(error)") }
    }

    static func errorResponse(_ error: DistributionError) -> Response {
        var headers = error.headers
        headers[.contentType] = "application/json"
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: error.body)))
    }

    private func dispatch(_ request: Request, from address: String?) async throws -> Response {
        switch request.uri.path {
        case "/token": return try await tokenEndpoint(request, from: address)
        case "/v1/search": return try await search(request, from: address)
        case "/v1/_ping":
            // docker search checks the v1 endpoint first; standalone: it signs in here, not at an index.
            var headers: HTTPFields = [:]
            headers[HTTPField.Name("X-Docker-Registry-Standalone")!] = "true"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "true")))
        default:
            if let page = try await web(request, from: address) { return page }
        }
        guard let parsed = RegistryRoute(path: request.uri.path) else {
            throw DistributionError(.unsupported, "no such endpoint: \(request.method) \(request.uri.path.prefix(200))", status: .notFound)
        }
        if let name = parsed.repository { try RegistryStorage.validate(repository: name) }
        // `busybox` is `library/busybox`, as Docker reads a name of one component.
        let route = parsed.canonical
        let method = request.method
        let identity = try await identify(request, from: address)
        try authorize(route, method, identity)
        let head = method == .head
        // An anonymous pull is counted (or refused) before any work is done for it, a cache's fetch from its upstream included.
        var limitHeaders: [(String, String)] = []
        if case .manifest = route, method == .get || head { limitHeaders = try await anonymousPull(identity, from: address, counted: !head) }
        if let cache {
            switch (route, method) {
            case (.manifest(let name, let reference), .get), (.manifest(let name, let reference), .head):
                if let parsed = try? ManifestReference(parsing: reference) { try await cache.refresh(name, parsed) }
            case (.blob(let name, let digest), .head):
                let parsed = try parseDigest(digest)
                if let size = try await cache.sizeForHEAD(name, parsed) {
                    var headers: HTTPFields = [:]
                    headers[.contentLength] = String(size)
                    headers[.dockerContentDigest] = parsed.description
                    headers[.contentType] = "application/octet-stream"
                    return Response(status: .ok, headers: headers)
                }
                try await cache.ensureBlob(name, parsed)
            case (.blob(let name, let digest), .get):
                try await cache.ensureBlob(name, try parseDigest(digest))
            case (.tags(let name), .get):
                if let upstream = await cache.tags(name) {
                    let (limit, last) = try page(request)
                    let after = upstream.filter { $0 > (last ?? "") }
                    return try listing("tags", limit == 0 ? [] : Array(after.prefix(limit + 1)), limit: limit, extra: ["name": name], path: "/v2/\(name)/tags/list")
                }
            case (.manifest, .put), (.manifest, .delete), (.blob, .delete), (.uploads, _), (.upload, _):
                throw cache.readOnly
            default: break
            }
        }
        switch (route, method) {
        case (.ping, .get), (.ping, .head):
            return json(Array("{}".utf8), head: head)
        case (.catalog, .get):
            return try catalog(request, identity.caller)
        case (.tags(let name), .get):
            return try tags(name, request)
        case (.manifest(let name, let reference), .get), (.manifest(let name, let reference), .head):
            var response = try await getManifest(name, reference, head: head)
            for (field, value) in limitHeaders { response.headers[HTTPField.Name(field)!] = value }
            if !head {
                record(RegistryEvent(.pull, actor: identity.caller.user, address: address, repository: name, reference: reference,
                                     digest: response.headers[.dockerContentDigest]))
            }
            return response
        case (.manifest(let name, let reference), .put):
            let response = try await putManifest(name, reference, request, pushedBy: identity.caller.user)
            record(RegistryEvent(.push, actor: identity.caller.user, address: address, repository: name, reference: reference,
                                 digest: response.headers[.dockerContentDigest]))
            return response
        case (.manifest(let name, let reference), .delete):
            let parsed = try ManifestReference(parsing: reference)
            try await blocking { try storage.deleteManifest(name, parsed) }
            record(RegistryEvent(.delete, actor: identity.caller.user, address: address, repository: name, reference: reference))
            return Response(status: .accepted)
        case (.blob(let name, let digest), .get), (.blob(let name, let digest), .head):
            return try await getBlob(name, try parseDigest(digest), request, head: head)
        case (.blob(let name, let digest), .delete):
            let parsed = try parseDigest(digest)
            try await blocking { try storage.deleteBlob(name, parsed) }
            record(RegistryEvent(.delete, actor: identity.caller.user, address: address, repository: name, digest: parsed.description))
            return Response(status: .accepted)
        case (.uploads(let name), .post):
            return try await startUpload(name, request, identity)
        case (.upload(let name, let id), .patch):
            let upload = try storage.upload(name, id)
            let range = try request.headers[.contentRange].map(Self.parseContentRange)
            let appended = try await storage.append(upload, body: request.body, start: range?.start,
                                                    expectedLength: try expectedLength(request, range: range))
            return Response(status: .accepted, headers: RegistryStorage.progressHeaders(appended))
        case (.upload(let name, let id), .put):
            return try await completeUpload(name, id, request)
        case (.upload(let name, let id), .get):
            return Response(status: .noContent, headers: RegistryStorage.progressHeaders(try storage.upload(name, id)))
        case (.upload(let name, let id), .delete):
            let upload = try storage.upload(name, id)
            try await blocking { try storage.cancelUpload(upload) }
            return Response(status: .noContent)
        case (.referrers(let name, let digest), .get):
            return try referrers(name, try parseDigest(digest), request)
        default:
            throw DistributionError(.unsupported, "\(method) is not supported on \(request.uri.path.prefix(200))")
        }
    }

    // MARK: blobs

    private func getBlob(_ name: String, _ digest: Digest, _ request: Request, head: Bool) async throws -> Response {
        guard let size = try storage.blobSize(name, digest) else {
            throw DistributionError(.blobUnknown, "blob \(digest) is not in repository \(name)", detail: digest.description)
        }
        var headers: HTTPFields = [:]
        headers[.dockerContentDigest] = digest.description
        headers[.contentType] = "application/octet-stream"
        headers[.acceptRanges] = "bytes"
        headers[.eTag] = "\"\(digest)\""
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        if let text = request.headers[.range] {
            guard let wanted = Self.parseRange(text, size: size) else {
                headers[.contentRange] = "bytes */\(size)"
                throw DistributionError(.blobUnknown, "range \(text.prefix(100)) is outside the blob's \(size) bytes",
                                        status: .rangeNotSatisfiable, headers: headers)
            }
            range = wanted
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
        }
        headers[.contentLength] = String(range.count)
        if head { return Response(status: status, headers: headers) }
        if let objectStore = storage.objectStore {
            return try await objectStoreBlob(objectStore, digest, range: range, status: status, headers: headers)
        }
        let path = storage.content.path(for: digest)
        let served = range
        // A damaged blob is never served: a file of the wrong length fails the request at once;
        // one not hashed since it last changed is hashed as it goes out (a range: whole, first),
        // and the connection is cut before its last byte if it does not match.
        guard let identity = VerifiedBlobs.FileIdentity(path: path) else {
            throw DistributionError(.blobUnknown, "blob \(digest) is not in repository \(name)", detail: digest.description)
        }
        guard identity.size == size else {
            throw StrataError.damagedBlob(digest, "\(identity.size) bytes on disk where \(size) were stored")
        }
        if !storage.verifiedBlobs.isVerified(digest, identity) {
            if served != 0..<size {
                try await blocking { [storage] in _ = try storage.content.verify(digest, expectedSize: size) }
                storage.verifiedBlobs.record(digest, identity)
            } else {
                let logger = self.logger, verifiedBlobs = storage.verifiedBlobs
                return Response(status: status, headers: headers, body: ResponseBody(contentLength: served.count) { writer in
                    do {
                        try await Self.stream(path, range: served, verifying: digest, to: &writer)
                    } catch let error as StrataError where error.code == .damagedBlob {
                        logger.error("GET \(request.uri.path): \(error.message)")
                        throw error
                    }
                    verifiedBlobs.record(digest, identity)
                    try await writer.finish(nil)
                })
            }
        }
        if zeroCopy, !served.isEmpty {
            headers[.strataSendfile] = "1"
            let request = SendfileRequest(path: path, range: served).encoded
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: served.count) { writer in
                try await writer.write(request)
                try await writer.finish(nil)
            })
        }
        let body = ResponseBody(contentLength: served.count) { writer in
            try await Self.stream(path, range: served, to: &writer)
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// A blob kept in an S3 bucket: a redirect to a presigned URL (`redirect: true`, so the bytes
    /// go from the store to the client), else its bytes relayed as they come from the store.
    private func objectStoreBlob(_ objectStore: S3Client, _ digest: Digest, range: Range<Int64>, status: HTTPResponse.Status,
                                 headers: HTTPFields) async throws -> Response {
        if storage.redirectBlobs, let url = storage.presignedBlobURL(digest) {
            var redirect: HTTPFields = [:]
            redirect[.location] = url
            redirect[.dockerContentDigest] = digest.description
            redirect[.contentLength] = "0"
            return Response(status: .temporaryRedirect, headers: redirect)
        }
        guard !range.isEmpty else { return Response(status: status, headers: headers) }
        let (object, body) = try await objectStore.get(RegistryStorage.objectKey(digest), range: range.lowerBound...(range.upperBound - 1))
        guard object.size == Int64(range.count) else {
            throw StrataError.damagedBlob(digest, "the object store sent \(object.size) bytes where \(range.count) were asked for")
        }
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: range.count) { writer in
            for try await buffer in body { try await writer.write(buffer) }
            try await writer.finish(nil)
        })
    }

    /// The file's bytes in `range`, 1 MiB at a time, so memory stays flat whatever the blob's size.
    /// `verifying`: the whole blob is hashed as it goes, and its last buffer is written only when
    /// it matches the digest.
    static func stream(_ path: String, range: Range<Int64>, verifying digest: Digest? = nil,
                       to writer: inout any ResponseBodyWriter) async throws {
        var digester = digest.map { Digester($0.algorithm) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        var offset = range.lowerBound
        var buffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
        while offset < range.upperBound {
            buffer.clear()
            let want = Int(min(Int64(1 << 20), range.upperBound - offset))
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                max(pread(fd, raw.baseAddress, want, off_t(offset)), 0)
            }
            guard n > 0 else { throw StrataError(.io, "\(path) ended early at byte \(offset)") }
            offset += Int64(n)
            if let digest {
                buffer.withUnsafeReadableBytes { digester?.update($0) }
                if offset == range.upperBound, let actual = digester?.finalize(), actual != digest {
                    throw StrataError.damagedBlob(digest, "its bytes hash to \(actual)")
                }
            }
            try await writer.write(buffer)
        }
    }

    /// A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; nil when it cannot be satisfied.
    public static func parseRange(_ text: String, size: Int64) -> Range<Int64>? {
        guard text.hasPrefix("bytes="), !text.contains(",") else { return nil }
        let spec = text.dropFirst(6)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let suffix = Int64(parts[1]), suffix > 0, size > 0 else { return nil }
            return max(size - suffix, 0)..<size
        }
        guard let start = Int64(parts[0]), start < size else { return nil }
        if parts[1].isEmpty { return start..<size }
        guard let end = Int64(parts[1]), end >= start else { return nil }
        return start..<min(end + 1, size)
    }

    // MARK: uploads

    private func startUpload(_ name: String, _ request: Request, _ identity: Identity) async throws -> Response {
        let query = request.uri.queryParameters
        if let mount = query["mount"] {
            let digest = try parseDigest(String(mount))
            // A mount from a repository the caller may not pull is an ordinary upload: the blob's
            // presence there is not told.
            if let from = query["from"].map({ RegistryStorage.canonical(String($0)) }), (try? RegistryStorage.validate(repository: from)) != nil,
               try allows(identity, .pull, on: from),
               try await blocking({ try storage.mount(digest, from: from, into: name) }) {
                return Self.blobCreated(name, digest)
            }
            // Not mountable: an ordinary session, as the spec says.
        }
        var upload = try storage.startUpload(name)
        if let digestText = query["digest"] {
            // Monolithic: the whole blob in the POST.
            let digest = try parseDigest(String(digestText))
            do {
                upload = try await storage.append(upload, body: request.body, start: nil, expectedLength: try expectedLength(request, range: nil))
                let arrived = upload
                _ = try await storage.finishUpload(arrived, digest: digest)
            } catch {
                try? storage.cancelUpload(upload)
                throw error
            }
            return Self.blobCreated(name, digest)
        }
        return Response(status: .accepted, headers: RegistryStorage.progressHeaders(upload))
    }

    private func completeUpload(_ name: String, _ id: String, _ request: Request) async throws -> Response {
        guard let digestText = request.uri.queryParameters["digest"] else {
            throw DistributionError(.digestInvalid, "PUT of an upload needs ?digest= naming the whole blob")
        }
        let digest = try parseDigest(String(digestText))
        var upload = try storage.upload(name, id)
        let range = try request.headers[.contentRange].map(Self.parseContentRange)
        let length = try expectedLength(request, range: range)
        if range != nil || (length ?? 0) > 0 || request.headers[.contentLength] == nil {
            upload = try await storage.append(upload, body: request.body, start: range?.start, expectedLength: length)
        }
        let arrived = upload
        _ = try await storage.finishUpload(arrived, digest: digest)
        return Self.blobCreated(name, digest)
    }

    /// 201 for a blob now in the repository, with where to get it.
    static func blobCreated(_ name: String, _ digest: Digest) -> Response {
        var headers: HTTPFields = [:]
        headers[.location] = "/v2/\(name)/blobs/\(digest)"
        headers[.dockerContentDigest] = digest.description
        return Response(status: .created, headers: headers)
    }

    /// How many bytes the body must have: `Content-Length`, which must agree with `Content-Range`.
    private func expectedLength(_ request: Request, range: (start: Int64, end: Int64)?) throws -> Int64? {
        let declared = try request.headers[.contentLength].map { text -> Int64 in
            guard let n = Int64(text), n >= 0 else { throw DistributionError(.sizeInvalid, "invalid Content-Length \(text.prefix(40))") }
            return n
        }
        if let range {
            let span = range.end - range.start + 1
            if let declared, declared != span {
                throw DistributionError(.sizeInvalid, "Content-Range \(range.start)-\(range.end) is \(span) bytes but Content-Length is \(declared)")
            }
            return span
        }
        return declared
    }

    /// `a-b` (the spec's form), also `bytes=a-b` and `bytes a-b/*`.
    public static func parseContentRange(_ text: String) throws -> (start: Int64, end: Int64) {
        var spec = Substring(text)
        if spec.hasPrefix("bytes=") { spec = spec.dropFirst(6) } else if spec.hasPrefix("bytes ") { spec = spec.dropFirst(6) }
        if let slash = spec.firstIndex(of: "/") { spec = spec[..<slash] }
        let parts = spec.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), let end = Int64(parts[1]), start >= 0, end >= start else {
            throw DistributionError(.blobUploadInvalid, "invalid Content-Range \"\(text.prefix(60))\": expected START-END", status: .rangeNotSatisfiable)
        }
        return (start, end)
    }

    // MARK: manifests

    private func getManifest(_ name: String, _ reference: String, head: Bool) async throws -> Response {
        // A reference that is no tag or digest names nothing: 404, as the conformance suite expects.
        guard let parsed = try? ManifestReference(parsing: reference), let manifest = try storage.manifest(name, parsed) else {
            throw DistributionError(.manifestUnknown, "manifest \(reference.prefix(200)) is not in repository \(name)")
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = manifest.mediaType
        headers[.dockerContentDigest] = manifest.digest.description
        headers[.contentLength] = String(manifest.size)
        headers[.eTag] = "\"\(manifest.digest)\""
        if head { return Response(status: .ok, headers: headers) }
        let bytes = try await storage.readBlob(manifest.digest, limit: ValidatedManifest.maxBytes)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func putManifest(_ name: String, _ referenceText: String, _ request: Request, pushedBy: String?) async throws -> Response {
        let reference = try ManifestReference(parsing: referenceText)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > ValidatedManifest.maxBytes {
            throw DistributionError(.manifestInvalid, "manifest is \(length) bytes, over the limit of \(ValidatedManifest.maxBytes)", status: .contentTooLarge)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: ValidatedManifest.maxBytes)
        } catch is NIOTooManyBytesError {
            throw DistributionError(.manifestInvalid, "manifest is over the limit of \(ValidatedManifest.maxBytes) bytes", status: .contentTooLarge)
        }
        let bytes = Array(buffer.readableBytesView)
        var digest: Digest?
        if case .digest(let d) = reference { digest = d }
        let manifest = try ValidatedManifest(bytes: bytes, contentType: request.headers[.contentType], reference: digest)
        var tag: String?
        if case .tag(let t) = reference { tag = t }
        try await storage.storeManifest(name, manifest, bytes: bytes, tag: tag, pushedBy: pushedBy)
        var headers: HTTPFields = [:]
        headers[.location] = "/v2/\(name)/manifests/\(manifest.digest)"
        headers[.dockerContentDigest] = manifest.digest.description
        if let subject = manifest.subject { headers[.ociSubject] = subject.description }
        return Response(status: .created, headers: headers)
    }

    private func referrers(_ name: String, _ digest: Digest, _ request: Request) throws -> Response {
        let artifactType = request.uri.queryParameters["artifactType"].map(String.init)
        let descriptors = try storage.referrers(name, of: digest, artifactType: artifactType)
        let index = Index(mediaType: .ociIndex, manifests: descriptors)
        var headers: HTTPFields = [:]
        headers[.contentType] = MediaType.ociIndex.rawValue
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        let bytes = Array(try JSONCoding.encoder.encode(index))
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    // MARK: listings

    private func page(_ request: Request) throws -> (limit: Int, last: String?) {
        let query = request.uri.queryParameters
        var limit = Self.pageLimit
        if let text = query["n"] {
            guard let n = Int(text), n >= 0 else {
                throw DistributionError(.paginationNumberInvalid, "invalid n=\(text.prefix(40)): expected a number of entries from 0 up")
            }
            // A bigger page than the server gives is clamped, with a Link to the rest, as the spec allows.
            limit = min(n, Self.pageLimit)
        }
        return (limit, query["last"].map(String.init))
    }

    private func listing(_ key: String, _ items: [String], limit: Int, extra: [String: String], path: String) throws -> Response {
        let more = items.count > limit
        let shown = Array(items.prefix(limit))
        var object: [String: JSONValue] = extra.mapValues { .string($0) }
        object[key] = .array(shown.map { .string($0) })
        let bytes = Array(try JSONCoding.encoder.encode(JSONValue.object(object)))
        var headers: HTTPFields = [:]
        headers[.contentType] = "application/json"
        if more, let last = shown.last {
            let escaped = last.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? last
            headers[.link] = "<\(path)?last=\(escaped)&n=\(limit)>; rel=\"next\""
        }
        return json(bytes, headers: headers, head: false)
    }

    private func catalog(_ request: Request, _ caller: Caller) throws -> Response {
        let (limit, last) = try page(request)
        let names = limit == 0 ? [] : try storage.visibleRepositories(caller, after: last, limit: limit + 1).map(\.name)
        return try listing("repositories", names, limit: limit, extra: [:], path: "/v2/_catalog")
    }

    private func tags(_ name: String, _ request: Request) throws -> Response {
        guard try storage.repositoryExists(name) else {
            throw DistributionError(.nameUnknown, "repository \(name) is not known to this registry", detail: name)
        }
        let (limit, last) = try page(request)
        let tags = limit == 0 ? [] : try storage.tags(name, after: last, limit: limit + 1)
        return try listing("tags", tags, limit: limit, extra: ["name": name], path: "/v2/\(name)/tags/list")
    }

    // MARK: helpers

    private func json(_ bytes: [UInt8], headers: HTTPFields = [:], head: Bool) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func parseDigest(_ text: String) throws -> Digest {
        do { return try Digest(parsing: text) } catch {
            throw DistributionError(.digestInvalid, "invalid digest \"\(text.prefix(200))\": \((error as? StrataError)?.message ?? "\(error)")")
        }
    }
}
