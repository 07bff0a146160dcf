import Foundation
import ImageSpec
import ObjectStore
import PostgresMetadata
import Yams

extension RegistryServer.Configuration {
    /// The settings a `--config` file may hold, as `section.key`; flags given on the command line
    /// win over the file.
    ///
    /// ```yaml
    /// addr: 127.0.0.1:5000
    /// root: /var/lib/strata-registry
    /// tls: { certificate: /etc/strata/cert.pem, key: /etc/strata/key.pem }
    /// gc: { interval: 1h, grace: 1h }
    /// http: { idle-timeout: 60s, shutdown-timeout: 30s }
    /// auth: { mode: token, key: /etc/strata/token-key.pem, realm: https://registry.example.com/token,
    ///         service: registry.example.com, lifetime: 5m }
    /// limits: { anonymous-pulls: 100/6h }
    /// proxy: { remote: https://registry-1.docker.io, username: me, password: dckr_pat_…, ttl: 5m }
    /// storage: { driver: s3, endpoint: http://127.0.0.1:7480, region: default, bucket: registry,
    ///            prefix: hub, access-key: …, secret-key: …, redirect: true }
    /// metadata: { driver: postgres, url: postgres://strata:…@127.0.0.1:5432/registry }
    /// ```
    public static let fileSettings = ["addr", "root", "tls.certificate", "tls.key", "gc.interval", "gc.grace",
                                      "http.idle-timeout", "http.shutdown-timeout",
                                      "auth.mode", "auth.key", "auth.realm", "auth.service", "auth.lifetime", "limits.anonymous-pulls",
                                      "proxy.remote", "proxy.username", "proxy.password", "proxy.ttl", "storage.driver", "storage.redirect",
                                      "metadata.driver", "metadata.url"]
        + S3Configuration.settingNames.map { "storage.\($0)" }

    /// Reads a YAML configuration file over these settings. A key that is not a setting, or a
    /// value of the wrong kind, is an error naming the file and the key: a typo never silently
    /// leaves a default in place.
    public mutating func load(file path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw StrataError(.invalidArgument, "cannot read the configuration file \(path): \(error.localizedDescription)", cause: error)
        }
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw StrataError(.invalidArgument, "\(path) is not valid YAML: \(error)", cause: error)
        }
        guard let document else { return }
        guard let top = document as? [String: Any] else {
            throw StrataError(.invalidArgument, "\(path): expected a mapping of settings (\(Self.fileSettings.joined(separator: ", ")))")
        }
        var values: [String: String] = [:]
        for (key, value) in top {
            if let section = value as? [String: Any] {
                for (inner, value) in section { values["\(key).\(inner)"] = try Self.scalar(value, "\(key).\(inner)", path) }
            } else {
                values[key] = try Self.scalar(value, key, path)
            }
        }
        for key in values.keys.sorted() where !Self.fileSettings.contains(key) {
            throw StrataError(.invalidArgument, "\(path): \"\(key)\" is not a setting; the settings are \(Self.fileSettings.joined(separator: ", "))")
        }
        func duration(_ key: String) throws -> TimeInterval? {
            try values[key].map { try Self.duration($0, "\(key) in \(path)") }
        }
        if let addr = values["addr"] { try setAddress(addr) }
        if let root = values["root"] { self.root = root }
        if let certificate = values["tls.certificate"] { tlsCertificate = certificate }
        if let key = values["tls.key"] { tlsKey = key }
        if let interval = try duration("gc.interval") { gcInterval = interval }
        if let grace = try duration("gc.grace") { gcGrace = grace }
        if let idle = try duration("http.idle-timeout") { idleTimeout = .milliseconds(Int64(idle * 1000)) }
        if let shutdown = try duration("http.shutdown-timeout") { shutdownTimeout = .milliseconds(Int64(shutdown * 1000)) }
        if let mode = values["auth.mode"] { auth = try Self.authMode(mode, "auth.mode in \(path)") }
        if let key = values["auth.key"] { tokenKey = key }
        if let realm = values["auth.realm"] { tokenRealm = realm }
        if let service = values["auth.service"] { tokenService = service }
        if let lifetime = try duration("auth.lifetime") { tokenLifetime = lifetime }
        if let limit = values["limits.anonymous-pulls"] { anonymousPullLimit = limit }
        try loadStorage(values, path)
        try loadMetadata(values, path)
        // A remote may come from --proxy-remote instead; the server says if none does.
        if ["proxy.remote", "proxy.username", "proxy.password", "proxy.ttl"].contains(where: { values[$0] != nil }) {
            proxy = PullThroughCache.Configuration(remote: values["proxy.remote"] ?? "", username: values["proxy.username"],
                                                   password: values["proxy.password"], ttl: try duration("proxy.ttl") ?? 300)
        }
    }

    /// `storage.driver` (filesystem, the default, or s3) and the bucket's settings.
    private mutating func loadStorage(_ values: [String: String], _ path: String) throws {
        let s3Keys = S3Configuration.settingNames.map { "storage.\($0)" }
        switch values["storage.driver"] ?? "filesystem" {
        case "filesystem":
            if let key = (s3Keys + ["storage.redirect"]).first(where: { values[$0] != nil }) {
                throw StrataError(.invalidArgument, "\(path): \(key) is a setting of storage.driver s3, and the driver is filesystem")
            }
            objectStore = nil
        case "s3":
            var settings: [String: String] = [:]
            for key in S3Configuration.settingNames { settings[key] = values["storage.\(key)"] }
            do { objectStore = try S3Configuration(settings: settings) } catch let error as StrataError { throw error.context(path) }
            if let text = values["storage.redirect"] {
                guard let flag = Bool(text) else { throw StrataError(.invalidArgument, "\(path): invalid storage.redirect \"\(text)\": expected true or false") }
                redirectBlobs = flag
            }
        case let other:
            throw StrataError(.invalidArgument, "\(path): invalid storage.driver \"\(other)\": expected filesystem or s3")
        }
    }

    /// `metadata.driver`: sqlite (the default, under the root) or postgres, at `metadata.url`.
    private mutating func loadMetadata(_ values: [String: String], _ path: String) throws {
        switch values["metadata.driver"] ?? "sqlite" {
        case "sqlite":
            if values["metadata.url"] != nil {
                throw StrataError(.invalidArgument, "\(path): metadata.url is a setting of metadata.driver postgres, and the driver is sqlite")
            }
            metadata = .sqlite
        case "postgres":
            guard let url = values["metadata.url"] else {
                throw StrataError(.invalidArgument, "\(path): metadata.driver postgres needs metadata.url (postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
            }
            do { metadata = .postgres(try PostgresURL(parsing: url)) } catch let error as StrataError { throw error.context(path) }
        case let other:
            throw StrataError(.invalidArgument, "\(path): invalid metadata.driver \"\(other)\": expected sqlite or postgres")
        }
    }

    private static func scalar(_ value: Any, _ key: String, _ path: String) throws -> String {
        switch value {
        case let text as String: return text
        case let flag as Bool: return String(flag)
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        default: throw StrataError(.invalidArgument, "\(path): \(key) must be a single value, not \(type(of: value))")
        }
    }

    public static func authMode(_ text: String, _ what: String) throws -> AuthMode {
        guard let mode = AuthMode(rawValue: text) else {
            throw StrataError(.invalidArgument, "invalid \(what) \"\(text)\": expected \(AuthMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return mode
    }

    /// `90s`, `30m`, `1h`, `2d` or plain seconds; `what` names the flag or setting in the error.
    public static func duration(_ text: String, _ what: String) throws -> TimeInterval {
        try DurationText.seconds(text, what)
    }
}
