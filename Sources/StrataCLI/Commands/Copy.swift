import ArgumentParser
import Foundation
import StrataEngine

/// `strata copy SRC DST`: an image between registries, OCI layouts, archives and the local store,
/// through the same pipeline as pull and push.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
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
    @Option(help: "Progress output: auto (bars on a terminal), plain, or json (one Docker API message per line).")
    var progress: ProgressStyle = .auto
    @Argument(help: "Source.") var source: String
    @Argument(help: "Destination.") var destination: String

    func run() async throws {
        let from = try ImageLocation(parsing: source)
        let to = try ImageLocation(parsing: destination)
        let engine = try global.engine()
        let output = TransferProgress(mode: .copy, style: progress, quiet: quiet)
        let options = Engine.CopyOptions(platform: try platform.map(Platform.init(parsing:)), compression: compression, tlsVerify: registry.tlsVerify)
        let result = try await Interruptible.run(cleanup: { engine.removeTemporaries() }) {
            try await engine.copy(from: from, to: to, options: options, events: output.handle)
        }
        output.line(result.held ? "\(to) already holds this image" : "Copied \(from) to \(to)")
        output.line("Digest: \(result.manifestDigest)")
    }
}
