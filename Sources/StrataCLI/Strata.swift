import ArgumentParser
import Foundation
import ImageSpec
import ImageStore
import Runtime
import Snapshots

/// `strata`: the Docker image model, daemonless.
public struct Strata: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "A daemonless container-image engine: images, layers and containers, Docker's model done right.",
        version: version,
        subcommands: [
            Images.self, History.self, Inspect.self, Tag.self, Rmi.self,
            Import.self, Save.self, Load.self, Pull.self, Push.self, Login.self, Logout.self, Copy.self, Build.self,
            Run.self, Create.self, Start.self, Stop.self, Kill.self, Rm.self, Ps.self, Logs.self,
            Diff.self, Commit.self, Export.self,
            ImageGroup.self, ContainerGroup.self, SystemGroup.self, ContainerMonitor.self,
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

    public init() {}

    public func store() throws -> ImageStore {
        try ImageStore(root: root ?? ImageStore.defaultRoot)
    }

    public func engine() throws -> ContainerEngine {
        let driver = try storageDriver.map { name -> StorageDriver in
            guard let d = StorageDriver(rawValue: name) else {
                throw StrataError(.invalidArgument, "unknown storage driver \"\(name)\" (overlay or copy)")
            }
            return d
        }
        return try ContainerEngine(store: try store(), driver: driver, runtime: runtime)
    }
}

struct ContainerGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container",
        abstract: "Manage containers.",
        subcommands: [Run.self, Create.self, Start.self, Stop.self, Kill.self, Rm.self, Ps.self, Logs.self, Diff.self, Commit.self, Export.self]
    )
}

struct ImageGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage images.",
        subcommands: [
            Images.self, History.self, Inspect.self, Tag.self, ImageRm.self, ImagePrune.self,
            Import.self, Save.self, Load.self, Pull.self, Push.self, Build.self,
        ]
    )
}

struct SystemGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system",
        abstract: "Manage Strata.",
        subcommands: [SystemDf.self]
    )
}

/// `strata --root DIR images` as well as `strata images --root DIR`: global options written before
/// the subcommand are moved after it, where every command's `GlobalOptions` parses them.
func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var rest = arguments[...]
    while let first = rest.first {
        if ["--root", "--storage-driver", "--runtime"].contains(first), rest.count >= 2 {
            leading += rest.prefix(2)
            rest = rest.dropFirst(2)
        } else if first.hasPrefix("--root=") || first.hasPrefix("--storage-driver=") || first.hasPrefix("--runtime=") {
            leading.append(first)
            rest = rest.dropFirst()
        } else {
            break
        }
    }
    guard !leading.isEmpty else { return arguments }
    // Subcommand words (`image ls`, `system df`) come first, then the hoisted options.
    var words: [String] = []
    let groups = ["image", "system", "container"]
    while let w = rest.first, !w.hasPrefix("-") {
        words.append(w)
        rest = rest.dropFirst()
        if !groups.contains(w) { break }
    }
    return words + leading + Array(rest)
}

/// Docker's Go flags take `-H=false`; argument-parser spells a false flag `--no-human`.
func goStyleBoolean(_ argument: String) -> String {
    switch argument {
    case "-H=false", "--human=false": return "--no-human"
    case "-H=true", "--human=true": return "--human"
    default: return argument
    }
}

/// Writes an output file through a temp file beside it, synced and renamed into place only when
/// complete: a failed or interrupted command leaves no half-written file.
func writeOutputFile(_ path: String, _ body: (FileWriter) throws -> Void) throws {
    let temp = "\(path).tmp-\(getpid())"
    do {
        let writer = try FileWriter(path: temp, exclusive: true)
        try body(writer)
        try writer.sync()
        guard rename(temp, path) == 0 else { throw StrataError.posix("cannot rename \(temp) to \(path)", errno: errno) }
    } catch {
        unlink(temp)
        throw error
    }
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
        do {
            var command = try parseAsRoot(hoistingGlobalOptions(arguments).map(goStyleBoolean))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(withError: nil)
        } catch {
            exit(withError: error)
        }
    }
}
