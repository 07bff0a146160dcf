import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small OCI distribution registry inside the test process, on 127.0.0.1 (plain HTTP or TLS):
/// manifests, blobs with `Range`, uploads (monolithic, chunked, mounts), tag lists, Basic or
/// Bearer authentication with a token endpoint — and faults to inject: answers cut after N
/// bytes, 200 to a Range request, 429/503 for the first K requests, uploads dropped midway,
/// requests never answered. Every request is recorded. `stop()` closes it and its connections.
public final class InProcessRegistry: @unchecked Sendable {
    /// How the registry wants clients to authenticate.
    public enum Auth: Sendable {
        case none
        case basic(username: String, password: String)
        case bearer(BearerAuth)
    }

    /// Distribution's token authentication: a token endpoint at `/token` that hands out tokens
    /// for `repository:NAME:ACTIONS` scopes, honoured for `lifetime` seconds.
    public struct BearerAuth: Sendable {
        public var username: String?
        public var password: String?
        /// An OAuth2 refresh token the endpoint accepts (Docker's identity token).
        public var identityToken: String?
        /// Tokens without credentials may pull.
        public var anonymousPull: Bool
        public var lifetime: Double
        /// The `expires_in` the endpoint answers (default: `lifetime`, rounded).
        public var advertisedLifetime: Int?

        public init(username: String? = nil, password: String? = nil, identityToken: String? = nil, anonymousPull: Bool = true,
                    lifetime: Double = 300, advertisedLifetime: Int? = nil) {
            self.username = username
            self.password = password
            self.identityToken = identityToken
            self.anonymousPull = anonymousPull
            self.lifetime = lifetime
            self.advertisedLifetime = advertisedLifetime
        }
    }

    /// Something to do instead of (or to) the right answer.
    public enum Fault: Sendable {
        /// Answer with this status, an OCI error body (`code`, else one that suits the status)
        /// and these headers (`Retry-After`, say).
        case status(Int, code: String? = nil, headers: [String: String] = [:])
        /// Send the answer's head and the first `afterBytes` bytes of its body, then close.
        case dropResponse(afterBytes: Int)
        /// Answer a `Range` request with 200 and the whole body.
        case ignoreRange
        /// Close the connection once `afterBytes` bytes of the request body have arrived, unanswered.
        case dropRequest(afterBytes: Int)
        /// Never answer, and stop reading the request.
        case stall
    }

    /// A request as the registry saw it, and what it answered (0: no answer).
    public struct Request: Sendable {
        public var method: String
        /// Path and query.
        public var uri: String
        public var headers: [String: String]
        public var status: Int

        public var path: String { String(uri.prefix { $0 != "?" }) }
        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    public let port: Int
    public let auth: Auth
    public let tls: Bool
    public var host: String { "127.0.0.1:\(port)" }
    public var baseURL: String { "\(tls ? "https" : "http")://\(host)" }

    private let lock = NSLock()
    private var blobs: [String: [Digest: [UInt8]]] = [:]
    private var manifests: [String: [String: (bytes: [UInt8], mediaType: String)]] = [:]
    private var uploads: [String: (repository: String, bytes: [UInt8])] = [:]
    private var files: [String: [UInt8]] = [:]
    private var tokens: [String: (grants: Set<String>, expires: Date)] = [:]
    private var faults: [(fault: Fault, remaining: Int, matches: @Sendable (Request) -> Bool)] = []
    private var log: [Request] = []
    private var issued: [String] = []
    private let serverChannel: Channel
    private let children: ChildChannels

    private init(port: Int, auth: Auth, tls: Bool, channel: Channel, children: ChildChannels) {
        self.port = port
        self.auth = auth
        self.tls = tls
        serverChannel = channel
        self.children = children
    }

    /// Starts a registry on a free port of 127.0.0.1; with `tls`, HTTPS with a self-signed certificate.
    public static func start(auth: Auth = .none, tls: Bool = false) async throws -> InProcessRegistry {
        let sslContext = try tls ? NIOSSLContext(configuration: TestCertificate.shared.serverConfiguration()) : nil
        let holder = RegistryHolder()
        let children = ChildChannels()
        let channel = try await children.listen { pipeline in
            if let sslContext { try pipeline.addHandler(NIOSSLServerHandler(context: sslContext)) }
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandler(RegistryChannelHandler(holder: holder))
        }
        let registry = InProcessRegistry(port: channel.localAddress?.port ?? 0, auth: auth, tls: tls, channel: channel, children: children)
        holder.registry = registry
        return registry
    }

