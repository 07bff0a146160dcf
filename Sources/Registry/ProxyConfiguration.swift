import Foundation
import ImageSpec

/// Which proxy a request goes through, from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their
/// lower-case forms), by the rules of Go's `golang.org/x/net/http/httpproxy` — the ones Docker and
/// skopeo apply, so one machine's proxy settings mean the same to all three:
///
/// - `https://` requests use `HTTPS_PROXY`, `http://` ones `HTTP_PROXY`; upper case wins.
/// - A proxy without a scheme is `http://`; without a port, the scheme's (80, 443, 1080).
/// - `NO_PROXY` lists hosts (`registry.local`), domains (`example.com` matches it and its
///   subdomains, `.example.com` and `*.example.com` only subdomains), either with `:port`, IP
///   addresses (`10.0.0.1`, `[::1]:5000`), CIDR ranges (`10.0.0.0/8`), or `*` for all.
/// - `localhost` and loopback addresses are never proxied (Go's `useProxy` returns early for them).
public struct ProxyConfiguration: Sendable, Equatable {
    /// A proxy server, as a proxy URL named it.
    public struct Server: Sendable, Hashable, CustomStringConvertible {
        public enum Scheme: String, Sendable, Hashable { case http, https, socks5 }
        public var scheme: Scheme
        public var host: String
        public var port: Int
        /// From the URL's user information (`http://user:pass@proxy:3128`): sent as `Proxy-Authorization`.
        public var username: String?
        public var password: String?

        public init(scheme: Scheme = .http, host: String, port: Int, username: String? = nil, password: String? = nil) {
            self.scheme = scheme
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }

        /// The proxy as messages and logs name it: never with its credentials.
        public var description: String { "\(scheme.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    }

    /// A proxy setting: a server, or the variable's value when it is not a proxy URL (an error
    /// for the requests that would use it, not for the whole process).
    public enum Setting: Sendable, Equatable {
        case server(Server)
        case invalid(variable: String, value: String)
    }

    public var httpProxy: Setting?
    public var httpsProxy: Setting?
    /// The parsed `NO_PROXY` entries.
    var exclusions: [Exclusion] = []
    var excludesAll = false

    public init(httpProxy: Setting? = nil, httpsProxy: Setting? = nil, noProxy: String = "") {
        self.httpProxy = httpProxy
        self.httpsProxy = httpsProxy
        parseNoProxy(noProxy)
    }

    /// Reads the variables from an environment (upper-case names first, as Go does).
    public init(environment: [String: String]) {
        func value(_ names: String...) -> (String, String)? {
            for name in names { if let v = environment[name], !v.isEmpty { return (name, v) } }
            return nil
        }
        self.init(httpProxy: value("HTTP_PROXY", "http_proxy").map { Self.parse($0.1, variable: $0.0) },
                  httpsProxy: value("HTTPS_PROXY", "https_proxy").map { Self.parse($0.1, variable: $0.0) },
                  noProxy: value("NO_PROXY", "no_proxy")?.1 ?? "")
    }

    /// This process's proxy settings.
    public static var processEnvironment: ProxyConfiguration { ProxyConfiguration(environment: ProcessInfo.processInfo.environment) }

    /// The proxy for a request URL, nil to connect directly.
    public func proxy(for url: String) -> Setting? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else { return nil }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        return proxy(scheme: scheme, host: host, port: port)
    }

    public func proxy(scheme: String, host: String, port: Int) -> Setting? {
        let setting = scheme == "https" ? httpsProxy : scheme == "http" ? httpProxy : nil
        guard let setting, useProxy(host: host, port: port) else { return nil }
        return setting
    }

    // MARK: proxy URLs

    /// Go's `parseProxy`: a URL whose scheme is not http, https or socks5 is tried again as `http://VALUE`.
    static func parse(_ value: String, variable: String) -> Setting {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let server = server(trimmed) { return .server(server) }
        if let server = server("http://" + trimmed) { return .server(server) }
        return .invalid(variable: variable, value: Self.redacted(trimmed))
    }

    private static func server(_ text: String) -> Server? {
        guard let components = URLComponents(string: text), let scheme = components.scheme.flatMap({ Server.Scheme(rawValue: $0.lowercased()) }),
              var host = components.host, !host.isEmpty else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let defaultPort = switch scheme {
        case .http: 80
        case .https: 443
        case .socks5: 1080
        }
        guard components.path.isEmpty || components.path == "/" else { return nil }
        return Server(scheme: scheme, host: host, port: components.port ?? defaultPort,
                      username: components.user, password: components.password)
    }

