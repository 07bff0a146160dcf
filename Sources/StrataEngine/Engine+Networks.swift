import Foundation

extension Engine {
    /// `strata network create`.
    @discardableResult
    public func createNetwork(_ name: String, subnet: String? = nil, labels: [String: String] = [:]) throws -> NetworkStore.Network {
        try containers.networks.create(name, subnet: subnet, labels: labels)
    }

    /// `strata network ls`: the built-in networks, then the store's own, as Docker lists them
    /// (name, driver).
    public func networks() throws -> [(network: NetworkStore.Network, driver: String)] {
        let builtIn: [(NetworkStore.Network, String)] = [
            (NetworkStore.defaultBridge, "bridge"),
            (NetworkStore.Network(name: "host", id: String(repeating: "1", count: 64), subnet: "", gateway: "", bridge: "",
                                  created: Date(timeIntervalSince1970: 0), labels: [:]), "host"),
            (NetworkStore.Network(name: "none", id: String(repeating: "2", count: 64), subnet: "", gateway: "", bridge: "",
                                  created: Date(timeIntervalSince1970: 0), labels: [:]), "null"),
        ]
        return builtIn + (try containers.networks.list().map { ($0, "bridge") })
    }

    /// `strata network inspect`: Docker's JSON for a network, with the running containers on it.
    public func inspectNetwork(_ name: String) throws -> OrderedJSON {
        let engine = try containers
        guard let (network, driver) = try networks().first(where: { $0.network.name == name || (name.count >= 3 && $0.network.id.hasPrefix(name)) }) else {
            throw StrataError(.networkUnknown, "network \(name) not found")
        }
        var members: [(String, OrderedJSON)] = []
        for c in try engine.list() where c.state == .running {
            let on = network.name == "bridge" ? (c.spec.network == .bridge && c.spec.networkName == nil)
                : network.name == "host" || network.name == "none" ? c.spec.network.rawValue == network.name
                : c.spec.networkName == network.name
            guard on else { continue }
            let endpoint = engine.endpoint(of: c)
            members.append((c.id, .object([
                ("Name", .string(c.name)), ("EndpointID", .string("")), ("MacAddress", .string("")),
                ("IPv4Address", .string(endpoint.map { "\($0.address)/\($0.prefixLength)" } ?? "")), ("IPv6Address", .string("")),
            ])))
        }
        let config: OrderedJSON = network.subnet.isEmpty ? .array([])
            : .array([.object([("Subnet", .string(network.subnet)), ("Gateway", .string(network.gateway))])])
        return .object([
            ("Name", .string(network.name)), ("Id", .string(network.id)), ("Created", .string(RFC3339.format(network.created))),
            ("Scope", .string("local")), ("Driver", .string(driver)), ("EnableIPv6", .bool(false)),
            ("IPAM", .object([("Driver", .string("default")), ("Options", .null), ("Config", config)])),
            ("Internal", .bool(false)), ("Attachable", .bool(false)), ("Ingress", .bool(false)),
            ("ConfigFrom", .object([("Network", .string(""))])), ("ConfigOnly", .bool(false)),
            ("Containers", .object(members)),
            ("Options", network.bridge.isEmpty ? .object([]) : .object([("com.docker.network.bridge.name", .string(network.bridge))])),
            ("Labels", .object(network.labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ])
    }

    /// `strata network rm`: refused while a container is on it.
    public func removeNetwork(_ name: String) throws {
        try containers.removeNetwork(name)
    }
}
