import ArgumentParser
import Foundation
import StrataEngine

extension Compression: ExpressibleByArgument {}

/// `strata push`: an image to a registry, uploading only what the registry lacks.
struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Upload an image to a registry.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Flag(name: .shortAndLong, help: "Suppress verbose output.") var quiet = false
    @Option(name: .customLong("compression-format"),
            help: "Re-compress layers that differ: gzip, zstd or none (default: compressed layers as stored, uncompressed ones gzip-compressed, as Docker does).")
    var compression: Compression?
    @Option(name: .customLong("chunk-size"), help: ArgumentHelp("Upload blobs in chunks of this many bytes (default: one request per blob).", valueName: "bytes"))
    var chunkSize: Int64?
    @Option(help: "Progress output: auto (bars on a terminal), plain, or json (one Docker API message per line).")
    var progress: ProgressStyle = .auto
    @Argument(help: "NAME[:TAG]") var name: String

    func run() async throws {
        let engine = try global.engine()
        let output = TransferProgress(mode: .push, style: progress, quiet: quiet)
        let options = PushOptions(compression: compression, chunkSize: chunkSize, tlsVerify: registry.tlsVerify)
        let name = self.name
        let result = try await Interruptible.run(cleanup: { engine.removeTemporaries() }) {
            try await engine.push(name, options: options) { event in
                switch event {
                case .pushing(let ref): output.line("The push refers to repository [\(ref.name)]")
                case .transfer(let event): output.handle(event)
                case .pushed(let result):
                    output.line("\(result.reference.tag ?? Reference.defaultTag): digest: \(result.manifestDigest) size: \(result.manifestSize)")
                }
            }
        }
        if quiet { emit(result.reference.description + "\n") }
    }
}
