import ArgumentParser
import Foundation
import StrataEngine

/// `strata pull`: an image from a registry, layers unpacked as they download.
struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Download an image from a registry.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Flag(name: [.customShort("a"), .customLong("all-tags")], help: "Download all tagged images in the repository.") var allTags = false
    @Option(help: ArgumentHelp("Pull this platform if the image has several (default: this host's).", valueName: "os/arch[/variant]"))
    var platform: String?
    @Flag(name: .shortAndLong, help: "Suppress verbose output.") var quiet = false
    @Option(help: "Progress output: auto (bars on a terminal), plain, or json (one Docker API message per line).")
    var progress: ProgressStyle = .auto
    @Argument(help: "NAME[:TAG|@DIGEST]") var name: String

    func run() async throws {
        let ref = try Reference(parsing: name)
        let options = PullOptions(platform: try platform.map(Platform.init(parsing:)), tlsVerify: registry.tlsVerify)
        let engine = try global.engine()
        let references = allTags ? try await engine.tags(of: ref, tlsVerify: registry.tlsVerify) : [ref]
        let renderer = PullRenderer(style: progress, quiet: quiet)
        for reference in references {
            let result = try await Interruptible.run(cleanup: { engine.removeTemporaries() }) {
                try await engine.pull(reference, options: options, events: renderer.handle)
            }
            if !allTags { emit(result.reference.description + "\n") }
        }
        if allTags { emit(ref.name + "\n") }
    }
}

/// A pull in Docker's words: the header, per-layer lines (or bars), `Digest:` and `Status:`.
/// `run`, `create` and `build` show theirs on stderr, so the container's output stays its own.
struct PullRenderer: Sendable {
    let progress: TransferProgress

    init(style: ProgressStyle = .auto, quiet: Bool = false, toStandardError: Bool = false) {
        progress = TransferProgress(mode: .pull, style: style, quiet: quiet, toStandardError: toStandardError)
    }

    func handle(_ event: PullEvent) {
        switch event {
        case .notFoundLocally(let ref):
            warn("Unable to find image '\(ref.familiarString)' locally")
        case .pulling(let ref):
            progress.setHeader("\(ref.digest?.description ?? ref.tag ?? Reference.defaultTag): Pulling from \(ref.path)")
        case .transfer(let event):
            progress.handle(event)
        case .pulled(let result):
            progress.line("Digest: \(result.digest)")
            progress.line("Status: \(result.upToDate ? "Image is up to date" : "Downloaded newer image") for \(result.reference)")
        }
    }
}
