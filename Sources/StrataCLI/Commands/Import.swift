import ArgumentParser
import Dockerfile
import ImageSpec
import ImageStore

/// `strata import PATH [REPOSITORY[:TAG]]`.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
        if options.reference?.digest != nil {
            throw StrataError(.invalidReference, "invalid reference \"\(reference!)\": cannot import to a digest")
        }
        let changes = try Dockerfile.parseChanges(change)
        options.change = { try $0.apply(changes: changes) }
        options.message = message
        if let platform { options.platform = try Platform(parsing: platform) }
        let image = try global.store().importImage(from: path, options: options)
        emit(image.id.description + "\n")
    }
}
