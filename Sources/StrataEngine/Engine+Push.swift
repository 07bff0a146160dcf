import Foundation

extension Engine {
    /// `strata push NAME[:TAG]`: uploads only what the registry lacks — a `HEAD` per layer, a
    /// cross-repository mount where the store has seen the blob in another repository of that
    /// registry, plain layers gzip-compressed on the way — and records where the blobs now are,
    /// so the next push of the same image costs one round trip.
    @discardableResult
    public func push(_ name: String, options: PushOptions = PushOptions(),
                     events: @escaping @Sendable (PushEvent) -> Void = { _ in }) async throws -> PushResult {
        let ref = try Reference(parsing: name)
        guard ref.digest == nil else {
            throw StrataError(.invalidReference, "cannot push a digest reference \"\(name)\": push NAME[:TAG]")
        }
        let tagged = ref.withDefaultTag
        let store = try self.store
        let image: ImageStore.Image
        do { image = try store.resolve(tagged.description) } catch let error as StrataError where error.code == .imageUnknown {
            throw StrataError(.imageUnknown, "An image does not exist locally with the tag: \(ref.tag == nil ? ref.name : tagged.description)",
                              cause: error)
        }
        let client = try registryClient(for: ref.domain, tlsVerify: options.tlsVerify)
        events(.pushing(ref))
        let source = StoreSource(store: store, image: image, name: tagged.description)
        let known = KnownBlobs(store: store, registry: ref.domain)
        // Manifests this image went out as before (re-compressed): one of them under the tag means done.
        let pushedAs = Set(try store.repoDigests(of: image.id).filter { $0.name == ref.name }.compactMap(\.digest))
        let destination = RegistryDestination(client: client, repository: ref.path, tag: tagged.tag, chunkSize: options.chunkSize,
                                              pushedAs: pushedAs, knownSources: { known.repositories($0) })
        var copyOptions = Transfer.CopyOptions(compression: options.compression)
        copyOptions.compressPlainLayers = .gzip
        copyOptions.knownVariant = { known.variant(of: $0, compression: $1) }
        copyOptions.reportHeldLayers = true
        let copied = try await Copier.copy(from: source, to: destination, options: copyOptions, events: { events(.transfer($0)) })
        try record(pushed: copied, of: image, to: ref, store: store)
        let result = PushResult(reference: tagged, manifestDigest: copied.manifestDigest, manifestSize: copied.manifestSize, upToDate: copied.held)
        events(.pushed(result))
        return result
    }

    /// What a push or copy to a registry teaches the store: where the blobs now are (mount
    /// sources for later pushes), the re-compressed digests of plain layers, and the manifest the
    /// image went out as (a repo digest, so the next push of it costs one `HEAD`).
    func record(pushed copied: CopyResult, of image: ImageStore.Image?, to ref: Reference, store: ImageStore) throws {
        let stored = try image.map { try store.manifest(of: $0) }
        guard let pushed = copied.plan?.parsed ?? stored else { return }
        try? store.recordBlobSources(pushed.layers.map(\.digest) + [pushed.config.digest], registry: ref.domain, repository: ref.path)
        guard let image, let stored else { return }
        for (mine, sent) in zip(stored.layers, pushed.layers) where mine.digest != sent.digest {
            if let compression = sent.mediaType.layerCompression {
                try? store.recordLayerVariant(of: mine.digest, compression: compression, variant: sent)
            }
        }
        if let digestRef = try? Reference(parsing: "\(ref.name)@\(copied.manifestDigest)") {
            try? store.addRepoDigest(digestRef, image: image.id)
        }
    }
}

/// Mount candidates and re-compressed layers from the store's records, read from any task.
final class KnownBlobs: @unchecked Sendable {
    private let store: ImageStore
    private let registry: String
    private let lock = NSLock()

    init(store: ImageStore, registry: String) {
        self.store = store
        self.registry = registry
    }

    func repositories(_ digest: Digest) -> [String] {
        lock.withLock { (try? store.blobSources(digest, registry: registry)) ?? [] }
    }

    func variant(of digest: Digest, compression: Compression) -> Descriptor? {
        lock.withLock { try? store.layerVariant(of: digest, compression: compression) }
    }
}
