import AsyncHTTPClient
import Foundation
import ImageSpec
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Strata's one HTTP stack: registry conversations and the builder's `ADD <url>` downloads share
/// its clients (one connection pool per certificate check and proxy), its timeouts, User-Agent,
/// proxy rules and retry loop. Connection failures and 429/502/503/504 answers are retried with
/// exponential backoff (a `Retry-After` is honoured, up to `maxDelay`); every decision is made on
/// the failure's type (`ConnectionFailure`, `RegistryResponseError`), never on its text.
///
/// Each request, retry and (in `RegistryClient`) token fetch is logged at debug level through
/// `logger` — method, URL without its query, status — and never a header, so no credential.
public final class HTTPTransport: Sendable {
    public struct RetryPolicy: Sendable, Equatable {
        /// Attempts after the first.
        public var retries: Int
        /// The first backoff; each retry doubles it.
        public var initialDelay: Double
        /// The longest wait, whatever the backoff or a `Retry-After` says.
        public var maxDelay: Double

        public init(retries: Int = 4, initialDelay: Double = 0.25, maxDelay: Double = 30) {
            self.retries = retries
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }

        /// Seconds to wait before retry number `attempt` (1-based).
        public func delay(attempt: Int, retryAfter: Double? = nil) -> Double {
            min(maxDelay, retryAfter ?? initialDelay * Double(1 << min(max(attempt - 1, 0), 30)))
        }
    }

    public struct Configuration: Sendable {
        public var retry = RetryPolicy()
        public var userAgent = "strata/\(HTTPTransport.version)"
        public var connectTimeout: TimeAmount = .seconds(20)
        /// The longest silence from a server while a request is open: `STRATA_REGISTRY_TIMEOUT`
        /// (`30s`, `2m`…), else 120 s. A stalled registry fails after this, and after the retries.
        public var readTimeout: TimeAmount = Configuration.environmentTimeout ?? .seconds(120)
        /// `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` of this process by default.
        public var proxies = ProxyConfiguration.processEnvironment
        /// Host names connected to as other hosts (curl's `--resolve`): lets a test reach a
        /// loopback server by a name that is not loopback, so proxy rules apply to it.
        public var hostOverrides: [String: String] = [:]

        public init() {}

        /// `STRATA_REGISTRY_TIMEOUT` as a read timeout; nil when unset. The CLI checks it first
        /// (`checkEnvironment`), so a bad value is an error there rather than ignored here.
        static var environmentTimeout: TimeAmount? {
            (try? checkEnvironment()).flatMap { $0 }
        }

        /// Throws, naming the variable, when `STRATA_REGISTRY_TIMEOUT` is not a duration.
        public static func checkEnvironment() throws -> TimeAmount? {
            guard let text = ProcessInfo.processInfo.environment["STRATA_REGISTRY_TIMEOUT"], !text.isEmpty else { return nil }
            let seconds = try DurationText.seconds(text, "STRATA_REGISTRY_TIMEOUT")
            guard seconds > 0 else { throw StrataError(.invalidArgument, "invalid STRATA_REGISTRY_TIMEOUT \"\(text)\": it must be more than 0") }
            return .milliseconds(Int64(seconds * 1000))
        }
    }

    public static let version = "0.1.0"
    /// The process's transport: every registry client and download uses it unless told otherwise.
    public static let shared = HTTPTransport()

