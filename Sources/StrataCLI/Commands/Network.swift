import ArgumentParser
import Foundation
import StrataEngine

/// `strata network …`: bridge networks of the store's own.
struct NetworkGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Manage networks.",
        subcommands: [NetworkCreate.self, NetworkLs.self, NetworkInspect.self, NetworkRm.self]
    )
}

struct NetworkCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a network.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Driver to manage the Network (bridge).") var driver: String = "bridge"
    @Option(help: "Subnet in CIDR format, a /16 (default: the first free one from 10.78.0.0/16).") var subnet: String?
    @Option(help: "Set metadata on a network (KEY=VALUE).") var label: [String] = []
    @Argument(help: "The network's name.") var name: String

    func run() async throws {
        guard driver == "bridge" else { throw StrataError(.invalidArgument, "plugin \"\(driver)\" not found: only the bridge driver is here") }
        let labels = try parseLabels(label)
        emit(try global.engine().createNetwork(name, subnet: subnet, labels: labels).id + "\n")
    }
}

struct NetworkLs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List networks.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Only display network IDs.") var quiet = false
    @Flag(help: "Do not truncate the output.") var noTrunc = false

    func run() async throws {
        let networks = try global.engine().networks()
        func id(_ n: NetworkStore.Network) -> String { noTrunc ? n.id : String(n.id.prefix(12)) }
        if quiet { return emit(networks.map { id($0.network) + "\n" }.joined()) }
        var table = Table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"])
        for (n, driver) in networks { table.append([id(n), n.name, driver, "local"]) }
        emit(table.render())
    }
}

struct NetworkInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on one or more networks.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template.") var format: String?
    @Argument(help: "Networks.") var networks: [String]

    func run() async throws {
        try renderInspection(networks, format: format, what: "network inspect", unknown: [.networkUnknown], try global.engine().inspectNetwork)
    }
}

struct NetworkRm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more networks.", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Networks.") var networks: [String]

    func run() async throws {
        let engine = try global.engine()
        try forEachContainer(networks) { try engine.removeNetwork($0) }
    }
}
