import ArgumentParser
import Foundation
import StrataEngine

/// `strata volume …`: named volumes under the store.
struct VolumeGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Manage volumes.",
        subcommands: [VolumeCreate.self, VolumeLs.self, VolumeInspect.self, VolumeRm.self, VolumePrune.self]
    )
}

struct VolumeCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a volume.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Set metadata for a volume (KEY=VALUE).") var label: [String] = []
    @Argument(help: "The volume's name (a random one if none).") var name: String?

    func run() async throws {
        let labels = try parseLabels(label)
        emit(try global.engine().createVolume(name, labels: labels).name + "\n")
    }
}

struct VolumeLs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Only display volume names.") var quiet = false
    @Option(help: "Output: table (default), json, or a Go template.") var format: String?

    func run() async throws {
        let volumes = try global.engine().volumes()
        if quiet { return emit(volumes.map { $0.name + "\n" }.joined()) }
        let rows = volumes.map { v -> JSONValue in
            .object(["Driver": .string("local"), "Name": .string(v.name), "Mountpoint": .string(v.mountpoint), "Scope": .string("local"),
                     "Labels": .string(v.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))])
        }
        emit(try OutputFormat(format).render(rows, headers: ["Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE"]) {
            var table = Table(["DRIVER", "VOLUME NAME"])
            for v in volumes { table.append(["local", v.name]) }
            return table.render()
        })
    }
}

struct VolumeInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on one or more volumes.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template, e.g. '{{.Mountpoint}}'.") var format: String?
    @Argument(help: "Volumes.") var volumes: [String]

    func run() async throws {
        try renderInspection(volumes, format: format, what: "volume inspect", unknown: [.volumeUnknown], try global.engine().inspectVolume)
    }
}

struct VolumeRm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more volumes.", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Do not fail for volumes that do not exist.") var force = false
    @Argument(help: "Volumes.") var volumes: [String]

    func run() async throws {
        let engine = try global.engine()
        try forEachContainer(volumes) { name in
            do { try engine.removeVolume(name) } catch let error as StrataError where force && error.code == .volumeUnknown {}
        }
    }
}

struct VolumePrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove all unused local volumes.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Do not prompt for confirmation.") var force = false

    func run() async throws {
        if !force {
            FileHandle.standardOutput.write(Data("WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ".utf8))
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else { return emit("\n") }
        }
        let (removed, reclaimed) = try global.engine().pruneVolumes()
        var out = removed.isEmpty ? "" : "Deleted Volumes:\n" + removed.map { $0 + "\n" }.joined() + "\n"
        out += "Total reclaimed space: \(Units.humanSize(reclaimed))\n"
        emit(out)
    }
}
