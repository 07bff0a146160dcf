import ArgumentParser
import Foundation
import Logging
import ContentStore
import RegistryServer
import StrataEngine

struct RegistryGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Run an OCI distribution registry, with Docker Hub's accounts, tokens and namespaces.",
        subcommands: [RegistryServe.self, RegistryGC.self, RegistryCheck.self, RegistryUser.self, RegistryToken.self,
                      RegistryOrganization.self, RegistryRepository.self, RegistryEvents.self]
    )
}

/// `strata registry serve`: the registry half of Docker's system, in the same binary.
struct RegistryServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an OCI distribution registry (the whole distribution spec v1.1) until SIGTERM or SIGINT.")

    @Option(help: ArgumentHelp("Address to listen on, HOST:PORT (port 0 picks a free one; default 127.0.0.1:5000).", valueName: "host:port"))
    var addr: String?
    @Option(help: ArgumentHelp("Registry storage (default: $STRATA_REGISTRY_ROOT, /var/lib/strata-registry as root, ~/.local/share/strata-registry otherwise); separate from the image store.", valueName: "dir"))
    var root: String?
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate chain: serve HTTPS.", valueName: "file"))
    var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?
    @Option(name: .customLong("gc-interval"), help: ArgumentHelp("Collect garbage in the background this often (e.g. 1h, 30m; default: never).", valueName: "duration"))
    var gcInterval: String?
    @Option(help: ArgumentHelp("How old an unreferenced blob must be before garbage collection takes it (default 1h).", valueName: "duration"))
    var grace: String?
    @Option(help: ArgumentHelp("How callers sign in: none, basic, or token (Docker's token auth; the default once a user exists).", valueName: "mode"))
    var auth: String?
    @Option(name: .customLong("anonymous-pull-limit"), help: ArgumentHelp("Anonymous pulls allowed per address, as Docker Hub limits them (e.g. 100/6h); 429 past it.", valueName: "pulls/window"))
    var anonymousPullLimit: String?
    @Option(name: .customLong("proxy-remote"), help: ArgumentHelp("Mirror this registry as a pull-through cache (e.g. https://registry-1.docker.io); its credentials go in the config file's proxy.username and proxy.password.", valueName: "url"))
    var proxyRemote: String?
    @Option(help: ArgumentHelp("YAML settings (addr, root, tls.*, gc.*, http.*, auth.mode, auth.key, auth.realm, auth.service, auth.lifetime, limits.anonymous-pulls, proxy.*, storage.* for an S3 bucket, metadata.driver and metadata.url for PostgreSQL); flags win over it.", valueName: "file"))
    var config: String?
    @OptionGroup var log: LogOptions

    func run() async throws {
        try log.bootstrap()
        let server = try RegistryServer(configuration: try configuration())
        let configuration = server.configuration
        let scheme = configuration.tlsCertificate == nil ? "http" : "https", host = configuration.host
        // One line per request on stdout, as a web server's access log; the listening line first.
        try await server.run(accessLog: { record in emit(record.line + "\n") }, onListening: { port in
            emit("listening on \(scheme)://\(host):\(port) (storage \(server.storage.root))\n")
        })
    }

    /// Defaults, then the `--config` file, then the flags.
    func configuration() throws -> RegistryServer.Configuration {
        var configuration = RegistryServer.Configuration(root: Self.defaultRoot)
        if let config { try configuration.load(file: config) }
        if let root { configuration.root = root }
        if let addr { try configuration.setAddress(addr) }
        if let tlsCertificate { configuration.tlsCertificate = tlsCertificate }
        if let tlsKey { configuration.tlsKey = tlsKey }
        if let gcInterval { configuration.gcInterval = try RegistryServer.Configuration.duration(gcInterval, "--gc-interval") }
        if let grace { configuration.gcGrace = try RegistryServer.Configuration.duration(grace, "--grace") }
        if let auth { configuration.auth = try RegistryServer.Configuration.authMode(auth, "--auth") }
        if let anonymousPullLimit { configuration.anonymousPullLimit = anonymousPullLimit }
        if let proxyRemote {
            var proxy = configuration.proxy ?? PullThroughCache.Configuration(remote: proxyRemote)
            proxy.remote = proxyRemote
            configuration.proxy = proxy
        }
        return configuration
    }

    static var defaultRoot: String {
        if let root = ProcessInfo.processInfo.environment["STRATA_REGISTRY_ROOT"], !root.isEmpty { return root }
        if getuid() == 0 { return "/var/lib/strata-registry" }
        return (ProcessInfo.processInfo.environment["HOME"] ?? "/tmp") + "/.local/share/strata-registry"
    }
}

/// `strata registry gc`: one online collection; the server may keep serving and taking pushes.
struct RegistryGC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete blobs no manifest names (and, with --delete-untagged, manifests no tag names), while the registry runs.")

    @OptionGroup var location: RegistryRootOption
    @Flag(name: .customLong("dry-run"), help: "Say what would be deleted; delete nothing.") var dryRun = false
    @Flag(name: .customLong("delete-untagged"), help: "Also delete manifests that no tag and no index names.") var deleteUntagged = false
    @Option(help: ArgumentHelp("How old an unreferenced blob or untagged manifest must be.", valueName: "duration")) var grace = "1h"
    @OptionGroup var log: LogOptions

    func run() async throws {
        try log.bootstrap()
        let storage = try location.storage()
        let report = try await storage.collect(grace: try RegistryServer.Configuration.duration(grace, "--grace"), deleteUntagged: deleteUntagged, dryRun: dryRun)
        let verb = dryRun ? "would delete" : "deleted"
        for digest in report.blobs { emit("\(verb) blob \(digest)\n") }
        emit("\(verb) \(report.blobs.count) blobs (\(Units.humanSize(report.bytes))), \(report.manifests) untagged manifests, \(report.uploads) abandoned uploads\n")
    }
}


/// `strata registry check`: the registry's storage checked end to end, while the server may keep
/// running; exit 0 clean, 1 repaired, 2 damage left, as `system check`.
struct RegistryCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a registry's storage: blobs against their digests, manifests, tags and links against the blobs, and leftovers.",
        discussion: "Exit status: 0 clean, 1 damage found and repaired, 2 damage left. The server may keep running meanwhile.")

    @OptionGroup var location: RegistryRootOption
    @Flag(help: "Set damaged blobs aside (the next push uploads them again) and remove leftovers.") var repair = false
    @Option(help: "Output: text (default) or json.") var format: String?
    @OptionGroup var log: LogOptions

    func run() async throws {
        guard format == nil || format == "json" || format == "text" else {
            throw StrataError(.invalidArgument, "invalid --format \"\(format!)\": text or json")
        }
        try log.bootstrap()
        let report = try await location.storage().checkInBackground(repair: repair)
        let c = report.checked
        if format == "json" {
            emit(try SystemCheck.json(report, checked: ["Blobs": c.blobs, "Manifests": c.manifests, "Repositories": c.repositories]))
        } else {
            let summary = "Checked \(SystemCheck.counted(c.blobs, "blob")) and \(SystemCheck.counted(c.manifests, "manifest")) "
                + "in \(SystemCheck.counted(c.repositories, "repository", plural: "repositories")) in \(report.root)."
            emit(SystemCheck.render(report, summary: summary, subject: "registry", repairCommand: "strata registry check --repair"))
        }
        if report.outcome != .clean { throw ExitCode(report.outcome.exitCode) }
    }
}
