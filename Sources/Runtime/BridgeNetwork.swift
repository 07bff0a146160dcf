import Foundation
import Host
import ImageSpec

/// Bridge networks (the default `bridge` and those `network create` makes), made by the CNI
/// plugins Debian ships (containernetworking-plugins: podman's choice too): `bridge` with
/// `host-local` addresses makes the network's Linux bridge (`strata0` for the default), a veth
/// pair and an address per container, and outbound NAT; `portmap` publishes ports; `firewall`
/// lets the traffic through a FORWARD chain that drops by default. Addresses are leased
/// machine-wide under /run, so they go with a reboot, as the network namespaces do.
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
    }

    /// The plugins in the order `ADD` runs them (`DEL` runs them backwards).
    static func plugins(_ network: NetworkStore.Network, ports: [PortMapping]) -> [[String: Any]] {
        var plugins: [[String: Any]] = [
            ["type": "bridge", "bridge": network.bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
             "ipam": ["type": "host-local", "dataDir": leaseDirectory, "routes": [["dst": "0.0.0.0/0"]],
                      "ranges": [[["subnet": network.subnet, "gateway": network.gateway]]]]],
            ["type": "firewall"],
        ]
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
                        result: try JSONCoding.decode(JSONValue.self, from: data, what: "CNI result"))
    }

    /// Undoes `connect`: ports, firewall rules, the address lease, the veth, the namespace.
    /// Best effort, each step on its own: whatever is left of a half-made endpoint goes.
    public static func disconnect(id: String, _ endpoint: Endpoint) {
        let previous = try? JSONSerialization.jsonObject(with: try JSONCoding.encoder.encode(endpoint.result))
        for plugin in plugins(endpoint.network, ports: endpoint.ports).reversed() {
            _ = try? run("DEL", plugin, network: endpoint.network, id: id, netns: endpoint.netns, previous: previous)
        }
        _ = try? Subprocess.capture("ip", ["netns", "delete", (endpoint.netns as NSString).lastPathComponent])
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
