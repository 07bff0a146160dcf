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
/// sees them or the upstream's challenges.
public final class PullThroughCache: Sendable {
    public struct Configuration: Sendable, Equatable {
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
    }

    public let configuration: Configuration
    let storage: RegistryStorage
    let client: RegistryClient
    let logger: Logger
    /// Blob fetches under way, by repository and digest: a second client asking waits for the first fetch.
    private let fetches = Mutex<[String: Task<Void, any Error>]>([:])

    /// A client is waiting while the upstream is asked: one quick retry, not a pull's patient
    /// backoff, before the cached answer (or the failure) is given.
    public static let upstreamTransport: HTTPTransport = {
        var configuration = HTTPTransport.Configuration()
        configuration.retry = HTTPTransport.RetryPolicy(retries: 1, initialDelay: 0.1, maxDelay: 1)
        configuration.connectTimeout = .seconds(5)
        return HTTPTransport(configuration: configuration)
    }()

    public init(_ configuration: Configuration, storage: RegistryStorage, transport: HTTPTransport = PullThroughCache.upstreamTransport,
                logger: Logger = Logger(label: "strata.registry.cache")) throws {
        guard let url = URL(string: configuration.remote), let scheme = url.scheme, ["http", "https"].contains(scheme),
              let host = url.host, url.path.isEmpty || url.path == "/", url.query == nil else {
            throw StrataError(.invalidArgument, "invalid proxy.remote \"\(configuration.remote)\": expected http(s)://host[:port], the upstream registry")
        }
        if configuration.username != nil && configuration.password == nil {
            throw StrataError(.invalidArgument, "proxy.username needs proxy.password: the upstream's password or access token")
        }
        let authority = host + (url.port.map { ":\($0)" } ?? "")
        let endpoint = RegistryEndpoint(name: authority, host: authority == "docker.io" ? "registry-1.docker.io" : authority,
                                        transports: [scheme == "http" ? .http : .https])
        self.configuration = configuration
        self.storage = storage
        self.logger = logger
        client = RegistryClient(endpoint: endpoint, credentials: configuration.username.map { Credentials(username: $0, password: configuration.password ?? "") },
                                transport: transport)
    }

    var remote: String { configuration.remote }

    /// What a push, a delete or an upload gets: this registry only mirrors.
    var readOnly: DistributionError {
        DistributionError(.unsupported, "this registry is a pull-through cache of \(remote): push to \(remote) instead")
    }

    // MARK: manifests

    /// Makes the manifest `reference` of `repository` stored here, and a tag fresh enough.
    func refresh(_ repository: String, _ reference: ManifestReference) async throws {
        switch reference {
        case .digest(let digest):
            if try storage.manifest(repository, reference) != nil { return }
            do {
                try await fetchManifest(repository, digest.description, tag: nil)
            } catch let error as DistributionError {
                throw error
            } catch {
                throw unavailable("manifest \(digest) of \(repository)", error)
            }
        case .tag(let tag):
            let cached = try storage.cachedTag(repository, tag)
            if let cached, Double(RegistryStorage.now - cached.checked) < configuration.ttl { return }
            do {
                guard let upstream = try await client.manifestDescriptor(repository, reference: tag) else {
                    throw DistributionError(.manifestUnknown, "manifest \(tag) is not in repository \(repository), here or at the upstream \(remote)")
                }
                if upstream.digest == cached?.digest {
                    try storage.confirmTag(repository, tag)
                } else {
                    try await fetchManifest(repository, upstream.digest.description, tag: tag)
                }
            } catch let error as DistributionError {
                throw error
            } catch {
                guard let cached else { throw unavailable("manifest \(tag) of \(repository)", error) }
                // The upstream is down or failing: what was cached is still the best answer.
                logger.warning("the upstream \(remote) failed for \(repository):\(tag) (\(Self.reason(error))); serving the cached \(cached.digest)")
            }
        }
    }

    private func fetchManifest(_ repository: String, _ reference: String, tag: String?) async throws {
        let blob: ManifestBlob
        do {
            blob = try await client.manifest(repository, reference: reference)
        } catch let error as StrataError where error.code == .manifestUnknown || error.code == .imageUnknown {
            throw DistributionError(.manifestUnknown, "manifest \(reference) is not in repository \(repository), here or at the upstream \(remote)")
        }
        let manifest = try ValidatedManifest(bytes: blob.bytes, contentType: blob.mediaType.rawValue,
                                             reference: try? Digest(parsing: reference))
        try await NIOThreadPool.singleton.runIfActive { [storage] in
            try storage.putManifest(repository, manifest, bytes: blob.bytes, tag: tag, requireBlobs: false)
        }
        logger.info("cached \(repository)@\(blob.digest)\(tag.map { " (\($0))" } ?? "") from \(remote)")
    }

    // MARK: blobs

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
        defer { fetches.withLock { _ = $0.removeValue(forKey: key) } }
        try await task.value
    }

    private func fetchBlob(_ repository: String, _ digest: Digest) async throws {
        // Stored for another repository already: a link, and no byte moves.
        if try await NIOThreadPool.singleton.runIfActive({ [storage] in try storage.linkStored(digest, into: repository) }) { return }
        let size: Int64
        do {
            let response = try await client.send(.HEAD, "/v2/\(repository)/blobs/\(digest)", scopes: [RegistryClient.pullScope(repository)],
                                                 timeout: .seconds(60))
            guard response.status.code == 200 else {
                if response.status.code == 404 {
                    throw DistributionError(.blobUnknown, "blob \(digest) is not in repository \(repository), here or at the upstream \(remote)",
                                            detail: digest.description)
                }
                throw StrataError(.registry, "the upstream answered HEAD of blob \(digest) with \(response.status.code)")
            }
            size = response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? -1
            guard size >= 0 else { throw StrataError(.registry, "the upstream answered HEAD of blob \(digest) without a Content-Length") }
            let ingest = try storage.content.ingest(digest.algorithm)
            try await client.fetchBlob(repository, Descriptor(mediaType: MediaType("application/octet-stream"), digest: digest, size: size)) { buffer in
                try buffer.withUnsafeReadableBytes { try ingest.write($0) }
            }
            // Written by this task alone; handed to the pool for its fsync and rename.
            let fetched = Unchecked(ingest)
            try await NIOThreadPool.singleton.runIfActive { [storage] in try storage.storeFetched(fetched.value, as: digest, size: size, into: repository) }
        } catch let error as DistributionError {
            throw error
        } catch {
            throw unavailable("blob \(digest) of \(repository)", error)
        }
        logger.info("cached \(repository)@\(digest) (\(size) bytes) from \(remote)")
    }

    // MARK: tags

    /// The upstream's tags of `repository`, or nil when it cannot say (the cached ones then do).
    func tags(_ repository: String) async -> [String]? {
        do { return try await client.tags(repository).sorted() } catch {
            logger.warning("the upstream \(remote) failed to list the tags of \(repository) (\(Self.reason(error))); listing the cached ones")
            return nil
        }
    }

    // MARK: errors

    /// Not stored here, and the upstream could not be asked: 503, with the upstream's reason.
    func unavailable(_ what: String, _ error: any Error) -> DistributionError {
        DistributionError(.unavailable, "\(what) is not cached here, and the upstream \(remote) failed: \(Self.reason(error))")
    }

    static func reason(_ error: any Error) -> String {
        (error as? StrataError)?.message ?? "\(error)"
    }
}