    /// Closes the listening socket and every connection.
    public func stop() async {
        try? await serverChannel.close()
        await children.closeAll()
    }

    // MARK: content

    /// Stores a blob in a repository; returns its descriptor.
    @discardableResult
    public func putBlob(_ bytes: [UInt8], in repository: String, mediaType: MediaType = .ociLayer) -> Descriptor {
        let digest = Digest.sha256(of: bytes)
        putBlob(bytes, as: digest, in: repository)
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    /// Stores bytes under a digest they may not have: a registry serving a corrupt blob.
    public func putBlob(_ bytes: [UInt8], as digest: Digest, in repository: String) {
        lock.withLock { blobs[repository, default: [:]][digest] = bytes }
    }

    public func blob(_ digest: Digest, in repository: String) -> [UInt8]? { lock.withLock { blobs[repository]?[digest] } }

    /// Stores a manifest under its digest and, if given, a tag; returns its digest.
    @discardableResult
    public func putManifest(_ bytes: [UInt8], mediaType: MediaType, in repository: String, tag: String? = nil) -> Digest {
        let digest = Digest.sha256(of: bytes)
        putManifest(bytes, mediaType: mediaType, as: digest.description, in: repository)
        if let tag { putManifest(bytes, mediaType: mediaType, as: tag, in: repository) }
        return digest
    }

    /// Stores a manifest under any reference (a digest it does not have: a corrupt manifest).
    public func putManifest(_ bytes: [UInt8], mediaType: MediaType, as reference: String, in repository: String) {
        lock.withLock { manifests[repository, default: [:]][reference] = (bytes, mediaType.rawValue) }
    }

    public func manifest(_ reference: String, in repository: String) -> [UInt8]? {
        lock.withLock { manifests[repository]?[reference]?.bytes }
    }

    /// Stores a whole image: its layers, config and manifest, under `tag`.
    public func put(_ image: TestImage, in repository: String, tag: String) {
        for (layer, bytes) in zip(image.layers, image.layerBytes) { putBlob(bytes, as: layer.digest, in: repository) }
        putBlob(image.configBytes, as: image.config.digest, in: repository)
        putManifest(image.manifestBytes, mediaType: image.manifestMediaType, in: repository, tag: tag)
    }

    /// Every token handed out so far expires now (as if its lifetime had passed).
    public func expireTokens() {
        lock.withLock { for key in tokens.keys { tokens[key]!.expires = Date.distantPast } }
    }

    /// Serves `bytes` at `path` (outside `/v2/`), as a plain web server: downloads for `ADD`.
    public func putFile(_ path: String, _ bytes: [UInt8]) { lock.withLock { files[path] = bytes } }

    // MARK: faults and what happened

    /// Applies `fault` to the next `times` requests `matching` selects.
    public func inject(_ fault: Fault, times: Int = 1, matching: @escaping @Sendable (Request) -> Bool = { _ in true }) {
        lock.withLock { faults.append((fault, times, matching)) }
    }

    /// Every request so far, in order.
    public var requests: [Request] { lock.withLock { log } }
    /// Tokens the token endpoint handed out, in order.
    public var tokensIssued: Int { lock.withLock { issued.count } }
    public var issuedTokens: [String] { lock.withLock { issued } }

    func takeFault(for request: Request) -> Fault? {
        lock.withLock {
            guard let i = faults.firstIndex(where: { $0.remaining > 0 && $0.matches(request) }) else { return nil }
            faults[i].remaining -= 1
            return faults[i].fault
        }
    }

    func record(_ request: Request, status: Int) {
        var r = request
        r.status = status
        lock.withLock { log.append(r) }
    }

    // MARK: answers

    struct Answer {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// HEAD: the length a GET would have, no body.
        var headOnly = false
        var cutAfter: Int?
    }

    static func errorBody(_ code: String, _ message: String) -> [UInt8] {
        Array(#"{"errors":[{"code":"\#(code)","message":"\#(message)","detail":null}]}"#.utf8)
    }

    static func error(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) -> Answer {
        Answer(status: status, headers: [("Content-Type", "application/json")] + headers, body: errorBody(code, message))
    }

    func answer(_ request: Request, body: [UInt8], fault: Fault?) -> Answer {
        switch fault {
        case .status(let status, let code, let headers)?:
            let code = code ?? (status == 429 ? "TOOMANYREQUESTS" : status >= 500 ? "UNAVAILABLE" : status == 404 ? "NOT_FOUND" : "DENIED")
            return Self.error(status, code, "injected \(status)", headers: headers.map { ($0.key, $0.value) })
        case .dropResponse(let n)?:
            var answer = route(request, body: body, honourRange: true)
            answer.cutAfter = n
            return answer
        case .ignoreRange?:
            return route(request, body: body, honourRange: false)
        default:
            return route(request, body: body, honourRange: true)
        }
    }

    private func route(_ request: Request, body: [UInt8], honourRange: Bool) -> Answer {
        let path = request.path
        if path == "/token" { return token(request, body: body) }
        if ["GET", "HEAD"].contains(request.method), let file = lock.withLock({ files[path] }) {
            return Answer(status: 200, headers: [("Content-Type", "application/octet-stream")], body: file, headOnly: request.method == "HEAD")
        }
        guard path.hasPrefix("/v2/") else { return Self.error(404, "NOT_FOUND", "not found") }
        let resource = RegistryPath(path)
        if let refusal = authorize(request, repository: resource?.repository) { return refusal }
        guard let resource else {
            return path == "/v2/" ? Answer(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
                                  : Self.error(404, "NOT_FOUND", "not found")
        }
        let head = request.method == "HEAD"
        switch (request.method, resource.kind) {
        case ("GET", .manifest(let reference)), ("HEAD", .manifest(let reference)):
            guard let stored = lock.withLock({ manifests[resource.repository]?[reference] }) else {
                return Self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            }
            return Answer(status: 200, headers: [("Content-Type", stored.mediaType),
                                                 ("Docker-Content-Digest", Digest.sha256(of: stored.bytes).description)],
                          body: stored.bytes, headOnly: head)
        case ("PUT", .manifest(let reference)):
            let type = request.header("Content-Type") ?? MediaType.ociManifest.rawValue
            let digest = Digest.sha256(of: body)
            putManifest(body, mediaType: MediaType(type), as: digest.description, in: resource.repository)
            if reference != digest.description { putManifest(body, mediaType: MediaType(type), as: reference, in: resource.repository) }
            return Answer(status: 201, headers: [("Docker-Content-Digest", digest.description),
                                                 ("Location", "/v2/\(resource.repository)/manifests/\(digest)")])
        case ("GET", .blob(let digest)), ("HEAD", .blob(let digest)):
            guard let bytes = blob(digest, in: resource.repository) else { return Self.error(404, "BLOB_UNKNOWN", "blob unknown to registry") }
            var headers = [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest.description), ("Accept-Ranges", "bytes")]
            if honourRange, let range = request.header("Range"), let start = Self.rangeStart(range) {
                guard start < bytes.count else {
                    return Answer(status: 416, headers: [("Content-Range", "bytes */\(bytes.count)")])
                }
                headers.append(("Content-Range", "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"))
                return Answer(status: 206, headers: headers, body: Array(bytes[start...]), headOnly: head)
            }
            return Answer(status: 200, headers: headers, body: bytes, headOnly: head)
        case ("POST", .uploads):
            let query = Self.query(request.uri)
            if let mount = query["mount"].flatMap({ try? Digest(parsing: $0) }), let from = query["from"],
               let bytes = blob(mount, in: from) {
                putBlob(bytes, as: mount, in: resource.repository)
                return Answer(status: 201, headers: [("Location", "/v2/\(resource.repository)/blobs/\(mount)"),
                                                     ("Docker-Content-Digest", mount.description)])
            }
            let id = UUID().uuidString.lowercased()
            lock.withLock { uploads[id] = (resource.repository, []) }
            return Answer(status: 202, headers: [("Location", "/v2/\(resource.repository)/blobs/uploads/\(id)?_state=opaque-\(id)"),
                                                 ("Range", "0-0"), ("Docker-Upload-UUID", id)])
        case ("PATCH", .upload(let id)):
            guard let total = lock.withLock({ () -> Int? in
                guard uploads[id] != nil else { return nil }
                uploads[id]!.bytes += body
                return uploads[id]!.bytes.count
            }) else { return Self.error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry") }
            return Answer(status: 202, headers: [("Location", "/v2/\(resource.repository)/blobs/uploads/\(id)?_state=opaque-\(id)"),
                                                 ("Range", "0-\(max(total - 1, 0))"), ("Docker-Upload-UUID", id)])
        case ("PUT", .upload(let id)):
            guard let upload = lock.withLock({ uploads[id] }) else {
                return Self.error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
            }
            let bytes = upload.bytes + body
            guard let wanted = Self.query(request.uri)["digest"].flatMap({ try? Digest(parsing: $0) }), Digest.sha256(of: bytes) == wanted else {
                return Self.error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            }
            _ = lock.withLock { uploads.removeValue(forKey: id) }
            putBlob(bytes, as: wanted, in: resource.repository)
            return Answer(status: 201, headers: [("Location", "/v2/\(resource.repository)/blobs/\(wanted)"),
                                                 ("Docker-Content-Digest", wanted.description)])
        case ("GET", .tags):
            let tags = lock.withLock { (manifests[resource.repository] ?? [:]).keys.filter { !$0.hasPrefix("sha256:") }.sorted() }
            let json = try! JSONSerialization.data(withJSONObject: ["name": resource.repository, "tags": tags])
            return Answer(status: 200, headers: [("Content-Type", "application/json")], body: Array(json))
        default:
            return Self.error(405, "UNSUPPORTED", "the operation is unsupported")
        }
    }

    /// `bytes=N-` or `bytes=N-M` → N.
    static func rangeStart(_ header: String) -> Int? {
        guard header.hasPrefix("bytes=") else { return nil }
        return Int(header.dropFirst(6).prefix { $0 != "-" })
    }

    static func query(_ uri: String) -> [String: String] {
        guard let components = URLComponents(string: "http://x" + uri) else { return [:] }
        var result: [String: String] = [:]
        for item in components.queryItems ?? [] { result[item.name] = item.value ?? "" }
        return result
    }

    // MARK: authentication

    private func authorize(_ request: Request, repository: String?) -> Answer? {
        let presented = request.header("Authorization") ?? ""
        switch auth {
        case .none:
            return nil
        case .basic(let username, let password):
            if presented == "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() { return nil }
            return Self.error(401, "UNAUTHORIZED", "authentication required", headers: [("WWW-Authenticate", #"Basic realm="in-process registry""#)])
        case .bearer:
            let action = ["GET", "HEAD"].contains(request.method) ? "pull" : "push"
            let realm = "\(baseURL)/token"
            var challenge = #"Bearer realm="\#(realm)",service="in-process""#
            if let repository { challenge += #",scope="repository:\#(repository):\#(action == "pull" ? "pull" : "pull,push")""# }
            guard presented.hasPrefix("Bearer ") else {
                return Self.error(401, "UNAUTHORIZED", "authentication required", headers: [("WWW-Authenticate", challenge)])
            }
            let token = String(presented.dropFirst(7))
            guard let grant = lock.withLock({ tokens[token] }), grant.expires > Date() else {
                return Self.error(401, "UNAUTHORIZED", "authentication required",
                                  headers: [("WWW-Authenticate", challenge + #",error="invalid_token""#)])
            }
            guard let repository else { return nil }
            if grant.grants.contains("\(repository):\(action)") { return nil }
            return Self.error(401, "UNAUTHORIZED", "authentication required",
                              headers: [("WWW-Authenticate", challenge + #",error="insufficient_scope""#)])
        }
    }

    private func token(_ request: Request, body: [UInt8]) -> Answer {
        guard case .bearer(let settings) = auth else { return Self.error(404, "NOT_FOUND", "no token endpoint") }
        var parameters = Self.query(request.uri)
        var authenticated = false
        if request.method == "POST" {
            let form = Self.query("/?" + String(decoding: body, as: UTF8.self))
            parameters.merge(form) { a, _ in a }
            guard form["grant_type"] == "refresh_token", let refresh = form["refresh_token"], refresh == settings.identityToken else {
                return Self.error(401, "UNAUTHORIZED", "invalid refresh token")
            }
            authenticated = true
        } else if let presented = request.header("Authorization") {
            guard let username = settings.username, let password = settings.password,
                  presented == "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() else {
                return Self.error(401, "UNAUTHORIZED", "incorrect username or password")
            }
            authenticated = true
        }
        // Repeated `scope` parameters: URLComponents keeps them all.
        let scopes = (URLComponents(string: "http://x" + request.uri)?.queryItems ?? []).filter { $0.name == "scope" }.compactMap(\.value)
            + (request.method == "POST" ? Self.formScopes(body) : [])
        var grants: Set<String> = []
        for scope in scopes {
            let parts = scope.split(separator: ":")
            guard parts.count == 3, parts[0] == "repository" else { continue }
            for action in parts[2].split(separator: ",") where authenticated || (action == "pull" && settings.anonymousPull) {
                grants.insert("\(parts[1]):\(action)")
            }
        }
        let value = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        lock.withLock {
            tokens[value] = (grants, Date().addingTimeInterval(settings.lifetime))
            issued.append(value)
        }
        let expires = settings.advertisedLifetime ?? Int(settings.lifetime.rounded())
        let json = #"{"token":"\#(value)","access_token":"\#(value)","expires_in":\#(expires)}"#
        return Answer(status: 200, headers: [("Content-Type", "application/json")], body: Array(json.utf8))
    }

    static func formScopes(_ body: [UInt8]) -> [String] {
        (URLComponents(string: "http://x/?" + String(decoding: body, as: UTF8.self))?.queryItems ?? [])
            .filter { $0.name == "scope" }.compactMap(\.value)
    }
}

/// `/v2/NAME/manifests/REF`, `/v2/NAME/blobs/DIGEST`, `/v2/NAME/blobs/uploads/[ID]`, `/v2/NAME/tags/list`.
struct RegistryPath {
    enum Kind {
        case manifest(String)
        case blob(Digest)
        case uploads
        case upload(String)
        case tags
    }
    var repository: String
    var kind: Kind

    init?(_ path: String) {
        let rest = String(path.dropFirst(4))
        if let r = rest.range(of: "/blobs/uploads/", options: .backwards) {
            repository = String(rest[..<r.lowerBound])
            let id = String(rest[r.upperBound...])
            kind = id.isEmpty ? .uploads : .upload(id)
        } else if rest.hasSuffix("/blobs/uploads") {
            repository = String(rest.dropLast("/blobs/uploads".count))
            kind = .uploads
        } else if let r = rest.range(of: "/manifests/", options: .backwards) {
            repository = String(rest[..<r.lowerBound])
            kind = .manifest(String(rest[r.upperBound...]))
        } else if let r = rest.range(of: "/blobs/", options: .backwards), let digest = try? Digest(parsing: String(rest[r.upperBound...])) {
            repository = String(rest[..<r.lowerBound])
            kind = .blob(digest)
        } else if rest.hasSuffix("/tags/list") {
            repository = String(rest.dropLast("/tags/list".count))
            kind = .tags
        } else {
            return nil
        }
        guard !repository.isEmpty else { return nil }
    }
}

/// Lets the channel handlers reach the registry made after the server was bound.
final class RegistryHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var value: InProcessRegistry?
    var registry: InProcessRegistry? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// One connection: gathers each request, applies its fault, writes the answer.
final class RegistryChannelHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let holder: RegistryHolder
    private var request: InProcessRegistry.Request?
    private var keepAlive = true
    private var version = HTTPVersion.http1_1
    private var body: [UInt8] = []
    private var fault: InProcessRegistry.Fault?
    private var ignoring = false

    init(holder: RegistryHolder) { self.holder = holder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let registry = holder.registry else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = InProcessRegistry.Request(method: head.method.rawValue, uri: head.uri, headers: headers, status: 0)
            self.request = request
            keepAlive = head.isKeepAlive
            version = head.version
            body = []
            ignoring = false
            fault = registry.takeFault(for: request)
            if case .stall? = fault {
                ignoring = true
                registry.record(request, status: 0)
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            }
        case .body(var buffer):
            guard !ignoring, let request else { return }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
            if case .dropRequest(let n)? = fault, body.count >= n {
                ignoring = true
                registry.record(request, status: 0)
                context.close(promise: nil)
            }
        case .end:
            guard !ignoring, let request else { return }
            if case .dropRequest? = fault {
                registry.record(request, status: 0)
                context.close(promise: nil)
                return
            }
            let answer = registry.answer(request, body: body, fault: fault)
            registry.record(request, status: answer.status)
            write(answer, context: context)
        }
    }

    private func write(_ answer: InProcessRegistry.Answer, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(answer.headers)
        headers.replaceOrAdd(name: "Content-Length", value: "\(answer.body.count)")
        headers.replaceOrAdd(name: "Docker-Distribution-Api-Version", value: "registry/2.0")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let channel = context.channel
        if let cut = answer.cutAfter {
            let part = ByteBuffer(bytes: answer.body.prefix(cut))
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(part)))).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if !answer.headOnly, !answer.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
        }
        let close = !keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if close { channel.close(promise: nil) } }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
