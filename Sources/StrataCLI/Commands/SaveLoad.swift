import ArgumentParser
import Foundation
import StrataEngine

extension SaveFormat: ExpressibleByArgument {}

/// `strata save`: images to a docker-archive or an OCI image layout.
struct Save: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Save one or more images to a tar archive (streamed to STDOUT by default).")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Write to a file (or, with --format oci, a directory: an existing one or a path ending in /).")
    var output: String?
    @Option(help: "docker (docker save's layout) or oci (an OCI image layout).") var format: SaveFormat = .docker
    @Argument(help: "Images to save.") var images: [String]

    func run() async throws {
        guard !images.isEmpty else { throw ValidationError("\"save\" requires at least 1 argument.") }
        let target: ArchiveTarget
        if format == .oci, let output, output.hasSuffix("/") || FileSystem.isDirectory(output) {
            target = .directory(output)
        } else {
            target = try outputTarget(output)
        }
        let engine = try global.engine()
        try await Interruptible.run(cleanup: { engine.removeTemporaries() }) { [images, format] in
            try await engine.save(images, format: format, to: target)
        }
    }
}

/// `strata load`: a docker-archive or OCI layout (tar, compressed tar, directory) into the store.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Load images from a tar archive or an OCI layout (STDIN by default).")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Read from a tar archive file (plain, gzip or zstd) or an OCI layout directory.")
    var input: String?
    @Flag(name: .shortAndLong, help: "Suppress the load output.") var quiet = false

    func run() async throws {
        let source = input ?? "-"
        if source == "-", isatty(0) != 0 {
            throw StrataError(.invalidArgument, "requested load from stdin, but stdin is empty")
        }
        let engine = try global.engine()
        let loaded = try await Interruptible.run(cleanup: { engine.removeTemporaries() }) { try await engine.load(from: source) }
        guard !quiet else { return }
        var out = ""
        for item in loaded {
            for moved in item.moved {
                out += "The image \(moved.reference.withDefaultTag.familiarString) already exists, renaming the old one with ID \(moved.previous) to empty string\n"
            }
            if item.tags.isEmpty {
                out += "Loaded image ID: \(item.image.id)\n"
            } else {
                for tag in item.tags { out += "Loaded image: \(tag.withDefaultTag.familiarString)\n" }
            }
        }
        emit(out)
    }
}