    public let configuration: Configuration
    public let logger: Logger
    private let clients = Mutex<[ClientKey: HTTPClient]>([:])
    /// Hosts (`host:port`) that have answered this process: a refused connection to one of them
    /// is a server restarting, not a wrong address.
    private let answered = Mutex<Set<String>>([])

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "strata.registry")) {
        self.configuration = configuration
        self.logger = logger
    }

    public typealias BodyFactory = @Sendable () throws -> HTTPClientRequest.Body

    /// Sends a request and returns the server's answer, whatever its status, once it is final:
    /// connection failures (when `retryConnectionFailures`) and 429/502/503/504 answers are
    /// retried up to `policy.retries` times, the body made anew each time by `body`. After the
    /// last retry a retryable answer is returned too (its body read and kept), so the caller can
    /// say what the server said. Throws `ConnectionFailure` when no answer came, or the error a
    /// body threw; `CancellationError` when the task was cancelled.
    public func send(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders = [:], body: BodyFactory? = nil,
                     verifyCertificates: Bool = true, timeout: TimeAmount, retryConnectionFailures: Bool = true,
                     policy: RetryPolicy? = nil, alsoRetrying statuses: Set<Int> = []) async throws -> HTTPClientResponse {
        let policy = policy ?? configuration.retry
        var attempt = 0
        while true {
            try Task.checkCancellation()
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
            if let body { request.body = try body() }
            let started = ContinuousClock.now
            let (client, proxy) = try client(for: url, verifyCertificates: verifyCertificates)
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: timeout)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                guard var failure = ConnectionFailure.classify(error, method: method.rawValue, url: url,
                                                                afterContact: hasAnswered(url)) else {
                    if let e = error as? HTTPClientError, e == .cancelled { throw CancellationError() }
                    throw error
                }
                if let proxy { failure.reason += " (through proxy \(proxy))" }
                logger.debug("\(method.rawValue) \(Self.loggable(url)) failed: \(failure.reason)")
                guard retryConnectionFailures, failure.isRetryable, attempt < policy.retries else { throw failure }
                attempt += 1
                try await pause(policy.delay(attempt: attempt), attempt: attempt, of: policy.retries,
                                method: method, url: url, reason: failure.reason)
                continue
            }
            markAnswered(url)
            let code = Int(response.status.code)
            logger.debug("\(method.rawValue) \(Self.loggable(url)) → \(code) \(response.status.reasonPhrase) (\(Self.milliseconds(since: started)) ms\(proxy.map { ", via proxy \($0)" } ?? ""))")
            guard RegistryResponseError.isRetryable(status: code) || statuses.contains(code) else { return response }
            // Read the answer: it says why (and for how long), and frees the connection.
            let bytes = (try? await response.body.collect(upTo: 1 << 16)).map { Array(buffer: $0) } ?? []
            let answer = RegistryResponseError(status: code, method: method.rawValue, url: url, headers: response.headers, body: bytes)
            guard answer.isRetryable || statuses.contains(code), attempt < policy.retries else {
                return HTTPClientResponse(version: response.version, status: response.status, headers: response.headers,
                                          body: .bytes(ByteBuffer(bytes: bytes)))
            }
            attempt += 1
            try await pause(policy.delay(attempt: attempt, retryAfter: answer.retryAfter), attempt: attempt, of: policy.retries,
                            method: method, url: url, reason: "\(code) \(response.status.reasonPhrase)"
                                + (answer.details.isEmpty ? "" : " (\(answer.details))")
                                + (answer.retryAfter.map { ", Retry-After \(Self.seconds($0))" } ?? ""))
        }
    }

    /// GET with redirects followed (up to 10), for downloads that carry no credentials (`ADD`).
    /// Returns the final answer and the URL it came from.
    public func get(_ url: String, headers: HTTPHeaders = [:], timeout: TimeAmount) async throws -> (HTTPClientResponse, String) {
        var current = url
        for _ in 0...10 {
            let response = try await send(.GET, current, headers: headers, timeout: timeout)
            guard [301, 302, 303, 307, 308].contains(response.status.code), let location = response.headers.first(name: "Location"),
                  let next = URL(string: location, relativeTo: URL(string: current))?.absoluteString else {
                return (response, current)
            }
            _ = try? await response.body.collect(upTo: 1 << 20)
            current = next
        }
        throw ConnectionFailure(kind: .other, method: "GET", url: url, afterContact: true, reason: "more than 10 redirects")
    }

    /// Closes every connection; for transports made for a while (tests). The shared one lives as long as the process.
    public func shutdown() async throws {
        let all = clients.withLock { clients -> [HTTPClient] in
            defer { clients.removeAll() }
            return Array(clients.values)
        }
        for client in all { try await client.shutdown() }
    }

    private func pause(_ seconds: Double, attempt: Int, of retries: Int, method: HTTPMethod, url: String, reason: String) async throws {
        logger.debug("retry \(attempt) of \(retries) of \(method.rawValue) \(Self.loggable(url)) in \(Self.seconds(seconds)): \(reason)")
        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
    }

    // MARK: clients

    struct ClientKey: Hashable {
        var verify: Bool
        var proxy: ProxyConfiguration.Server?
    }

    /// The client for a URL: its proxy (by the URL's scheme and host) and certificate check pick
    /// one of the pools, made on first use.
    func client(for url: String, verifyCertificates: Bool) throws -> (HTTPClient, ProxyConfiguration.Server?) {
        var proxy: ProxyConfiguration.Server?
        switch configuration.proxies.proxy(for: url) {
        case nil: break
        case .invalid(let variable, let value)?:
            throw StrataError(.invalidArgument, "\(variable)=\(value) is not a proxy URL (http://[user:password@]host[:port])")
        case .server(let server)?:
            guard server.scheme != .https else {
                throw StrataError(.invalidArgument, "proxy \(server): a proxy reached over TLS (https://) is not supported; use http://")
            }
            guard server.scheme != .socks5 || server.username == nil else {
                throw StrataError(.invalidArgument, "proxy \(server): SOCKS5 proxies with credentials are not supported")
            }
            proxy = server
        }
        let key = ClientKey(verify: verifyCertificates, proxy: proxy)
        let client = clients.withLock { clients in
            if let client = clients[key] { return client }
            let client = makeClient(key)
            clients[key] = client
            return client
        }
        return (client, proxy)
    }

    private func makeClient(_ key: ClientKey) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !key.verify { tls.certificateVerification = .none }
        var proxy: HTTPClient.Configuration.Proxy?
        if let server = key.proxy {
            switch server.scheme {
            case .socks5:
                proxy = .socksServer(host: server.host, port: server.port)
            case .http, .https:
                proxy = .server(host: server.host, port: server.port,
                                authorization: server.username.map { .basic(username: $0, password: server.password ?? "") })
            }
        }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            // Redirects are followed by hand, so credentials never leak to another host.
            redirectConfiguration: .disallow,
            timeout: .init(connect: configuration.connectTimeout, read: configuration.readTimeout),
            proxy: proxy,
            decompression: .disabled)
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        config.httpVersion = .automatic
        // A refused connection fails at once; `send` decides what is worth another try.
        config.connectionPool.retryConnectionEstablishment = false
        config.dnsOverride = configuration.hostOverrides
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    // MARK: what has answered

    private static func hostKey(_ url: String) -> String { RegistryResponseError.hostAndPath(url).0 }

    func hasAnswered(_ url: String) -> Bool { answered.withLock { $0.contains(Self.hostKey(url)) } }

    private func markAnswered(_ url: String) {
        let key = Self.hostKey(url)
        _ = answered.withLock { $0.insert(key) }
    }

    // MARK: log text

    /// A URL as logs show it: without its query, which may carry a storage signature.
    static func loggable(_ url: String) -> String {
        guard let question = url.firstIndex(of: "?") else { return url }
        return String(url[..<question]) + "?…"
    }

    static func seconds(_ value: Double) -> String { String(format: "%.2fs", value) }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
