import Foundation
import Host
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// The store's user-defined networks (`strata network create`): each a bridge of its own with a
/// /16 of its own, one JSON file under `networks/`. `bridge` (the default), `host` and `none`
/// are built in.
public struct NetworkStore: Sendable {
    public let root: String

    /// A bridge network: what the CNI plugins are configured with, and what `inspect` shows.
    public struct Network: Codable, Sendable, Equatable {
        public var name: String
        public var id: String
        public var subnet: String
        public var gateway: String
        /// The Linux bridge (at most 15 characters: `strata-` and 8 of the ID).
        public var bridge: String
        public var created: Date
        public var labels: [String: String]

        public init(name: String, id: String, subnet: String, gateway: String, bridge: String, created: Date, labels: [String: String]) {
            (self.name, self.id, self.subnet, self.gateway, self.bridge, self.created, self.labels) = (name, id, subnet, gateway, bridge, created, labels)
        }
    }

    public static let builtIn = ["bridge", "host", "none"]

    /// The default network, Docker's `bridge`.
    public static let defaultBridge = Network(name: "bridge", id: String(repeating: "0", count: 64), subnet: "10.77.0.0/16",
                                              gateway: "10.77.0.1", bridge: "strata0", created: Date(timeIntervalSince1970: 0),
                                              labels: [:])

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
        sweepStaging()
    }

    /// A `create` killed between writing its staging file and linking it leaves the file: it
    /// goes once its process is gone (`.new-<pid>-<random>`).
    func sweepStaging() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".new-") {
            guard let pid = name.split(separator: "-").dropFirst().first.flatMap({ pid_t($0) }) else { continue }
            if kill(pid, 0) != 0, errno == ESRCH { unlink("\(root)/\(name)") }
        }
    }

    func file(_ name: String) -> String { "\(root)/\(name).json" }

    /// The network called `name` (or whose ID starts with it); the default for `bridge`.
    public func network(_ name: String) throws -> Network? {
        if name == "bridge" { return Self.defaultBridge }
        if ContainerNames.isValid(name), let bytes = try? FileSystem.readFile(file(name)) {
            return try JSONCoding.decode(Network.self, from: Data(bytes), what: "network \(name)")
        }
        let matches = try list().filter { name.count >= 3 && $0.id.hasPrefix(name) }
        return matches.count == 1 ? matches[0] : nil
    }

    /// Every user-defined network, by name.
    public func list() throws -> [Network] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return try names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            try JSONCoding.decode(Network.self, from: Data(try FileSystem.readFile("\(root)/\(name)")), what: "network \(name)")
        }
    }

    /// `strata network create`: a new network on the given subnet, or the first free /16 from
    /// 10.78.0.0 on (free: no network of this store has it and no route of the host's is in it).
    public func create(_ name: String, subnet requested: String? = nil, labels: [String: String] = [:]) throws -> Network {
        guard ContainerNames.isValid(name), !Self.builtIn.contains(name) else {
            throw StrataError(.invalidArgument, "invalid network name \"\(name)\": [a-zA-Z0-9][a-zA-Z0-9_.-]+, and not bridge, host or none")
        }
        if try network(name)?.name == name { throw StrataError(.conflict, "network with name \(name) already exists") }
        let taken = Set(try list().map(\.subnet) + [Self.defaultBridge.subnet])
        let subnet: String
        if let requested {
            guard let prefix = Self.slash16(requested) else {
                throw StrataError(.invalidArgument, "invalid subnet \"\(requested)\": give a /16 such as 10.90.0.0/16")
            }
            guard !taken.contains(prefix) else { throw StrataError(.conflict, "Pool overlaps with other one on this address space: \(requested)") }
            subnet = prefix
        } else {
            let routes = (try? Subprocess.capture("ip", ["-4", "route", "show"]).stdoutText) ?? ""
            guard let free = (78...127).map({ "10.\($0).0.0/16" }).first(where: { s in
                !taken.contains(s) && !routes.contains(String(s.dropLast("0.0/16".count)))
            }) else { throw StrataError(.conflict, "could not find an available, non-overlapping IPv4 address pool among 10.78–10.127") }
            subnet = free
        }
        let id = RandomID.make()
        let gateway = subnet.replacingOccurrences(of: "0.0/16", with: "0.1")
        let network = Network(name: name, id: id, subnet: subnet, gateway: gateway, bridge: "strata-\(id.prefix(8))",
                              created: Date(), labels: labels)
        // O_EXCL through a link: of two creates of one name, one wins and the other is told.
        let staging = "\(root)/.new-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.writeAtomically(staging, Array(try JSONCoding.encoder.encode(network)))
        defer { unlink(staging) }
        guard link(staging, file(name)) == 0 else {
            if errno == EEXIST { throw StrataError(.conflict, "network with name \(name) already exists") }
            throw StrataError.posix("cannot create network \(name)", errno: errno)
        }
        return network
    }

    /// Removes the definition (the caller has checked that no container is on it) and its bridge.
    func remove(_ network: Network) throws {
        guard unlink(file(network.name)) == 0 || errno == ENOENT else {
            throw StrataError.posix("cannot remove network \(network.name)", errno: errno)
        }
        _ = try? Subprocess.capture("ip", ["link", "delete", network.bridge])
        BridgeNetwork.removeRules(network)
    }

    /// `10.90.0.0/16` (or `10.90.1.2/16`) as its /16; nil for anything else.
    static func slash16(_ cidr: String) -> String? {
        let parts = cidr.split(separator: "/")
        let octets = parts.first?.split(separator: ".").compactMap { UInt8($0) } ?? []
        guard parts.count == 2, parts[1] == "16", octets.count == 4 else { return nil }
        return "\(octets[0]).\(octets[1]).0.0/16"
    }
}
