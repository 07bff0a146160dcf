import ArgumentParser
import Foundation
import ImageSpec
import ImageStore
import Registry
import Snapshots
import Transfer

/// `strata pull`: an image from a registry, layers unpacked as they download.
struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Download an image from a registry.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Flag(name: [.customShort("a"), .customLong("all-tags")], help: "Download all tagged images in the repository.") var allTags = false
    @Option(help: ArgumentHelp("Pull this platform if the image has several (default: this host's).", valueName: "os/arch[/variant]"))
    var platform: String?
    @Flag(name: .shortAndLong, help: "Suppress verbose output.") var quiet = false
    @Argument(help: "NAME[:TAG|@DIGEST]") var name: String

    func run() async throws {
        let ref = try Reference(parsing: name)
        let wanted = try platform.map(Platform.init(parsing:))
        let engine = try global.engine()
        let client = try registry.client(for: ref.domain)
        var references = [ref.digest == nil && ref.tag == nil ? ref.withDefaultTag : ref]
        if allTags {
            guard ref.tag == nil, ref.digest == nil else {
                throw StrataError(.invalidArgument, "tag can't be used with --all-tags/-a")
            }
            references = try await client.tags(ref.path).sorted().compactMap { try? Reference(parsing: "\(ref.name):\($0)") }
        }
        for reference in references {
            let line = try await Self.pull(reference, client: client, store: engine.store, snapshotter: engine.snapshots, platform: wanted, quiet: quiet)
            if !allTags { emit(line + "\n") }
        }
        if allTags { emit(ref.name + "\n") }
    }

    /// Pulls one reference; returns the line Docker ends with (the full reference).
    static func pull(_ ref: Reference, client: RegistryClient, store: ImageStore, snapshotter: Snapshotter?,
                     platform: Platform?, quiet: Bool, toStandardError: Bool = false) async throws -> String {
        let progress = TransferProgress(mode: .pull, quiet: quiet, toStandardError: toStandardError)
        progress.setHeader("\(ref.digest?.description ?? ref.tag ?? Reference.defaultTag): Pulling from \(ref.path)")
        let source = RegistrySource(client: client, repository: ref.path, reference: ref.digest?.description ?? ref.tag ?? Reference.defaultTag)
        let destination = try StoreDestination(store: store, snapshotter: snapshotter,
                                               tags: ref.digest == nil ? [ref] : [], repository: ref.name)
        var options = CopyOptions(platform: platform)
        options.reportHeldLayers = false
        let result = try await Copier.copy(from: source, to: destination, options: options, events: progress.handle)
        if let plan = result.plan {
            try? store.recordBlobSources(plan.parsed.layers.map(\.digest) + [plan.parsed.config.digest],
                                         registry: ref.domain, repository: ref.path)
        }
        progress.line("Digest: \(result.rootDigest)")
        progress.line("Status: \(result.held ? "Image is up to date" : "Downloaded newer image") for \(ref.fullString)")
        return ref.fullString
    }
}
