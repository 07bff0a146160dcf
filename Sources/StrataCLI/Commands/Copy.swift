import ArgumentParser
import Foundation
import ImageSpec
import ImageStore
import Registry
import Transfer

/// `strata copy SRC DST`: an image between registries, OCI layouts, archives and the local store,
/// through the same pipeline as pull and push.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an image between registries, OCI layouts, archives and the local store.",
        discussion: """
            Locations: docker://NAME[:TAG|@DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF],
            docker-archive:FILE[:NAME:TAG], strata:NAME (the local store; a bare name means the same).
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Option(help: ArgumentHelp("Copy this platform from a multi-platform image.", valueName: "os/arch[/variant]")) var platform: String?
    @Option(name: .customLong("compression-format"), help: "Re-compress layers to gzip, zstd or none.") var compression: Compression?
    @Flag(name: .shortAndLong, help: "Suppress progress output.") var quiet = false
    @Argument(help: "Source.") var source: String
    @Argument(help: "Destination.") var destination: String

    func run() async throws {
        let from = try ImageLocation(parsing: source)
        let to = try ImageLocation(parsing: destination)
        let store: ImageStore? = from.isStore || to.isStore ? try global.store() : nil
        let src = try makeSource(from, store: store)
        defer { src.close() }
        let dst = try makeDestination(to, store: store)
        let progress = TransferProgress(mode: .copy, quiet: quiet)
        var options = CopyOptions(platform: try platform.map(Platform.init(parsing:)), compression: compression)
        options.reportHeldLayers = true
        let result = try await Copier.copy(from: src, to: dst, options: options, events: progress.handle)
        if case .registry(let ref) = to, let plan = result.plan, let store = try? global.store() {
            try? store.recordBlobSources(plan.parsed.layers.map(\.digest) + [plan.parsed.config.digest], registry: ref.domain, repository: ref.path)
        }
        progress.line(result.held ? "\(to) already holds this image" : "Copied \(from) to \(to)")
        progress.line("Digest: \(result.manifestDigest)")
    }

    func makeSource(_ location: ImageLocation, store: ImageStore?) throws -> ImageSource {
        switch location {
        case .registry(let ref):
            return RegistrySource(client: try registry.client(for: ref.domain), repository: ref.path,
                                  reference: ref.digest?.description ?? ref.tag ?? Reference.defaultTag)
        case .store(let name):
            guard let store else { throw StrataError(.invalidArgument, "no store") }
            let (image, _) = try store.lookup(name)
            return StoreSource(store: store, image: image, name: name)
        case .ociLayout(let path, let ref): return try LayoutSource.ociLayout(path, reference: ref)
        case .ociArchive(let path, let ref): return try LayoutSource.ociArchive(path, reference: ref)
        case .dockerArchive(let path, let ref): return try LayoutSource.dockerArchive(path, reference: ref)
        }
    }

    func makeDestination(_ location: ImageLocation, store: ImageStore?) throws -> ImageDestination {
        switch location {
        case .registry(let ref):
            guard ref.digest == nil else { throw StrataError(.invalidReference, "cannot copy to a digest reference: name a tag") }
            let known = store.map { KnownSources(store: $0, registry: ref.domain) }
            return RegistryDestination(client: try registry.client(for: ref.domain), repository: ref.path, tag: ref.withDefaultTag.tag,
                                       knownSources: { known?.repositories($0) ?? [] })
        case .store(let name):
            guard let store else { throw StrataError(.invalidArgument, "no store") }
            let ref = try Reference(parsing: name)
            guard ref.digest == nil else { throw StrataError(.invalidReference, "cannot name an image in the store by digest: name a tag") }
            return try StoreDestination(store: store, snapshotter: nil, tags: [ref.withDefaultTag], repository: nil)
        case .ociLayout(let path, let ref): return try LayoutDestination(format: .ociLayout, path: path, reference: ref)
        case .ociArchive(let path, let ref): return try LayoutDestination(format: .ociArchive, path: path, reference: ref)
        case .dockerArchive(let path, let ref): return try LayoutDestination(format: .dockerArchive, path: path, reference: ref)
        }
    }
}

extension ImageLocation {
    var isStore: Bool { if case .store = self { return true } else { return false } }
}
