import CLinux
import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

extension ContainerEngine {
    func endpointFile(_ id: String) -> String { "\(directory(id))/network.json" }

    /// Where a running container on the bridge network is: its address and published ports.
    public func endpoint(of c: Container) -> BridgeNetwork.Endpoint? {
        guard let bytes = try? FileSystem.readFile(endpointFile(c.id)) else { return nil }
        return try? JSONCoding.decode(BridgeNetwork.Endpoint.self, from: Data(bytes), what: "network endpoint")
    }

    /// `strata port`: the container's published ports, Docker's way (`80/tcp -> 127.0.0.1:8080`).
    public func ports(_ input: String) throws -> [PortMapping] {
        let c = try lookup(input)
        return c.state == .running ? endpoint(of: c)?.ports ?? [] : []
    }

    /// Puts a starting container on the bridge: host ports chosen for those given as 0, checked
    /// against other containers' and the host's listeners, then the CNI plugins' ADD.
    func connect(_ c: Container) throws -> BridgeNetwork.Endpoint {
        var taken = Set<String>()
        for other in try list() where other.id != c.id && other.state == .running {
            for p in endpoint(of: other)?.ports ?? [] { taken.insert("\(p.proto):\(p.hostPort)") }
        }
        let ports = try (c.spec.ports ?? []).map { mapping in
            var mapping = mapping
            mapping.hostPort = try Self.reserve(mapping, taken: taken)
            taken.insert("\(mapping.proto):\(mapping.hostPort)")
            return mapping
        }
        let name = c.spec.networkName ?? "bridge"
        guard let network = try networks.network(name) else {
            throw StrataError(.networkUnknown, "network \(name) not found (it was removed after container \(c.shortID) was made)")
        }
        let endpoint = try BridgeNetwork.connect(id: c.id, to: network, ports: ports)
        do {
            try FileSystem.writeAtomically(endpointFile(c.id), Array(try JSONCoding.encoder.encode(endpoint)))
        } catch {
            BridgeNetwork.disconnect(id: c.id, endpoint)
            throw error
        }
        refreshPeersHosts(of: c)
        return endpoint
    }

    /// The running containers on the same user-defined network as `c`, with their endpoints;
    /// `among` is everyone on it, when the caller has them already.
    func peers(of c: Container, among members: [(container: Container, endpoint: BridgeNetwork.Endpoint)]? = nil)
        -> [(container: Container, endpoint: BridgeNetwork.Endpoint)] {
        guard let name = c.spec.networkName else { return [] }
        let members = members ?? ((try? list()) ?? []).compactMap { other in
            guard other.state == .running, other.spec.networkName == name, let e = endpoint(of: other) else { return nil }
            return (other, e)
        }
        return members.filter { $0.container.id != c.id }
    }

    /// The container's /etc/hosts: Docker's lines, its own name on its address, then on a
    /// user-defined network every running peer by name (how containers there reach each other
    /// by name), then `--add-host` entries.
    func hostsContent(_ c: Container, endpoint: BridgeNetwork.Endpoint?,
                      peers given: [(container: Container, endpoint: BridgeNetwork.Endpoint)]? = nil) -> String {
        var text = Self.hostsFile(hostname: c.spec.hostname, address: endpoint?.address)
        for (peer, e) in given ?? peers(of: c) where !e.address.isEmpty {
            text += "\(e.address)\t\(peer.name) \(peer.shortID)\n"
        }
        for entry in c.spec.extraHosts ?? [] {
            let parts = entry.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { text += "\(parts[1])\t\(parts[0])\n" }
        }
        return text
    }

    /// Rewrites the running peers' /etc/hosts in place (it is bind-mounted: a rename would leave
    /// the container looking at the old file), so they learn of a container that came or went.
    /// The network's members are listed once for all of them.
    func refreshPeersHosts(of c: Container) {
        let peers = peers(of: c)
        guard !peers.isEmpty else { return }
        let members = peers + (endpoint(of: c).map { [(c, $0)] } ?? [])
        for (peer, e) in peers {
            let fd = open("\(directory(peer.id))/hosts", O_WRONLY | O_TRUNC | O_CLOEXEC)
            guard fd >= 0 else { continue }
            Array(hostsContent(peer, endpoint: e, peers: self.peers(of: peer, among: members)).utf8).withUnsafeBytes { _ = FileWriter.writeAll(fd, $0) }
            close(fd)
        }
    }

    /// `strata network rm`: refused while any container is on the network, as Docker's.
    public func removeNetwork(_ name: String) throws {
        guard !NetworkStore.builtIn.contains(name) else {
            throw StrataError(.invalidArgument, "\(name) is a pre-defined network and cannot be removed")
        }
        guard let network = try networks.network(name) else { throw StrataError(.networkUnknown, "network \(name) not found") }
        try db.write {
            let users = try list().filter { $0.spec.networkName == network.name }
            guard users.isEmpty else {
                throw StrataError(.conflict, "error while removing network: network \(network.name) id \(network.id) has active endpoints")
            }
            try networks.remove(network)
        }
    }

    /// Takes the container off the bridge (after it ended, after a crash, at `rm`); nothing of
    /// its network stays: not the veth, the lease, the port rules or the namespace.
    func disconnect(_ c: Container) {
        guard let endpoint = endpoint(of: c) else { return }
        BridgeNetwork.disconnect(id: c.id, endpoint)
        unlink(endpointFile(c.id))
        refreshPeersHosts(of: c)
    }

    /// The host port for `mapping`: its own, if no container has it and nothing on the host
    /// listens there (Docker's "port is already allocated"), or a free one the kernel picks.
    static func reserve(_ mapping: PortMapping, taken: Set<String>) throws -> UInt16 {
        let label = "\(mapping.hostIP.isEmpty ? "0.0.0.0" : mapping.hostIP):\(mapping.hostPort)"
        if mapping.hostPort != 0, taken.contains("\(mapping.proto):\(mapping.hostPort)") {
            throw StrataError(.conflict, "Bind for \(label) failed: port is already allocated")
        }
        let fd = socket(AF_INET, Int32(mapping.proto == "udp" ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StrataError.posix("cannot check port \(label)", errno: errno) }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = mapping.hostPort.bigEndian
        if !mapping.hostIP.isEmpty { inet_pton(AF_INET, mapping.hostIP, &address.sin_addr) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            if errno == EADDRINUSE { throw StrataError(.conflict, "Bind for \(label) failed: port is already allocated") }
            throw StrataError.posix("cannot use host address \(label)", errno: errno)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}
