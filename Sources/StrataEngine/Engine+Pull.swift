import Foundation

extension Engine {
    /// `strata pull`: an image from a registry into the store, layers unpacked as they download
    /// (overlay). Reports `.pulling`, the transfer, then `.pulled`.
    @discardableResult
    public func pull(_ reference: Reference, options: PullOptions = PullOptions(),
                     events: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> PullResult {
        let ref = reference.digest == nil && reference.tag == nil ? reference.withDefaultTag : reference
        let client = try registryClient(for: ref.domain, tlsVerify: options.tlsVerify)
        let store = try self.store
        let snapshotter = try containers.snapshots
        events(.pulling(ref))
        let source = RegistrySource(client: client, repository: ref.path, reference: ref.digest?.description ?? ref.tag ?? Reference.defaultTag)
        let destination = try StoreDestination(store: store, snapshotter: snapshotter, tags: ref.digest == nil ? [ref] : [], repository: ref.name)
        var copyOptions = Transfer.CopyOptions(platform: options.platform)
        copyOptions.reportHeldLayers = false
        let copied = try await Copier.copy(from: source, to: destination, options: copyOptions, events: { events(.transfer($0)) })
        if let plan = copied.plan {
            try? store.recordBlobSources(plan.parsed.layers.map(\.digest) + [plan.parsed.config.digest], registry: ref.domain, repository: ref.path)
        }
        let result = PullResult(reference: ref, digest: copied.rootDigest, upToDate: copied.held, image: destination.image)
        events(.pulled(result))
        return result
    }

    /// `strata pull NAME` with a string, as a user types it.
    @discardableResult
    public func pull(_ name: String, options: PullOptions = PullOptions(),
                     events: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> PullResult {
        try await pull(try Reference(parsing: name), options: options, events: events)
    }

    /// Every tag of a repository, sorted, as references (`pull --all-tags`).
    public func tags(of repository: Reference, tlsVerify: Bool? = nil) async throws -> [Reference] {
        guard repository.tag == nil, repository.digest == nil else {
            throw StrataError(.invalidArgument, "tag can't be used with --all-tags/-a")
        }
        let client = try registryClient(for: repository.domain, tlsVerify: tlsVerify)
        return try await client.tags(repository.path).sorted().compactMap { try? Reference(parsing: "\(repository.name):\($0)") }
    }

    /// The image `name` names, pulled first as the policy says: what `run`, `create` and `build` do.
    func image(_ name: String, pull policy: PullPolicy, events: @escaping @Sendable (PullEvent) -> Void) async throws -> ImageStore.Image {
        let store = try self.store
        if policy != .always, let local = try? store.resolve(name) { return local }
        // A name that is not a reference (an ID prefix) can only be local.
        guard policy != .never, let ref = try? Reference(parsing: name) else { return try store.resolve(name) }
        let reference = ref.digest == nil && ref.tag == nil ? ref.withDefaultTag : ref
        if policy == .missing { events(.notFoundLocally(reference)) }
        let result = try await pull(reference, events: events)
        return try result.image ?? store.resolve(reference.description)
    }
}
