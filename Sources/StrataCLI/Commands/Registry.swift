import ArgumentParser
import Foundation
import Logging
import RegistryServer
import StrataEngine

struct RegistryGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Run an OCI distribution registry.",
        subcommands: [RegistryServe.self]
    )
}

/// `strata registry serve`: the registry half of Docker's system, in the same binary.
struct RegistryServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an OCI distribution registry (the whole distribution spec v1.1) until SIGTERM or SIGINT.")

    @Option(help: ArgumentHelp("Address to listen on, HOST:PORT (port 0 picks a free one).", valueName: "host:port"))
    var addr = "127.0.0.1:5000"
    @Option(help: ArgumentHelp("Registry storage (default: $STRATA_REGISTRY_ROOT, /var/lib/strata-registry as root, ~/.local/share/strata-registry otherwise); separate from the image store.", valueName: "dir"))
    var root: String?
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate chain: serve HTTPS.", valueName: "file"))
    var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?
    @OptionGroup var log: LogOptions

    func run() async throws {
        try log.bootstrap()
        var configuration = RegistryServer.Configuration(root: root ?? Self.defaultRoot)
        try configuration.setAddress(addr)
        configuration.tlsCertificate = tlsCertificate
        configuration.tlsKey = tlsKey
        let server = try RegistryServer(configuration: configuration)
        let scheme = tlsCertificate == nil ? "http" : "https", host = configuration.host
        // One line per request on stdout, as a web server's access log; the listening line first.
        try await server.run(accessLog: { record in emit(record.line + "\n") }, onListening: { port in
            emit("listening on \(scheme)://\(host):\(port) (storage \(server.storage.root))\n")
        })
    }

    static var defaultRoot: String {
        if let root = ProcessInfo.processInfo.environment["STRATA_REGISTRY_ROOT"], !root.isEmpty { return root }
        if getuid() == 0 { return "/var/lib/strata-registry" }
        return (ProcessInfo.processInfo.environment["HOME"] ?? "/tmp") + "/.local/share/strata-registry"
    }
}
