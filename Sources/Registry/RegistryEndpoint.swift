import Foundation
import ImageSpec

/// Where a registry named in a reference is reached, and how securely.
public struct RegistryEndpoint: Sendable, Hashable {
    /// How to talk to the registry, tried in order until one answers.
    public enum Transport: Sendable, Hashable {
        /// HTTPS with certificate verification: the default everywhere.
        case https
        /// HTTPS without verifying the certificate (an insecure registry).
        case httpsUnverified
        /// Plain HTTP: loopback registries and insecure ones only.
        case http
    }

    /// The registry as references name it: `docker.io`, `127.0.0.1:5000`, `ghcr.io`.
    public var name: String
    /// The host[:port] requests go to (`registry-1.docker.io` for Docker Hub).
    public var host: String
    public var transports: [Transport]

    /// - Parameters:
    ///   - tlsVerify: false allows unverified HTTPS and plain HTTP for this registry (as `--tls-verify=false`).
    ///   - insecureRegistries: registries configured as insecure (`insecure-registries` in
    ///     `/etc/docker/daemon.json`, `STRATA_INSECURE_REGISTRIES`).
    public init(registry: String, tlsVerify: Bool = true, insecureRegistries: [String] = RegistryEndpoint.configuredInsecure) {
        name = registry
        host = registry == Reference.defaultDomain || registry == "index.docker.io" ? "registry-1.docker.io" : registry
        if Self.isLoopback(host) {
            // As Docker: loopback registries may be plain HTTP; a local one nearly always is, so it goes first.
            transports = tlsVerify ? [.http, .https] : [.http, .httpsUnverified]
        } else if !tlsVerify || insecureRegistries.contains(registry) || insecureRegistries.contains(host) {
            transports = [.httpsUnverified, .http]
        } else {
            transports = [.https]
        }
    }

    /// A registry reached exactly as given: `host` for requests, `transports` tried in order.
    public init(name: String, host: String, transports: [Transport]) {
        self.name = name
        self.host = host
        self.transports = transports
    }

    public func baseURL(_ transport: Transport) -> String {
        "\(transport == .http ? "http" : "https")://\(host)"
    }

    /// localhost, 127.0.0.0/8 and ::1, with or without a port.
    public static func isLoopback(_ hostAndPort: String) -> Bool {
        var host = Substring(hostAndPort)
        if host.hasPrefix("[") {
            host = host.dropFirst().prefix { $0 != "]" }
        } else if let colon = host.lastIndex(of: ":"), host.filter({ $0 == ":" }).count == 1 {
            host = host[..<colon]
        }
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Registries marked insecure by configuration: `STRATA_INSECURE_REGISTRIES` (comma-separated)
    /// and `insecure-registries` of `/etc/docker/daemon.json`, which users of Docker already keep.
    public static var configuredInsecure: [String] {
        var list: [String] = []
        if let env = ProcessInfo.processInfo.environment["STRATA_INSECURE_REGISTRIES"] {
            list += env.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let bytes = try? FileSystem.readFile("/etc/docker/daemon.json", limit: 1 << 20),
           let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
           let insecure = object["insecure-registries"] as? [String] {
            list += insecure
        }
        return list
    }
}
