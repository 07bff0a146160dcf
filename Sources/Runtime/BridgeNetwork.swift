import Foundation
import Host
import ImageSpec
import Metadata

/// Bridge networks (the default `bridge` and those `network create` makes), made by the CNI
/// plugins Debian ships (containernetworking-plugins: podman's choice too): `bridge` with
/// `host-local` addresses makes the network's Linux bridge (`strata0` for the default), a veth
/// pair and an address per container; `portmap` publishes ports. Outbound NAT and forwarding
/// are three iptables rules per network, as Docker's bridge driver has them, rather than the
/// per-container chains of the bridge plugin's `ipMasq` and of the `firewall` plugin: those cost
/// 130 ms of iptables calls at each start and stop. Addresses are leased machine-wide under
/// /run, so they go with a reboot, as the network namespaces and the rules do.
public enum BridgeNetwork {
    static let pluginDirectory = "/usr/lib/cni"
    static let leaseDirectory = "/run/strata/cni"

    /// A container's place on the network: what `ADD` gave, kept for `DEL`, `port` and inspect.
    public struct Endpoint: Codable, Sendable, Equatable {
        /// The network it is on (its definition is kept, so DEL is given what ADD was).
        public var network: NetworkStore.Network
        public var netns: String
        public var address: String
        public var prefixLength: Int
        public var gateway: String
        public var ports: [PortMapping]
        /// The last plugin's result, which `DEL` is given back.
        var result: JSONValue
        /// Whether NAT and forwarding were the network's rules; nil for an endpoint made before,
        /// whose own rules (`ipMasq`, `firewall`) its DEL removes.
        var networkRules: Bool? = nil
    }

    /// The plugins in the order `ADD` runs them (`DEL` runs them backwards).
    static func plugins(_ network: NetworkStore.Network, ports: [PortMapping], networkRules: Bool = true) -> [[String: Any]] {
        var plugins: [[String: Any]] = [
            ["type": "bridge", "bridge": network.bridge, "isGateway": true, "ipMasq": !networkRules, "hairpinMode": true,
             "ipam": ["type": "host-local", "dataDir": leaseDirectory, "routes": [["dst": "0.0.0.0/0"]],
                      "ranges": [[["subnet": network.subnet, "gateway": network.gateway]]]]],
        ]
        if !networkRules { plugins.append(["type": "firewall"]) }
        if !ports.isEmpty {
            plugins.append(["type": "portmap", "snat": true, "capabilities": ["portMappings": true],
                            "runtimeConfig": ["portMappings": ports.map {
                                ["hostPort": Int($0.hostPort), "containerPort": Int($0.containerPort), "protocol": $0.proto,
                                 "hostIP": $0.hostIP] as [String: Any]
                            }]])
        }
        return plugins
    }

    /// A network namespace for the container, on the bridge, with its ports published.
    public static func connect(id: String, to network: NetworkStore.Network, ports: [PortMapping]) throws -> Endpoint {
        guard FileManager.default.isExecutableFile(atPath: "\(pluginDirectory)/bridge") else {
            throw StrataError(.runtimeFailed,
                "the bridge network needs the CNI plugins in \(pluginDirectory) (apt-get install containernetworking-plugins); or use --network host")
        }
        try ensureRules(network)
        let namespace = "strata-\(id.prefix(12))"
        _ = try? Subprocess.capture("ip", ["netns", "delete", namespace])  // a crash's leftover
        _ = try Subprocess.check("ip", ["netns", "add", namespace], what: "cannot make the network namespace \(namespace)", code: .runtimeFailed)
        let netns = "/run/netns/\(namespace)"
        var done: [[String: Any]] = [], previous: Any?
        do {
            for plugin in plugins(network, ports: ports) {
                previous = try run("ADD", plugin, network: network, id: id, netns: netns, previous: previous)
                done.append(plugin)
            }
        } catch {
            for plugin in done.reversed() { _ = try? run("DEL", plugin, network: network, id: id, netns: netns, previous: previous) }
            _ = try? Subprocess.capture("ip", ["netns", "delete", namespace])
            throw error
        }
        let result = previous as? [String: Any] ?? [:]
        let ip = (result["ips"] as? [[String: Any]])?.first
        let cidr = (ip?["address"] as? String ?? "").split(separator: "/")
        let data = try JSONSerialization.data(withJSONObject: result)
        return Endpoint(network: network, netns: netns, address: cidr.first.map(String.init) ?? "", prefixLength: cidr.count == 2 ? Int(cidr[1]) ?? 0 : 0,
                        gateway: ip?["gateway"] as? String ?? network.gateway, ports: ports,
                        result: try JSONCoding.decode(JSONValue.self, from: data, what: "CNI result"), networkRules: true)
    }

