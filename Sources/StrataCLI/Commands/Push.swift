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
    @Option(name: .customLong("compression-format"), help: "Re-compress layers that differ: gzip, zstd or none (default: push them as stored).")
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
        let destination = RegistryDestination(client: client, repository: ref.path, tag: tagged.tag, chunkSize: chunkSize,
                                              knownSources: { known.repositories($0) })
        var options = CopyOptions(compression: compression)
        options.reportHeldLayers = true
        let result = try await Copier.copy(from: source, to: destination, options: options, events: progress.handle)
        let manifest = try store.manifest(of: image)
        let pushed = result.plan?.parsed ?? manifest
        try? store.recordBlobSources(pushed.layers.map(\.digest) + [pushed.config.digest], registry: registryName, repository: ref.path)
        if let digestRef = try? Reference(parsing: "\(ref.name)@\(result.manifestDigest)") {
            try? store.addRepoDigest(digestRef, image: image.id)
        }
        progress.line("\(tagged.tag ?? Reference.defaultTag): digest: \(result.manifestDigest) size: \(result.manifestSize)")
        if quiet { emit(tagged.fullString + "\n") }
    }
}

/// Mount candidates from the store's record of where blobs were seen, read from any task.
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
}
