import Foundation
import ImageSpec

/// `-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]`: a host port that leads to a container's port on
/// the bridge network. A host port of 0 is chosen when the container starts (`-p 80`, `-P`).
public struct PortMapping: Codable, Sendable, Equatable, Hashable {
    public var hostIP: String
    public var hostPort: UInt16
    public var containerPort: UInt16
    /// `tcp` or `udp`.
    public var proto: String

    public init(hostIP: String = "", hostPort: UInt16, containerPort: UInt16, proto: String = "tcp") {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.proto = proto
    }

    /// Docker's words: `80/tcp -> 127.0.0.1:8080` (`strata port`).
    public var portLine: String {
        "\(containerPort)/\(proto) -> \(hostIP.isEmpty ? "0.0.0.0" : hostIP):\(hostPort)"
    }

    /// Docker's PORTS column: `127.0.0.1:8080->80/tcp`.
    public var psColumn: String {
        "\(hostIP.isEmpty ? "0.0.0.0" : hostIP):\(hostPort)->\(containerPort)/\(proto)"
    }

    /// Docker's `-p` grammar and words (go-connections' `nat.ParsePortSpec`, as EXPOSE reads
    /// it through `PortSpec`), for one port: ranges and sctp are not published here.
    public static func parse(_ text: String) throws -> PortMapping {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count) else { throw StrataError(.invalidArgument, "Invalid port format: '\(text)'") }
        let (proto, containerSide) = PortSpec.splitProtocol(parts[parts.count - 1])
        guard ["tcp", "udp"].contains(proto.lowercased()) else { throw StrataError(.invalidArgument, "Invalid proto: \(proto) in '\(text)'") }
        let hostIP = parts.count == 3 ? parts[0] : ""
        var address = in_addr()
        guard hostIP.isEmpty || inet_pton(AF_INET, hostIP, &address) == 1 else {
            throw StrataError(.invalidArgument, "Invalid ip address: \(hostIP) in '\(text)' (an IPv4 address)")
        }
        guard let (port, last) = PortSpec.range(containerSide), port > 0 else {
            throw StrataError(.invalidArgument, "Invalid containerPort: \(containerSide) in '\(text)': a port from 1 to 65535")
        }
        let hostSide = parts.count >= 2 ? parts[parts.count - 2] : ""
        let hostRange = hostSide.isEmpty ? (0, 0) : PortSpec.range(hostSide)
        guard let (hostPort, hostLast) = hostRange else {
            throw StrataError(.invalidArgument, "Invalid hostPort: \(hostSide) in '\(text)': a port from 1 to 65535")
        }
        guard port == last, hostPort == hostLast else { throw StrataError(.invalidArgument, "port ranges are not published yet: '\(text)'") }
        return PortMapping(hostIP: hostIP, hostPort: UInt16(hostPort), containerPort: UInt16(port), proto: proto.lowercased())
    }
}