    /// A value for messages: `http://user:secret@proxy` → `http://user:***@proxy`.
    static func redacted(_ value: String) -> String {
        guard let at = value.lastIndex(of: "@") else { return value }
        let start = value.range(of: "://")?.upperBound ?? value.startIndex
        guard start < at else { return value }
        let userInfo = value[start..<at]
        let user = userInfo.prefix { $0 != ":" }
        return String(value[..<start]) + user + (user.count < userInfo.count ? ":***" : "") + String(value[at...])
    }

    // MARK: NO_PROXY

    struct Exclusion: Sendable, Equatable {
        enum Match: Sendable, Equatable {
            case address([UInt8])
            case network([UInt8], prefixLength: Int)
            /// `.example.com`; `includesDomain` also matches `example.com` itself.
            case domain(suffix: String, includesDomain: Bool)
        }
        var match: Match
        var port: Int?
    }

    private mutating func parseNoProxy(_ value: String) {
        for raw in value.split(separator: ",") {
            let entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if entry.isEmpty { continue }
            if entry == "*" {
                excludesAll = true
                return
            }
            if let slash = entry.firstIndex(of: "/") {
                if let address = Self.ipAddress(String(entry[..<slash])), let bits = Int(entry[entry.index(after: slash)...]),
                   bits >= 0, bits <= address.count * 8 {
                    exclusions.append(Exclusion(match: .network(address, prefixLength: bits)))
                }
                continue
            }
            var host = entry
            var port: Int?
            if let (h, p) = Self.splitHostPort(entry) {
                guard !h.isEmpty else { continue }
                host = h
                port = p
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if let address = Self.ipAddress(host) {
                exclusions.append(Exclusion(match: .address(address), port: port))
                continue
            }
            if host.hasPrefix("*.") { host.removeFirst() }
            let includesDomain = !host.hasPrefix(".")
            exclusions.append(Exclusion(match: .domain(suffix: includesDomain ? "." + host : host, includesDomain: includesDomain), port: port))
        }
    }

    func useProxy(host rawHost: String, port: Int) -> Bool {
        var host = rawHost.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return false }
        let address = Self.ipAddress(host)
        if let address, Self.isLoopback(address) { return false }
        if excludesAll { return false }
        for exclusion in exclusions {
            if let wanted = exclusion.port, wanted != port { continue }
            switch exclusion.match {
            case .address(let a):
                if let address, Self.sameAddress(a, address) { return false }
            case .network(let network, let bits):
                if let address, Self.contains(network, bits, address) { return false }
            case .domain(let suffix, let includesDomain):
                if host.hasSuffix(suffix) || (includesDomain && host == suffix.dropFirst()) { return false }
            }
        }
        return true
    }

    /// `host:port` or `[v6]:port` → (host, port); nil when there is no port.
    static func splitHostPort(_ s: String) -> (String, Int)? {
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":"),
                  let port = Int(s[s.index(close, offsetBy: 2)...]) else { return nil }
            return (String(s[s.index(after: s.startIndex)..<close]), port)
        }
        // A bare IPv6 address has several colons and no port.
        guard s.filter({ $0 == ":" }).count == 1, let colon = s.firstIndex(of: ":"),
              let port = Int(s[s.index(after: colon)...]) else { return nil }
        return (String(s[..<colon]), port)
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address literal.
    static func ipAddress(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// IPv4-mapped IPv6 addresses compare as their IPv4 address, as Go's `net.IP.Equal` does.
    static func normalized(_ a: [UInt8]) -> [UInt8] {
        if a.count == 16, a[0..<10].allSatisfy({ $0 == 0 }), a[10] == 0xFF, a[11] == 0xFF { return Array(a[12...]) }
        return a
    }

    static func sameAddress(_ a: [UInt8], _ b: [UInt8]) -> Bool { normalized(a) == normalized(b) }

    static func contains(_ network: [UInt8], _ bits: Int, _ address: [UInt8]) -> Bool {
        let address = network.count == 4 ? normalized(address) : address
        guard address.count == network.count else { return false }
        for i in 0..<network.count {
            let take = min(8, max(0, bits - i * 8))
            if take == 0 { break }
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if network[i] & mask != address[i] & mask { return false }
        }
        return true
    }

    static func isLoopback(_ address: [UInt8]) -> Bool {
        let a = normalized(address)
        if a.count == 4 { return a[0] == 127 }
        return a == [UInt8](repeating: 0, count: 15) + [1]
    }
}

#if canImport(Glibc)
import Glibc
#endif
