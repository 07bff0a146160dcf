import Foundation

extension Engine {
    public struct CopyOptions: Sendable {
        /// The platform to take from a multi-platform image.
        public var platform: Platform?
        /// Re-compress layers to this.
        public var compression: Compression?
        public var tlsVerify: Bool?

        public init(platform: Platform? = nil, compression: Compression? = nil, tlsVerify: Bool? = nil) {
            self.platform = platform
            self.compression = compression
            self.tlsVerify = tlsVerify
        }
    }

    /// `strata copy SRC DST`: an image between registries, OCI layouts, archives and the store,
    /// through the same pipeline as pull and push.
    @discardableResult
    public func copy(from source: ImageLocation, to destination: ImageLocation, options: CopyOptions = CopyOptions(),
                     events: @escaping @Sendable (TransferEvent) -> Void = { _ in }) async throws -> CopyResult {
        let src = try imageSource(source, tlsVerify: options.tlsVerify)
        defer { src.close() }
        let dst = try imageDestination(destination, tlsVerify: options.tlsVerify)
        var copyOptions = Transfer.CopyOptions(platform: options.platform, compression: options.compression)
        copyOptions.reportHeldLayers = true
        let result = try await Copier.copy(from: src, to: dst, options: copyOptions, events: events)
        try dst.close()
        if case .registry(let ref) = destination {
            try record(pushed: result, of: (src as? StoreSource)?.image, to: ref, store: try store)
        }
        return result
    }

    /// The source a location names.
    public func imageSource(_ location: ImageLocation, tlsVerify: Bool? = nil) throws -> ImageSource {
        switch location {
        case .registry(let ref):
            return RegistrySource(client: try registryClient(for: ref.domain, tlsVerify: tlsVerify), repository: ref.path,
                                  reference: ref.digest?.description ?? ref.tag ?? Reference.defaultTag)
        case .store(let name):
            let store = try self.store
            let (image, _) = try store.lookup(name)
            return StoreSource(store: store, image: image, name: name)
        case .ociLayout(let path, let ref):
            guard FileSystem.exists("\(path)/index.json") else {
                throw StrataError(.invalidArchive, "oci:\(path) is not an OCI image layout: it has no index.json")
            }
            return try LayoutArchive.source(path, reference: ref, label: "oci:\(path)")
        case .ociArchive(let path, let ref), .dockerArchive(let path, let ref):
            return try LayoutArchive.source(path, reference: ref, label: location.description)
        }
    }

    /// The destination a location names.
    public func imageDestination(_ location: ImageLocation, tlsVerify: Bool? = nil) throws -> ImageDestination {
        switch location {
        case .registry(let ref):
            guard ref.digest == nil else { throw StrataError(.invalidReference, "cannot copy to a digest reference: name a tag") }
            let known = KnownBlobs(store: try store, registry: ref.domain)
            return RegistryDestination(client: try registryClient(for: ref.domain, tlsVerify: tlsVerify), repository: ref.path,
                                       tag: ref.withDefaultTag.tag, knownSources: { known.repositories($0) })
        case .store(let name):
            let ref = try Reference(parsing: name)
            guard ref.digest == nil else { throw StrataError(.invalidReference, "cannot name an image in the store by digest: name a tag") }
            return try StoreDestination(store: try store, snapshotter: nil, tags: [ref.withDefaultTag], repository: nil)
        case .ociLayout(let path, let ref): return try LayoutDestination(format: .ociLayout, path: path, reference: ref)
        case .ociArchive(let path, let ref): return try LayoutDestination(format: .ociArchive, path: path, reference: ref)
        case .dockerArchive(let path, let ref): return try LayoutDestination(format: .dockerArchive, path: path, reference: ref)
        }
    }
}
