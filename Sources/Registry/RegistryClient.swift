import AsyncHTTPClient
import Foundation
import ImageSpec
import Logging
import NIOCore
import NIOHTTP1

/// Settings of a registry conversation.
public struct RegistryOptions: Sendable {
    /// false: unverified HTTPS and plain HTTP are allowed (`--tls-verify=false`).
    public var tlsVerify = true

    public init(tlsVerify: Bool = true) { self.tlsVerify = tlsVerify }
}

/// An OCI distribution-spec client for one registry: requests carry the right credentials
/// (Basic, or Bearer tokens from the `WWW-Authenticate` challenge, cached per scope), and go
/// through an `HTTPTransport`, which retries transient failures with backoff.
public final class RegistryClient: Sendable {
    public let endpoint: RegistryEndpoint
    let credentials: Credentials?
    let options: RegistryOptions
    public let transport: HTTPTransport
    let state = State()

    public convenience init(registry: String, credentials: Credentials?, options: RegistryOptions = RegistryOptions(),
                            transport: HTTPTransport = .shared) {
        self.init(endpoint: RegistryEndpoint(registry: registry, tlsVerify: options.tlsVerify), credentials: credentials,
                  options: options, transport: transport)
    }

    public init(endpoint: RegistryEndpoint, credentials: Credentials?, options: RegistryOptions = RegistryOptions(),
                transport: HTTPTransport = .shared) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.options = options
        self.transport = transport
    }

    var logger: Logger { transport.logger }
    var retry: HTTPTransport.RetryPolicy { transport.configuration.retry }

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

    public typealias BodyFactory = HTTPTransport.BodyFactory

    /// Sends a request to a path below the registry (`/v2/…`) or to an absolute URL the registry
    /// gave (an upload location), authorised for `scopes`; re-authenticates once when refused,
    /// and leaves retries to the transport (none when `replayable` is false: a body that can be
    /// sent once). Non-2xx answers are returned, not thrown; a request that gets no answer
    /// throws `unreachable` with the `ConnectionFailure` as its cause.
    public func send(_ method: HTTPMethod, _ target: String, headers: HTTPHeaders = [:], scopes: [String],
                     body: BodyFactory? = nil, timeout: TimeAmount = .hours(2), replayable: Bool = true) async throws -> HTTPClientResponse {
        var reauthenticated = false
        var transportIndex = 0
        while true {
            let fixed = await state.transport
            let transport = fixed ?? endpoint.transports[transportIndex]
            // Still finding out which way the registry answers: a failure means "try the next way".
            let probing = fixed == nil && transportIndex + 1 < endpoint.transports.count
            let url = target.hasPrefix("http://") || target.hasPrefix("https://") ? target : endpoint.baseURL(transport) + target
            var request = headers
            if isRegistryURL(url), let authorization = try await authorization(for: scopes) {
                request.replaceOrAdd(name: "Authorization", value: authorization)
            }
            let response: HTTPClientResponse
            do {
                response = try await self.transport.send(method, url, headers: request, body: body,
                                                         verifyCertificates: transport != .httpsUnverified, timeout: timeout,
                                                         retryConnectionFailures: !probing,
                                                         policy: replayable ? nil : HTTPTransport.RetryPolicy(retries: 0))
            } catch let failure as ConnectionFailure {
                if probing {
                    transportIndex += 1  // not this way: HTTPS where HTTP was tried, or the reverse
                    continue
                }
                throw unreachable(url, failure)
            }
            if fixed == nil {
                // A TLS port answering plain HTTP (Go's servers say 400 in plain text): a
                // registry's own 400 always comes with its error document.
                if probing, response.status == .badRequest {
                    let bytes = try await response.body.collect(upTo: 1 << 16)
                    if RegistryResponseError.parseErrors(Array(buffer: bytes)).isEmpty {
                        transportIndex += 1
                        continue
                    }
                    return HTTPClientResponse(status: response.status, headers: response.headers, body: .bytes(bytes))
                }
                await state.setTransport(transport)
            }
            if response.status.code == 401, !reauthenticated, isRegistryURL(url) {
                let challenges = response.headers["WWW-Authenticate"].flatMap(AuthChallenge.parse)
                let bytes = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
                let refused = HTTPClientResponse(status: response.status, headers: response.headers, body: .bytes(bytes))
                guard let challenge = challenges.first(where: \.isBearer) ?? challenges.first(where: \.isBasic) else {
                    return refused
                }
                await state.setChallenge(challenge)
                await state.forgetTokens()  // refused: a cached token has expired early or lacks the scope
                if challenge.isBasic && credentials == nil {
                    // Nothing to answer with: the caller turns the 401 into its own message.
                    return refused
                }
                logger.debug("\(endpoint.name) asks for \(challenge.scheme.lowercased()) authentication; authenticating again")
                reauthenticated = true
                continue
            }
            return response
        }
    }

    static var version: String { HTTPTransport.version }

    /// Credentials go to the registry only, never to a storage backend a blob request redirects to.
    func isRegistryURL(_ url: String) -> Bool {
        endpoint.transports.contains { url.hasPrefix(endpoint.baseURL($0) + "/") }
    }

    /// A request that got no answer, in words a person can act on; the failure stays the cause.
    func unreachable(_ url: String, _ failure: ConnectionFailure) -> StrataError {
        if failure.kind == .tls {
            return StrataError(.unreachable,
                "cannot reach registry \(endpoint.name): \(failure.reason); for a registry without a valid certificate use --tls-verify=false or list it in insecure-registries",
                cause: failure)
        }
        return StrataError(.unreachable, "cannot reach registry \(endpoint.name) (\(HTTPTransport.loggable(url))): \(failure.reason)", cause: failure)
    }
}

extension ByteBuffer {
    /// The readable bytes, for JSONDecoder.
    var data: Data { Data(readableBytesView) }
}
