import ArgumentParser
import StrataEngine

/// `strata import PATH [REPOSITORY[:TAG]]`.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a root filesystem (a directory, or a tar: plain, gzip or zstd; - for stdin) as a one-layer image.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR).")
    var change: [String] = []
    @Option(name: .shortAndLong, help: "Set a commit message for the imported image.") var message: String?
    @Option(help: "Set the platform (os/arch[/variant]) the image is for.") var platform: String?
    @Argument(help: "A directory, a tar file, or - for standard input.") var path: String
    @Argument(help: "REPOSITORY[:TAG]") var reference: String?

    func run() async throws {
        var options = ImageStore.ImportOptions()
        options.reference = try reference.map { try Reference(parsing: $0) }
        options.change = try Engine.configChange(change)
        options.message = message
        if let platform { options.platform = try Platform(parsing: platform) }
        let engine = try global.engine()
        let image = try await Interruptible.run(cleanup: { engine.removeTemporaries() }, sync: { [options, path] in try engine.importImage(from: path, options: options) })
        emit(image.id.description + "\n")
    }
}
