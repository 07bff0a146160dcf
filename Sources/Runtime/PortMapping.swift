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

    public static func parse(_ text: String) throws -> PortMapping {
        var spec = Substring(text), proto = "tcp"
        if let slash = spec.lastIndex(of: "/") {
            proto = String(spec[spec.index(after: slash)...]).lowercased()
            spec = spec[..<slash]
            guard ["tcp", "udp"].contains(proto) else { throw StrataError(.invalidArgument, "invalid proto: \(proto) in '\(text)'") }
        }
        var parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count) else { throw StrataError(.invalidArgument, "invalid port format: '\(text)'") }
        var hostIP = ""
        if parts.count == 3 {
            hostIP = parts.removeFirst()
            var address = in_addr()
            guard hostIP.isEmpty || inet_pton(AF_INET, hostIP, &address) == 1 else {
                throw StrataError(.invalidArgument, "invalid IP address: \(hostIP) in '\(text)'")
            }
        }
        func port(_ s: String, host: Bool) throws -> UInt16 {
            if host, s.isEmpty { return 0 }
            guard let n = Int(s), (host ? 0 : 1)...65535 ~= n else {
                throw StrataError(.invalidArgument, "invalid \(host ? "host" : "container")Port: \(s) in '\(text)': a port from 1 to 65535")
            }
            return UInt16(n)
        }
        let containerPort = try port(parts.last!, host: false)
        let hostPort = parts.count == 2 ? try port(parts[0], host: true) : 0
        return PortMapping(hostIP: hostIP, hostPort: hostPort, containerPort: containerPort, proto: proto)
    }
}