    /// Undoes `connect`: ports, firewall rules, the address lease, the veth, the namespace.
    /// Best effort, each step on its own: whatever is left of a half-made endpoint goes.
    public static func disconnect(id: String, _ endpoint: Endpoint) {
        let previous = try? JSONSerialization.jsonObject(with: try JSONCoding.encoder.encode(endpoint.result))
        for plugin in plugins(endpoint.network, ports: endpoint.ports, networkRules: endpoint.networkRules == true).reversed() {
            _ = try? run("DEL", plugin, network: endpoint.network, id: id, netns: endpoint.netns, previous: previous)
        }
        _ = try? Subprocess.capture("ip", ["netns", "delete", (endpoint.netns as NSString).lastPathComponent])
    }

    /// The network's NAT and forwarding, Docker's rules for a bridge: traffic from the subnet
    /// leaving by another interface is masqueraded; from the bridge it is forwarded; to it, the
    /// replies and what a published port DNATs there (when the FORWARD chain drops by default, as
    /// it does once dockerd ran).
    static func rules(_ network: NetworkStore.Network) -> [(table: String, chain: String, rule: [String])] {
        let comment = ["-m", "comment", "--comment", "strata network \(network.name)"]
        return [
            ("nat", "POSTROUTING", ["-s", network.subnet, "!", "-o", network.bridge] + comment + ["-j", "MASQUERADE"]),
            ("filter", "FORWARD", ["-i", network.bridge] + comment + ["-j", "ACCEPT"]),
            ("filter", "FORWARD", ["-o", network.bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT"] + comment + ["-j", "ACCEPT"]),
        ]
    }

    /// A mark under /run that the network's rules are in place since this boot, so a start
    /// does not ask iptables each time.
    static func rulesMark(_ network: NetworkStore.Network) -> String { "\(leaseDirectory)/rules-\(network.bridge)" }

    /// Puts the network's rules in place once per boot: those missing are added first in their
    /// chain, under a lock, so two starts never add them twice.
    static func ensureRules(_ network: NetworkStore.Network) throws {
        let mark = rulesMark(network)
        if access(mark, F_OK) == 0 { return }
        try FileSystem.createDirectory(leaseDirectory, mode: 0o700)
        let lock = try FileLock(path: "\(leaseDirectory)/rules.lock", mode: .exclusive)
        defer { withExtendedLifetime(lock) {} }
        if access(mark, F_OK) == 0 { return }
        for r in rules(network) {
            let present = try Subprocess.capture("iptables", ["-w", "-t", r.table, "-C", r.chain] + r.rule).status == 0
            if !present {
                _ = try Subprocess.check("iptables", ["-w", "-t", r.table, "-I", r.chain] + r.rule,
                                     what: "cannot set up the NAT and forwarding of network \(network.name)", code: .runtimeFailed)
            }
        }
        try FileSystem.writeAtomically(mark, [])
    }

    /// Takes the network's rules away (`network rm`).
    static func removeRules(_ network: NetworkStore.Network) {
        unlink(rulesMark(network))
        for r in rules(network) {
            while (try? Subprocess.capture("iptables", ["-w", "-t", r.table, "-D", r.chain] + r.rule))?.status == 0 {}
        }
    }

    /// One plugin call, as the CNI spec says: the command in the environment, the network
    /// configuration on stdin, the result (or `{"code":…,"msg":…}`) on stdout.
    static func run(_ command: String, _ plugin: [String: Any], network: NetworkStore.Network, id: String, netns: String,
                    previous: Any?) throws -> Any? {
        var config = plugin
        config["cniVersion"] = "1.0.0"
        // The default network's leases and rules keep the name they had before networks had names.
        config["name"] = network.name == "bridge" ? "strata" : "strata-\(network.name)"
        if let previous { config["prevResult"] = previous }
        let type = plugin["type"] as! String
        let input = Array(try JSONSerialization.data(withJSONObject: config))
        let output = try Subprocess.capture("\(pluginDirectory)/\(type)", [], input: input, environment: [
            "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(id)", "CNI_NETNS=\(netns)", "CNI_IFNAME=eth0",
            "CNI_PATH=\(pluginDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ])
        let parsed = try? JSONSerialization.jsonObject(with: Data(output.stdout))
        guard output.status == 0 else {
            let message = (parsed as? [String: Any])?["msg"] as? String ?? output.stderrText
            throw StrataError(.runtimeFailed, "the bridge network's \(type) plugin failed (\(command)): \(message)")
        }
        return command == "ADD" ? parsed : nil
    }
}
