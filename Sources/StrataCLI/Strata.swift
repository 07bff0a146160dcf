import ArgumentParser
import Foundation
import StrataEngine

/// `strata`: the Docker image model, daemonless.
public struct Strata: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "A daemonless container-image engine: images, layers and containers, Docker's model done right.",
        version: version,
        subcommands: [
            Images.self, History.self, Inspect.self, Tag.self, Rmi.self,
            Import.self, Save.self, Load.self, Pull.self, Push.self, Login.self, Logout.self, Search.self, Copy.self, Build.self,
            Run.self, Create.self, Start.self, Attach.self, ExecCommand.self, Port.self, Stop.self, Kill.self, Rm.self, Ps.self, Logs.self,
            Diff.self, Commit.self, Export.self,
            ImageGroup.self, ContainerGroup.self, VolumeGroup.self, NetworkGroup.self, SystemGroup.self, RegistryGroup.self, ContainerMonitor.self,
        ]
    )

    public init() {}
}

/// Options every command takes.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Store root (default: $STRATA_ROOT, /var/lib/strata as root, ~/.local/share/strata otherwise).", valueName: "dir"))
    public var root: String?

    @Option(name: .long, help: ArgumentHelp("Storage driver for containers: overlay or copy (default: $STRATA_STORAGE_DRIVER, else overlay where it works).", valueName: "driver"))
    public var storageDriver: String?

    @Option(name: .long, help: ArgumentHelp("OCI runtime to run containers with (default: $STRATA_RUNTIME, else runc, else crun).", valueName: "name-or-path"))
    public var runtime: String?

    @OptionGroup public var log: LogOptions

    public init() {}

    public func engine() throws -> Engine {
        try log.bootstrap()
        _ = try HTTPTransport.Configuration.checkEnvironment()
        let driver = try storageDriver.map { name -> StorageDriver in
            guard let d = StorageDriver(rawValue: name) else {
                throw StrataError(.invalidArgument, "unknown storage driver \"\(name)\" (overlay or copy)")
            }
            return d
        }
        return try Engine(root: root, options: Engine.Options(storageDriver: driver, runtime: runtime))
    }
}

/// `--log-level` and `--debug`, which every command takes.
public struct LogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error or critical (default: $STRATA_LOG, else warning).", valueName: "level"))
    public var logLevel: String?

    @Flag(name: .long, help: "Log at debug level: HTTP requests and retries, lock waits, runtime command lines and their stderr.")
    public var debug = false

    public init() {}

    func bootstrap() throws {
        if debug { Trace.enable() }
        try LogSetup.bootstrap(level: debug ? "debug" : logLevel)
    }
}

struct ContainerGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container",
        abstract: "Manage containers.",
        subcommands: [Run.self, Create.self, Start.self, Attach.self, ExecCommand.self, ContainerInspect.self, Port.self, Stop.self, Kill.self, Rm.self, Ps.self, Logs.self, Diff.self, Commit.self, Export.self]
    )
}

struct ImageGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage images.",
        subcommands: [
            Images.self, History.self, ImageInspect.self, Tag.self, ImageRm.self, ImagePrune.self, ImageDiffCommand.self,
            Import.self, Save.self, Load.self, Pull.self, Push.self, Build.self,
        ]
    )
}

struct SystemGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system",
        abstract: "Manage Strata.",
        subcommands: [SystemDf.self, SystemCheck.self]
    )
}

/// `strata --root DIR images` as well as `strata images --root DIR`: global options written before
/// the subcommand are moved after it, where every command's `GlobalOptions` parses them.
func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var rest = arguments[...]
    while let first = rest.first {
        if ["--root", "--storage-driver", "--runtime", "--log-level"].contains(first), rest.count >= 2 {
            leading += rest.prefix(2)
            rest = rest.dropFirst(2)
        } else if first == "--debug" {
            leading.append(first)
            rest = rest.dropFirst()
        } else if ["--root=", "--storage-driver=", "--runtime=", "--log-level="].contains(where: first.hasPrefix) {
            leading.append(first)
            rest = rest.dropFirst()
        } else {
            break
        }
    }
    guard !leading.isEmpty else { return arguments }
    // Subcommand words (`image ls`, `system df`) come first, then the hoisted options.
    var words: [String] = []
    let groups = ["image", "system", "container", "volume", "network", "registry"]
    while let w = rest.first, !w.hasPrefix("-") {
        words.append(w)
        rest = rest.dropFirst()
        if !groups.contains(w) { break }
    }
    return words + leading + Array(rest)
}

/// `--label KEY=VALUE` (or a bare `KEY`, whose value is empty), as Docker's create commands take them.
func parseLabels(_ items: [String]) throws -> [String: String] {
    var labels: [String: String] = [:]
    for item in items {
        let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard !pair[0].isEmpty else { throw StrataError(.invalidArgument, "invalid label '\(item)': empty name") }
        labels[pair[0]] = pair.count == 2 ? pair[1] : ""
    }
    return labels
}

/// Docker's Go flags take `-H=false`; argument-parser spells a false flag `--no-human`.
func goStyleBoolean(_ argument: String) -> String {
    switch argument {
    case "-H=false", "--human=false": return "--no-human"
    case "-H=true", "--human=true": return "--human"
    default: return argument
    }
}

/// `-o FILE`, or standard output when it is not a terminal (a tar on a terminal is never what
/// anyone wants, as Docker says).
func outputTarget(_ output: String?) throws -> ArchiveTarget {
    guard let output, output != "-" else {
        if isatty(1) != 0 { throw StrataError(.invalidArgument, "cowardly refusing to save to a terminal. Use the -o flag or redirect") }
        return .stream(1)
    }
    return .file(output)
}

/// Writes to standard output in one piece.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Writes a line to standard error.
func warn(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

extension Strata {
    /// The entry point: parse, run (async commands too), and turn errors into Docker-style
    /// `Error: …` lines with a non-zero exit.
    public static func runMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        var parsed: ParsableCommand?
        do {
            var command = try parseAsRoot(hoistingGlobalOptions(arguments).map(goStyleBoolean))
            parsed = command
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            printTrace(of: parsed)
            exit(withError: nil)
        } catch {
            printTrace(of: parsed)
            exit(withError: error)
        }
    }

    /// `--debug` or `STRATA_TRACE=1`: where the command's time went, on stderr. Named by its
    /// command only: its arguments may hold a password.
    private static func printTrace(of command: ParsableCommand?) {
        guard Trace.isEnabled, let command else { return }
        let type = type(of: command)
        let name = type.configuration.commandName ?? String(describing: type).lowercased()
        fflush(nil)  // the command's own output first
        FileHandle.standardError.write(Data(Trace.shared.report("strata \(name)").utf8))
    }
}
