import Foundation
import Synchronization
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import ImageSpec
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ObjectStore
import ServiceLifecycle

/// `strata registry serve`: an OCI distribution registry over a `RegistryStorage`, on Hummingbird
/// (HTTP/1.1, SwiftNIO underneath). SIGTERM and SIGINT shut it down gracefully: it stops
/// accepting, requests in flight finish (an upload cut short keeps what arrived, resumable), and
/// after `shutdownTimeout` whatever is left is cancelled.
public struct RegistryServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 5000
        public var root: String
        public var tlsCertificate: String?
        public var tlsKey: String?
        public var shutdownTimeout: Duration = .seconds(30)
        /// A background collection this often (nil: never), taking unreferenced blobs older than `gcGrace`.
        public var gcInterval: TimeInterval?
        public var gcGrace: TimeInterval = 3600
        /// A connection with no request in flight for this long is closed, so idle clients cannot
        /// hold descriptors forever.
        public var idleTimeout: Duration = .seconds(60)
        /// Blob bodies by `sendfile(2)`. Off under TLS, which encrypts in user space; off here
        /// only to test the streamed path.
        public var zeroCopy = true
        /// How callers prove who they are; nil: `token` once a user exists, else `none`.
        public var auth: AuthMode?
        /// The ES256 key tokens are signed with; nil: `token-signing-key.pem` in the root, made on first start.
        public var tokenKey: String?
        /// The token endpoint's public URL, when clients reach the server through a proxy.
        public var tokenRealm: String?
        /// The `service` tokens are issued for (the challenge names it, the client echoes it).
        public var tokenService = "strata-registry"
        public var tokenLifetime: TimeInterval = 300
        /// `100/6h`: anonymous pulls (manifest GETs) allowed per address in a window, as Docker Hub limits them.
        public var anonymousPullLimit: String?
        /// Set to mirror another registry (`proxy.remote` …): a pull-through cache, read-only to clients.
        public var proxy: PullThroughCache.Configuration?
        /// Set to keep blobs in an S3 bucket (`storage: {driver: s3, …}`) rather than under `root`.
        public var objectStore: S3Configuration?
        /// With `objectStore`: answer blob GETs with a presigned URL (`storage.redirect`).
        public var redirectBlobs = false
        /// Where the metadata is: SQLite under `root`, or a PostgreSQL database (`metadata: {driver: postgres, url: …}`).
        public var metadata = RegistryMetadata.sqlite

        /// The storage these settings describe (the bucket's client included).
        public func openStorage() throws -> RegistryStorage {
            try RegistryStorage(root: root, objectStore: objectStore.map { S3Client($0) }, redirectBlobs: redirectBlobs, metadata: metadata)
        }

        public init(root: String) { self.root = root }

        /// `HOST:PORT`, `:PORT` or `PORT`.
        public mutating func setAddress(_ text: String) throws {
            let invalid = StrataError(.invalidArgument, "invalid address \"\(text)\": expected HOST:PORT, such as 127.0.0.1:5000")
            guard let colon = text.lastIndex(of: ":") else {
                guard let port = Int(text), (0...65535).contains(port) else { throw invalid }
                self.port = port
                return
            }
            guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { throw invalid }
            let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            self.host = host.isEmpty ? "0.0.0.0" : host
            self.port = port
        }
    }

    public let configuration: Configuration
    public let storage: RegistryStorage
    let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "strata.registry.server")) throws {
        if (configuration.tlsCertificate == nil) != (configuration.tlsKey == nil) {
            throw StrataError(.invalidArgument, "--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
        }
        if let limit = configuration.anonymousPullLimit { _ = try PullLimit(parsing: limit) }
        self.configuration = configuration
        self.logger = logger
        storage = try configuration.openStorage()
        try storage.checkBlobStore()
        if let proxy = configuration.proxy { _ = try PullThroughCache(proxy, storage: storage) }
    }

    /// Ends a running server from outside (a test, a program embedding it) as SIGTERM does:
    /// gracefully, every accepted connection served and closed. Cancelling the serving task
    /// instead can leave a just-accepted connection unserved, which swift-nio traps on
    /// ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481).
    public final class Shutdown: Sendable {
        private let state = Mutex<(group: ServiceGroup?, requested: Bool)>((nil, false))
        public init() {}

        public func trigger() async {
            let group = state.withLock { state -> ServiceGroup? in
                state.requested = true
                return state.group
            }
            await group?.triggerGracefulShutdown()
        }

        func attach(_ group: ServiceGroup) async {
            if state.withLock({ state -> Bool in
                state.group = group
                return state.requested
            }) {
                await group.triggerGracefulShutdown()
            }
        }
    }

    /// Serves until SIGTERM or SIGINT (with `handlingSignals`), until `shutdown` is triggered, or
    /// until the task is cancelled. `onListening` gets the bound port (useful with port 0).
    public func run(handlingSignals: Bool = true, shutdown: Shutdown? = nil, accessLog: @escaping @Sendable (AccessRecord) -> Void,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        Self.raiseDescriptorLimit()
        let tls = configuration.tlsCertificate != nil, zeroCopy = configuration.zeroCopy && !tls
        let access = try await makeAccess()
        if let objectStore = storage.objectStore {
            // A wrong key, secret, bucket or clock is said now, not at the first push.
            try await objectStore.checkBucket()
            logger.notice("blobs in \(objectStore.configuration.endpoint)/\(objectStore.configuration.bucket)/\(objectStore.configuration.prefix)\(storage.redirectBlobs ? ", GETs redirected to it" : "")")
        }
        if case .postgres(let url) = storage.metadata { logger.notice("metadata in \(url)") }
        logger.notice("authentication: \(access.mode.rawValue)\(access.mode == .token ? ", tokens at \(access.realm ?? "/token")" : "")")
        let cache = try configuration.proxy.map { try PullThroughCache($0, storage: storage, logger: logger) }
        if let cache { logger.notice("a pull-through cache of \(cache.remote), tags re-checked after \(DurationText.describe(cache.configuration.ttl))") }
        let responder = RegistryResponder(storage: storage, logger: logger, zeroCopy: zeroCopy, access: access, scheme: tls ? "https" : "http",
                                          cache: cache, accessLog: accessLog)
        let http = HTTP1Channel.Configuration(idleTimeout: TimeAmount(configuration.idleTimeout))
        var server = HTTPServerBuilder { responder in RegistryHTTP1Channel(responder: responder, configuration: http, zeroCopy: zeroCopy) }
        if let certificate = configuration.tlsCertificate, let key = configuration.tlsKey {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
                let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
                server = try .tls(server, tlsConfiguration: TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey)))
            } catch {
                throw StrataError(.invalidArgument, "cannot use the TLS certificate \(certificate) and key \(key): \(error)", cause: error)
            }
        }
        let app = Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "strata"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        let collector = configuration.gcInterval.map { interval in
            Task { [storage, logger, grace = configuration.gcGrace] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(interval))
                    if Task.isCancelled { break }
                    do {
                        let report = try await storage.collect(grace: grace)
                        logger.notice("garbage collection: \(report.blobs.count) blobs, \(report.bytes) bytes, \(report.uploads) abandoned uploads")
                    } catch {
                        logger.error("garbage collection failed: \(error)")
                    }
                }
            }
        }
        defer { collector?.cancel() }
        do {
            let services = ServiceGroup(configuration: group)
            await shutdown?.attach(services)
            try await services.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw StrataError(.invalidArgument, "cannot listen on \(configuration.host):\(configuration.port): the address is in use", cause: error)
        }
    }

    /// The access rules the configuration asks for: without users, a token server would refuse
    /// everyone but anonymous pulls, so `token` is the default only once a user exists.
    public func makeAccess() async throws -> RegistryAccess {
        let mode = try configuration.auth ?? (storage.hasUsers() ? .token : .none)
        var issuer: TokenIssuer?, sessions: TokenIssuer?
        let keyFile = configuration.tokenKey ?? "\(storage.root)/token-signing-key.pem"
        if mode == .token {
            issuer = try await TokenIssuer(keyFile: keyFile, service: configuration.tokenService, lifetime: configuration.tokenLifetime)
        }
        if mode != .none {
            sessions = try await TokenIssuer(keyFile: keyFile, service: "\(configuration.tokenService)-web", lifetime: RegistryResponder.sessionLifetime)
        }
        return RegistryAccess(mode: mode, storage: storage, issuer: issuer, sessions: sessions, realm: configuration.tokenRealm,
                              pullLimit: try configuration.anonymousPullLimit.map { try PullLimit(parsing: $0, records: storage) })
    }

    /// Every connection is a descriptor, and Debian's soft limit of 1,024 would refuse the
    /// thousand-and-first client: take the hard limit, as nginx's `worker_rlimit_nofile` does.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}
