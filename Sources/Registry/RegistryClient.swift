import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1
import NIOSSL

/// Settings of a registry conversation.
public struct RegistryOptions: Sendable {
    /// false: unverified HTTPS and plain HTTP are allowed (`--tls-verify=false`).
    public var tlsVerify = true
    /// Attempts after the first on 5xx, 429 and dropped connections.
    public var retries = 4
    /// The first backoff; each retry doubles it.
    public var retryDelay: Double = 0.25

    public init(tlsVerify: Bool = true) { self.tlsVerify = tlsVerify }
}

/// An OCI distribution-spec client for one registry: requests carry the right credentials
/// (Basic, or Bearer tokens from the `WWW-Authenticate` challenge, cached per scope), and
/// transient failures are retried with backoff.
public final class RegistryClient: Sendable {
    public let endpoint: RegistryEndpoint
    let credentials: Credentials?
    let options: RegistryOptions
    let state = State()

    public init(registry: String, credentials: Credentials?, options: RegistryOptions = RegistryOptions()) {
        endpoint = RegistryEndpoint(registry: registry, tlsVerify: options.tlsVerify)
        self.credentials = credentials
        self.options = options
    }

    /// What the conversation has learnt: which transport answers, how the registry authenticates,
    /// and the tokens it handed out.
    actor State {
        var transport: RegistryEndpoint.Transport?
        var challenge: AuthChallenge?
        var tokens: [String: (value: String, expires: Date)] = [:]
        public private(set) var tokenRequests = 0

        func setTransport(_ t: RegistryEndpoint.Transport) { transport = t }
        func setChallenge(_ c: AuthChallenge) { challenge = c }
        func token(_ key: String) -> String? {
            guard let t = tokens[key], t.expires > Date() else { return nil }
            return t.value
        }
        func forgetTokens() { tokens.removeAll() }
        func store(token: String, key: String, expires: Date) {
            tokens[key] = (token, expires)
            tokenRequests += 1
        }
    }

    /// How many tokens this client fetched (tests check that they are cached).
    public var tokenRequests: Int { get async { await state.tokenRequests } }

    // MARK: requests

    public typealias BodyFactory = @Sendable () throws -> HTTPClientRequest.Body

    /// Sends a request to a path below the registry (`/v2/…`) or to an absolute URL the registry
    /// gave (an upload location), authorised for `scopes`; retries and re-authenticates as needed.
    /// Non-2xx answers are returned, not thrown, except those retried.
    public func send(_ method: HTTPMethod, _ target: String, headers: HTTPHeaders = [:], scopes: [String],
                     body: BodyFactory? = nil, timeout: TimeAmount = .hours(2)) async throws -> HTTPClientResponse {
        var attempt = 0
        var reauthenticated = false
        var transportIndex = 0
        while true {
            let fixed = await state.transport
            let transport = fixed ?? endpoint.transports[transportIndex]
            let url = target.hasPrefix("http://") || target.hasPrefix("https://") ? target : endpoint.baseURL(transport) + target
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: "strata/\(Self.version)")
            if isRegistryURL(url), let authorization = try await authorization(for: scopes) {
                request.headers.replaceOrAdd(name: "Authorization", value: authorization)
            }
            if let body { request.body = try body() }
            let response: HTTPClientResponse
            do {
                response = try await Self.client(for: transport).execute(request, timeout: timeout)
            } catch {
                if fixed == nil, transportIndex + 1 < endpoint.transports.count {
                    transportIndex += 1  // not this way: HTTPS where HTTP was tried, or the reverse
                    continue
                }
                if attempt < options.retries, Self.isTransient(error) {
                    attempt += 1
                    try await backoff(attempt)
                    continue
                }
                throw unreachable(url, error)
            }
            if fixed == nil {
                // Go's servers answer plain HTTP sent to their TLS port with this 400.
                if response.status == .badRequest, transportIndex + 1 < endpoint.transports.count {
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
                    if text.contains("HTTP request to an HTTPS server") {
                        transportIndex += 1
                        continue
                    }
                    return HTTPClientResponse(status: response.status, headers: response.headers, body: .bytes(ByteBuffer(string: text)))
                }
                await state.setTransport(transport)
            }
            switch response.status.code {
            case 401 where !reauthenticated && isRegistryURL(url):
                let challenges = response.headers["WWW-Authenticate"].flatMap(AuthChallenge.parse)
                _ = try? await response.body.collect(upTo: 1 << 20)
                guard let challenge = challenges.first(where: \.isBearer) ?? challenges.first(where: \.isBasic) else {
                    return response
                }
                await state.setChallenge(challenge)
                await state.forgetTokens()  // refused: a cached token has expired early or lacks the scope
                if challenge.isBasic && credentials == nil {
                    // Nothing to answer with: the caller turns the 401 into its own message.
                    return HTTPClientResponse(status: response.status, headers: response.headers)
                }
                reauthenticated = true
                continue
            case let code where [429, 500, 502, 503, 504].contains(code) && attempt < options.retries:
                _ = try? await response.body.collect(upTo: 1 << 20)
                attempt += 1
                try await backoff(attempt)
                continue
            default:
                return response
            }
        }
    }

    static let version = "0.1.0"

    /// Credentials go to the registry only, never to a storage backend a blob request redirects to.
    func isRegistryURL(_ url: String) -> Bool {
        endpoint.transports.contains { url.hasPrefix(endpoint.baseURL($0) + "/") }
    }

    private func backoff(_ attempt: Int) async throws {
        let seconds = options.retryDelay * Double(1 << (attempt - 1))
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
    }

    /// Connection failures worth another try: dropped, reset or timed-out connections.
    static func isTransient(_ error: Error) -> Bool {
        if error is CancellationError { return false }
        if let e = error as? HTTPClientError {
            return e == .remoteConnectionClosed || e == .readTimeout || e == .connectTimeout || e == .deadlineExceeded
                || String(describing: e).contains("Closed")
        }
        if error is NIOSSLError { return false }
        return error is IOError || error is ChannelError || String(describing: error).contains("connection reset")
    }

    func unreachable(_ url: String, _ error: Error) -> StrataError {
        if let e = error as? StrataError { return e }
        var reason = String(describing: error)
        if let io = error as? IOError { reason = io.description }
        if error is NIOSSLError || reason.contains("handshake") || reason.contains("certificate") {
            return StrataError(.unreachable,
                "cannot reach registry \(endpoint.name): TLS failed (\(reason)); for a registry without a valid certificate use --tls-verify=false or list it in insecure-registries")
        }
        return StrataError(.unreachable, "cannot reach registry \(endpoint.name) (\(url)): \(reason)")
    }

    // MARK: clients

    /// One HTTP client per verification mode, for the whole process: connections are pooled and
    /// reused by every request and every registry.
    static let verifiedClient = makeClient(verify: true)
    static let unverifiedClient = makeClient(verify: false)

    static func client(for transport: RegistryEndpoint.Transport) -> HTTPClient {
        transport == .httpsUnverified ? unverifiedClient : verifiedClient
    }

    private static func makeClient(verify: Bool) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !verify { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            // Redirects are followed by hand, so credentials never leak to another host.
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(20), read: .seconds(120)),
            decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        configuration.httpVersion = .automatic
        // A refused connection fails at once; `send` decides what is worth another try.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

extension ByteBuffer {
    /// The readable bytes, for JSONDecoder.
    var data: Data { Data(readableBytesView) }
}
