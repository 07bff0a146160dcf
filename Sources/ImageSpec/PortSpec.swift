#if canImport(Glibc)
import Glibc
#endif

/// Docker's port specs, as EXPOSE takes them (go-connections' `nat.ParsePortSpec`): `80`,
/// `80/udp`, `8000-8010/tcp`, and `[ip:]hostPort:containerPort` whose container side is what
/// is exposed. Ports are 0–65535; the protocol is tcp, udp or sctp (any case). EXPOSE and
/// `run -p` (`PortMapping`) read them with these functions.
public enum PortSpec {
    /// The config keys a spec exposes, one per port of a range: `8000/tcp`, `8001/tcp`, …
    public static func exposedPorts(_ raw: String) throws -> [String] {
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let ip: String, hostPort: String, containerSide = parts[parts.count - 1]
        switch parts.count {
        case 1: (ip, hostPort) = ("", "")
        case 2: (ip, hostPort) = ("", parts[0])
        default: (ip, hostPort) = (parts.dropLast(2).joined(separator: ":"), parts[parts.count - 2])
        }
        let (proto, containerPort) = splitProtocol(containerSide)
        if !ip.isEmpty {
            let bare = ip.hasPrefix("[") && ip.hasSuffix("]") ? String(ip.dropFirst().dropLast()) : ip
            guard isIPAddress(bare) else { throw invalid("Invalid ip address: \(ip)") }
        }
        guard !containerPort.isEmpty else { throw invalid("No port specified: \(raw)<empty>") }
        guard let (start, end) = range(containerPort) else { throw invalid("Invalid containerPort: \(containerPort)") }
        if !hostPort.isEmpty {
            guard let (hostStart, hostEnd) = range(hostPort) else { throw invalid("Invalid hostPort: \(hostPort)") }
            // A host range is allowed for one container port (a range to allocate from), not for a range.
            if end - start != hostEnd - hostStart, end != start {
                throw invalid("Invalid ranges specified for container and host Ports: \(containerPort) and \(hostPort)")
            }
        }
        let lowered = proto.lowercased()
        guard ["tcp", "udp", "sctp"].contains(lowered) else { throw invalid("Invalid proto: \(proto)") }
        return (start...end).map { "\($0)/\(lowered)" }
    }

    /// `80/udp` → ("udp", "80"); no protocol means tcp.
    public static func splitProtocol(_ raw: String) -> (String, String) {
        let parts = raw.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !raw.isEmpty, !parts[0].isEmpty else { return ("", "") }
        if parts.count == 1 || parts[1].isEmpty { return ("tcp", parts[0]) }
        return (parts[1], parts[0])
    }

    /// `8000` or `8000-8010` (Go's ParseUint with 16 bits: digits only, 0–65535).
    public static func range(_ text: String) -> (Int, Int)? {
        func port(_ s: Substring) -> Int? {
            guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(s), n <= 65535 else { return nil }
            return n
        }
        guard text.contains("-") else { return port(Substring(text)).map { ($0, $0) } }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let start = port(parts[0]), let end = port(parts[1]), end >= start else { return nil }
        return (start, end)
    }

    public static func isIPAddress(_ text: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
    }

    private static func invalid(_ message: String) -> StrataError { StrataError(.invalidArgument, message) }
}
