import ArgumentParser
import Foundation
import ImageSpec
import Registry

/// Options of every command that talks to a registry.
struct RegistryFlags: ParsableArguments {
    @Option(name: .customLong("tls-verify"), help: ArgumentHelp("Require HTTPS with a valid certificate (false also allows plain HTTP).", valueName: "bool"))
    var tlsVerify: Bool = true

    func client(for registry: String) throws -> RegistryClient {
        try Self.defaultClient(for: registry, tlsVerify: tlsVerify)
    }

    /// A client with the stored credentials for the registry, if any.
    static func defaultClient(for registry: String, tlsVerify: Bool = true) throws -> RegistryClient {
        let credentials = try DockerConfigFile().credentials(for: registry)
        return RegistryClient(registry: registry, credentials: credentials, options: RegistryOptions(tlsVerify: tlsVerify))
    }
}

extension Reference {
    /// How Docker prints a reference in pull and push output: `docker.io/library/debian:latest`, `127.0.0.1:5000/lab/debian:1`.
    var fullString: String { description }
}
