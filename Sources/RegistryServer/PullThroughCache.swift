import ContentStore
import Foundation
import ImageSpec
import Logging
import NIOCore
import NIOPosix
import Registry
import Synchronization

/// A registry that mirrors another, as distribution's `proxy` and Docker's `registry-mirrors`
/// know it: what a client pulls is fetched from the upstream the first time, stored, and served
/// from here after; a tag is asked about again (a HEAD, which Docker Hub does not count as a pull)
/// once it is older than `ttl`. When the upstream cannot be reached, what is stored is served.
///
/// The upstream's credentials are this server's: they go only to the upstream, and no client ever
/// sees them or the upstream's challenges. A repository here sees only what the upstream says it
/// has: a blob stored for one repository is linked into another only once the upstream confirms
/// that one has it too.
public final class PullThroughCache: Sendable {
    public struct Configuration: Sendable, Equatable, CustomStringConvertible {
        /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
        public var remote: String
        public var username: String?
        public var password: String?
        /// How long a tag is served without asking the upstream again.
        public var ttl: TimeInterval

        public init(remote: String, username: String? = nil, password: String? = nil, ttl: TimeInterval = 300) {
            self.remote = remote
            self.username = username
            self.password = password
            self.ttl = ttl
        }

        /// Without the password.
        public var description: String { "proxy \(remote)\(username.map { " as \($0)" } ?? ""), ttl \(Int(ttl)) s" }
    }

    public let configuration: Configuration
    let storage: RegistryStorage
    let client: RegistryClient
    let logger: Logger
    /// Docker Hub names official images `library/NAME`; other registries keep one-component names as they are.
    let upstreamIsDockerHub: Bool
    /// Blob fetches under way, by repository and digest: a second client asking waits for the first fetch.
    private let fetches = Mutex<[String: Task<Void, any Error>]>([:])
    /// After the upstream failed to answer, cached tags are served without asking it for a while,
    /// so clients do not each wait out its timeouts.
    private let quietUntil = Mutex<Date>(.distantPast)
    static let quietPeriod: TimeInterval = 15

    /// A client is waiting while the upstream is asked: one quick retry, not a pull's patient
    /// backoff, before the cached answer (or the failure) is given.
    public static let upstreamTransport: HTTPTransport = {
        var configuration = HTTPTransport.Configuration()
        configuration.retry = HTTPTransport.RetryPolicy(retries: 1, initialDelay: 0.1, maxDelay: 1)
        configuration.connectTimeout = .seconds(5)
        configuration.readTimeout = .seconds(60)
        return HTTPTransport(configuration: configuration)
    }()

    public init(_ configuration: Configuration, storage: RegistryStorage, transport: HTTPTransport = PullThroughCache.upstreamTransport,
                logger: Logger = Logger(label: "strata.registry.cache")) throws {
        guard !configuration.remote.isEmpty else {
            throw StrataError(.invalidArgument, "the proxy settings need proxy.remote (or --proxy-remote): the registry to mirror")
        }
        guard let url = URL(string: configuration.remote), let scheme = url.scheme, ["http", "https"].contains(scheme),
              let host = url.host, url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil, url.password == nil else {
            throw StrataError(.invalidArgument, "invalid proxy.remote \"\(configuration.remote)\": expected http(s)://host[:port], the upstream registry (its credentials go in proxy.username and proxy.password)")
        }
        if configuration.username != nil && configuration.password == nil {
            throw StrataError(.invalidArgument, "proxy.username needs proxy.password: the upstream's password or access token")
        }
        let authority = host + (url.port.map { ":\($0)" } ?? "")
        let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"].contains(host)
        let endpoint = RegistryEndpoint(name: authority, host: hub && url.port == nil ? "registry-1.docker.io" : authority,
                                        transports: [scheme == "http" ? .http : .https])
        self.configuration = configuration
        self.storage = storage
        self.logger = logger
        upstreamIsDockerHub = hub
        client = RegistryClient(endpoint: endpoint, credentials: configuration.username.map { Credentials(username: $0, password: configuration.password ?? "") },
                                transport: transport)
    }

