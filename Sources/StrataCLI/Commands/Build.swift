import ArgumentParser
import Foundation
import StrataEngine

/// `strata build`: an image from a Dockerfile, with Docker's step output and a cache that says why it missed.
struct Build: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Build an image from a Dockerfile.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Name and optionally a tag in the 'name:tag' format (repeatable).") var tag: [String] = []
    @Option(name: .shortAndLong, help: "Name of the Dockerfile (default: CONTEXT/Dockerfile; - reads stdin).") var file: String?
    @Option(name: .customLong("build-arg"), help: ArgumentHelp("Set a build-time variable.", valueName: "K=V")) var buildArgs: [String] = []
    @Option(help: "Set the target build stage to build.") var target: String?
    @Flag(name: .customLong("no-cache"), help: "Do not use cache when building the image.") var noCache = false
    @Flag(help: "Always attempt to pull a newer version of the base images.") var pull = false
    @Flag(help: "Squash the layers the build adds into one.") var squash = false
    @Flag(help: "Date the images by the newest base image (1970 for scratch) instead of now, so the same inputs give the same image ID.")
    var reproducible = false
    @Option(name: .customLong("label"), help: ArgumentHelp("Set metadata for an image.", valueName: "K=V")) var labels: [String] = []
    @Option(help: "Networking mode for the RUN instructions: default, host or none.") var network = "default"
    @Option(help: "Progress output: auto, plain or tty (all print the classic step lines).") var progress = "auto"
    @Flag(name: .shortAndLong, help: "Suppress the build output and print image ID on success.") var quiet = false
    @Option(help: "Write the image ID to the file.") var iidfile: String?
    @Option(help: "Set the target platform (os/arch[/variant]); only this host's platform can run RUN steps.") var platform: String?
    @Argument(help: "The build context: a directory, or - for a Dockerfile on stdin and no context.") var context: String

    func run() async throws {
        let (text, name) = try readDockerfile()
        var contextDir = context
        if context == "-" {
            contextDir = NSTemporaryDirectory() + "strata-empty-context-\(getpid())"
            try FileSystem.createDirectory(contextDir, mode: 0o700)
        }
        defer { if context == "-" { FileSystem.removeTree(contextDir) } }
        var options = BuildOptions(context: contextDir, dockerfile: text, dockerfileName: name)
        options.tags = try tag.map { try Reference(parsing: $0) }
        for item in buildArgs {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            // `--build-arg K` takes K's value from the environment, as Docker does.
            if parts.count == 2 { options.buildArgs[parts[0]] = parts[1] }
            else if let value = ProcessInfo.processInfo.environment[parts[0]] { options.buildArgs[parts[0]] = value }
        }
        for item in labels {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            options.labels[parts[0]] = parts.count == 2 ? parts[1] : ""
        }
        options.target = target
        options.noCache = noCache
        options.pull = pull
        options.squash = squash
        options.reproducible = reproducible
        options.quiet = quiet
        switch network {
        case "default", "host": options.network = .host
        case "none": options.network = .none
        default: throw ValidationError("--network must be default, host or none (got \"\(network)\")")
        }
        guard ["auto", "plain", "tty"].contains(progress) else { throw ValidationError("--progress must be auto, plain or tty") }
        if let platform {
            options.platform = try Platform(parsing: platform)
            if options.platform?.os != Platform.host.os || options.platform?.architecture != Platform.host.architecture {
                throw StrataError(.platformNotFound, "cannot build for \(platform) on this \(Platform.host) host: RUN steps would need emulation")
            }
        }

        let engine = try global.engine()
        let quiet = self.quiet
        // Base-image pulls show on stderr when the output is only the image ID.
        let pulls = PullRenderer(quiet: quiet, toStandardError: quiet)
        let request = options
        let image: ImageStore.Image
        do {
            image = try await Interruptible.run(cleanup: { engine.removeTemporaries() }) {
                try await engine.build(request) { event in
                    switch event {
                    case .progress(let progress): if !quiet { emit(progress.dockerLine + "\n") }
                    case .stage(let stage, let progress):
                        // Stages built at the same time: each line says whose it is.
                        guard !quiet else { break }
                        if case .output(_, standardError: true) = progress { warn("[\(stage)] \(progress.dockerLine)") }
                        else { emit("[\(stage)] \(progress.dockerLine)\n") }
                    case .pull(let pull): pulls.handle(pull)
                    }
                }
            }
        } catch let e as StrataError {
            // A RUN that failed: exit with its status, as `docker build` does.
            guard let failure = e.cause(as: BuildStepFailure.self), failure.status > 0, failure.status < 256 else { throw e }
            warn("Error: \(e.message)")
            throw ExitCode(failure.status)
        }
        if let iidfile { try FileSystem.writeAtomically(iidfile, Array(image.id.description.utf8)) }
        if quiet { emit(image.id.description + "\n") }
    }

    func readDockerfile() throws -> (String, String) {
        if file == "-" || (context == "-" && file == nil) {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            return (String(decoding: data, as: UTF8.self), "Dockerfile")
        }
        let path = file.map { $0.hasPrefix("/") ? $0 : (FileManager.default.fileExists(atPath: $0) ? $0 : "\(context)/\($0)") } ?? "\(context)/Dockerfile"
        guard FileSystem.exists(path) else {
            throw StrataError(.invalidArgument, "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat \(path): no such file or directory")
        }
        return (String(decoding: try FileSystem.readFile(path), as: UTF8.self), (path as NSString).lastPathComponent)
    }
}

extension BuildProgress {
    /// The line Docker's classic builder prints for it.
    var dockerLine: String {
        switch self {
        case .step(let number, let total, let instruction): return "Step \(number)/\(total) : \(instruction)"
        case .image(let id): return " ---> \(id.encoded.prefix(12))"
        case .usingCache: return " ---> Using cache"
        case .cacheMiss(let reason): return " ---> cache miss: \(reason)"
        case .runningIn(let container): return " ---> Running in \(container)"
        case .removedContainer(let container): return "Removing intermediate container \(container)"
        case .output(let line, _): return line
        case .executingTriggers(let count): return "# Executing \(count) build trigger\(count == 1 ? "" : "s")"
        case .built(let id): return "Successfully built \(id.encoded.prefix(12))"
        case .tagged(let reference): return "Successfully tagged \(reference.familiarString)"
        }
    }
}
