import ArgumentParser
import Foundation
import ImageSpec
import ImageStore
import Registry
import Transfer

extension Compression: ExpressibleByArgument {}

/// `strata push`: an image to a registry, uploading only what the registry lacks.
struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Upload an image to a registry.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Flag(name: .shortAndLong, help: "Suppress verbose output.") var quiet = false
    @Option(name: .customLong("compression-format"),
            help: "Re-compress layers that differ: gzip, zstd or none (default: compressed layers as stored, uncompressed ones gzip-compressed, as Docker does).")
    var compression: Compression?
    @Option(name: .customLong("chunk-size"), help: ArgumentHelp("Upload blobs in chunks of this many bytes (default: one request per blob).", valueName: "bytes"))
    var chunkSize: Int64?
    @Argument(help: "NAME[:TAG]") var name: String

    func run() async throws {
        let ref = try Reference(parsing: name)
        guard ref.digest == nil else {
            throw StrataError(.invalidReference, "cannot push a digest reference \"\(name)\": push NAME[:TAG]")
        }
        let tagged = ref.withDefaultTag
        let store = try global.store()
        let image: ImageStore.Image
        do { image = try store.resolve(tagged.description) } catch {
            throw StrataError(.imageUnknown, "An image does not exist locally with the tag: \(ref.tag == nil ? ref.name : tagged.description)")
        }
        let client = try registry.client(for: ref.domain)
        let progress = TransferProgress(mode: .push, quiet: quiet)
        progress.line("The push refers to repository [\(ref.name)]")
        let source = StoreSource(store: store, image: image, name: tagged.description)
        let registryName = ref.domain
        let known = KnownSources(store: store, registry: registryName)
        // Manifests this image went out as before, re-compressed: one of them under the tag means done.
        let pushedAs = Set(try store.repoDigests(of: image.id).filter { $0.name == ref.name }.compactMap(\.digest))
        let destination = RegistryDestination(client: client, repository: ref.path, tag: tagged.tag, chunkSize: chunkSize,
                                              pushedAs: pushedAs, knownSources: { known.repositories($0) })
        var options = CopyOptions(compression: compression)
        options.compressPlainLayers = .gzip
        options.knownVariant = { known.variant(of: $0, compression: $1) }
        options.reportHeldLayers = true
        let result = try await Copier.copy(from: source, to: destination, options: options, events: progress.handle)
        let manifest = try store.manifest(of: image)
        let pushed = result.plan?.parsed ?? manifest
        try? store.recordBlobSources(pushed.layers.map(\.digest) + [pushed.config.digest], registry: registryName, repository: ref.path)
        for (stored, sent) in zip(manifest.layers, pushed.layers) where stored.digest != sent.digest {
            if let compression = sent.mediaType.layerCompression {
                try? store.recordLayerVariant(of: stored.digest, compression: compression, variant: sent)
            }
        }
        if let digestRef = try? Reference(parsing: "\(ref.name)@\(result.manifestDigest)") {
            try? store.addRepoDigest(digestRef, image: image.id)
        }
        progress.line("\(tagged.tag ?? Reference.defaultTag): digest: \(result.manifestDigest) size: \(result.manifestSize)")
        if quiet { emit(tagged.fullString + "\n") }
    }
}

/// Mount candidates and re-compressed layers from the store's records, read from any task.
final class KnownSources: @unchecked Sendable {
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