    var remote: String { configuration.remote }

    /// What a push, a delete or an upload gets: this registry only mirrors.
    var readOnly: DistributionError {
        DistributionError(.unsupported, "this registry is a pull-through cache of \(remote): push to \(remote) instead")
    }

    /// The name the upstream knows a repository by: `library/busybox` at Docker Hub, `busybox` elsewhere.
    func upstreamName(_ repository: String) -> String {
        guard !upstreamIsDockerHub, repository.hasPrefix("library/") else { return repository }
        let rest = repository.dropFirst("library/".count)
        return rest.contains("/") ? repository : String(rest)
    }

    // MARK: manifests

    /// Makes the manifest `reference` of `repository` stored here, and a tag fresh enough.
    func refresh(_ repository: String, _ reference: ManifestReference) async throws {
        switch reference {
        case .digest(let digest):
            if try storage.manifest(repository, reference) != nil { return }
            do {
                try await fetchManifest(repository, digest.description, tag: nil)
            } catch {
                throw failure("manifest \(digest) of \(repository)", error)
            }
        case .tag(let tag):
            let cached = try storage.cachedTag(repository, tag)
            if let cached, Double(RegistryStorage.now - cached.checked) < configuration.ttl { return }
            if cached != nil, quietUntil.withLock({ $0 > Date() }) { return }
            do {
                let upstream = try await client.manifestDescriptor(upstreamName(repository), reference: tag)
                if let upstream, upstream.digest == cached?.digest {
                    try storage.confirmTag(repository, tag)
                } else if let upstream, try storage.manifest(repository, .digest(upstream.digest)) != nil {
                    try storage.setTag(repository, tag, to: upstream.digest)
                } else {
                    // By digest when the HEAD named one; by tag when it did not (some registries
                    // send no Docker-Content-Digest) or said 404, which the GET then confirms.
                    try await fetchManifest(repository, upstream?.digest.description ?? tag, tag: tag)
                }
            } catch let error as DistributionError where error.code == .manifestUnknown {
                throw error
            } catch {
                guard let cached else { throw failure("manifest \(tag) of \(repository)", error) }
                // The upstream is down or failing: what was cached is still the best answer.
                if Self.isUnreachable(error) { quietUntil.withLock { $0 = Date().addingTimeInterval(Self.quietPeriod) } }
                logger.warning("the upstream \(remote) failed for \(repository):\(tag) (\(Self.reason(error))); serving the cached \(cached.digest)")
            }
        }
    }

    private func fetchManifest(_ repository: String, _ reference: String, tag: String?) async throws {
        let blob: ManifestBlob
        do {
            blob = try await client.manifest(upstreamName(repository), reference: reference)
        } catch let error as StrataError where error.code == .manifestUnknown || error.code == .imageUnknown {
            throw DistributionError(.manifestUnknown, "manifest \(tag ?? reference) is not in repository \(repository), here or at the upstream \(remote)")
        }
        let manifest: ValidatedManifest
        do {
            manifest = try ValidatedManifest(bytes: blob.bytes, contentType: blob.mediaType.rawValue, reference: try? Digest(parsing: reference))
        } catch {
            throw StrataError(.registry, "the upstream's manifest \(reference) of \(repository) is not one this registry takes: \(Self.reason(error))")
        }
        try await storage.storeManifest(repository, manifest, bytes: blob.bytes, tag: tag, pushedBy: nil, requireBlobs: false)
        logger.info("cached \(repository)@\(blob.digest)\(tag.map { " (\($0))" } ?? "") from \(remote)")
    }

    // MARK: blobs

    /// For a HEAD of a blob not stored here: the upstream's size, when it answers one without
    /// the blob being fetched (nil: fetch it, as for a GET).
    func sizeForHEAD(_ repository: String, _ digest: Digest) async throws -> Int64? {
        if try storage.blobSize(repository, digest) != nil { return nil }
        guard case .found(let size?) = try await upstreamHas(repository, digest) else { return nil }
        return size
    }

    /// Makes the blob stored here and linked to `repository`, fetching it once however many ask.
    func ensureBlob(_ repository: String, _ digest: Digest) async throws {
        if try storage.blobSize(repository, digest) != nil { return }
        let key = "\(repository)@\(digest)"
        let task = fetches.withLock { fetches in
            if let running = fetches[key] { return running }
            let task = Task { try await self.fetchBlob(repository, digest) }
            fetches[key] = task
            return task
        }
        // Only the fetch that is still the current one is forgotten: a later one may have replaced it.
        defer { fetches.withLock { if $0[key] == task { $0.removeValue(forKey: key) } } }
        try await task.value
    }

    enum UpstreamAnswer { case found(size: Int64?), missing }

    /// Whether the upstream's `repository` has the blob (a HEAD; a redirect counts as yes).
    private func upstreamHas(_ repository: String, _ digest: Digest) async throws -> UpstreamAnswer {
        let response = try await client.send(.HEAD, "/v2/\(upstreamName(repository))/blobs/\(digest)",
                                             scopes: [RegistryClient.pullScope(upstreamName(repository))], timeout: .seconds(60))
        switch response.status.code {
        case 200: return .found(size: response.headers.first(name: "Content-Length").flatMap { Int64($0) })
        case 300..<400: return .found(size: nil)
        case 404: return .missing
        default: throw StrataError(.registry, "the upstream answered HEAD of blob \(digest) with \(response.status.code)")
        }
    }

    private func fetchBlob(_ repository: String, _ digest: Digest) async throws {
        let unknown = DistributionError(.blobUnknown, "blob \(digest) is not in repository \(repository), here or at the upstream \(remote)",
                                        detail: digest.description)
        let size: Int64
        do {
            // Stored for another repository already: a link, once the upstream says this one has it too.
            if try await storage.hasBytes(digest) {
                guard case .found = try await upstreamHas(repository, digest) else { throw unknown }
                if try await storage.linkStored(digest, into: repository) { return }
            }
            // The size comes with the bytes: a HEAD may redirect or leave it out (gcr.io does).
            let ingest = try storage.content.ingest(digest.algorithm)
            do {
                try await client.fetchBlob(upstreamName(repository), Descriptor(mediaType: MediaType("application/octet-stream"), digest: digest, size: -1)) { buffer in
                    try buffer.withUnsafeReadableBytes { try ingest.write($0) }
                }
            } catch let error as StrataError where error.code == .blobUnknown {
                throw unknown
            }
            size = ingest.count
            // Written by this task alone; handed on for its fsync and rename (or upload).
            try await storage.storeFetched(Unchecked(ingest), as: digest, size: size, into: repository)
        } catch {
            throw failure("blob \(digest) of \(repository)", error)
        }
        logger.info("cached \(repository)@\(digest) (\(size) bytes) from \(remote)")
    }

    // MARK: tags

    /// The upstream's tags of `repository`, or nil when it cannot say (the cached ones then do).
    func tags(_ repository: String) async -> [String]? {
        do { return try await client.tags(upstreamName(repository)).sorted() } catch {
            logger.warning("the upstream \(remote) failed to list the tags of \(repository) (\(Self.reason(error))); listing the cached ones")
            return nil
        }
    }

    // MARK: errors

    /// A definite answer (not found, invalid) as it is; anything else is 503: not stored here, and
    /// the upstream could not be asked, with its reason.
    func failure(_ what: String, _ error: any Error) -> DistributionError {
        if let error = error as? DistributionError { return error }
        if Self.isUnreachable(error) { quietUntil.withLock { $0 = Date().addingTimeInterval(Self.quietPeriod) } }
        return DistributionError(.unavailable, "\(what) is not cached here, and the upstream \(remote) failed: \(Self.reason(error))")
    }

    static func isUnreachable(_ error: any Error) -> Bool {
        error is ConnectionFailure || (error as? StrataError)?.code == .unreachable || (error as? StrataError)?.cause(as: ConnectionFailure.self) != nil
    }

    static func reason(_ error: any Error) -> String {
        (error as? StrataError)?.message ?? "\(error)"
    }
}
