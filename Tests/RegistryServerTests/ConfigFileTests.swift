import Foundation
import ImageSpec
import PostgresMetadata
import RegistryServer
import Testing

/// `strata registry serve --config FILE`: every setting read, and every mistake named.
@Suite struct ConfigFileTests {
    func load(_ yaml: String) throws -> RegistryServer.Configuration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = RegistryServer.Configuration(root: "/default")
        try configuration.load(file: path)
        return configuration
    }

    @Test func everySettingIsRead() throws {
        let c = try load("""
            # a comment
            addr: 0.0.0.0:5443
            root: /srv/registry
            tls:
              certificate: /etc/strata/cert.pem
              key: /etc/strata/key.pem
            gc: { interval: 30m, grace: 2h }
            http:
              idle-timeout: 90s
              shutdown-timeout: 10
            """)
        #expect(c.host == "0.0.0.0" && c.port == 5443 && c.root == "/srv/registry")
        #expect(c.tlsCertificate == "/etc/strata/cert.pem" && c.tlsKey == "/etc/strata/key.pem")
        #expect(c.gcInterval == 1800 && c.gcGrace == 7200)
        #expect(c.idleTimeout == .seconds(90) && c.shutdownTimeout == .seconds(10))
    }

    @Test func aPostgresDatabaseIsReadFromItsURL() throws {
        let c = try load("metadata:\n  driver: postgres\n  url: postgres://strata:p%40ss@db.internal:6432/registry\n")
        #expect(c.metadata == .postgres(PostgresURL(host: "db.internal", port: 6432, username: "strata", password: "p@ss", database: "registry")))
        #expect(c.metadata.description == "postgres://strata@db.internal:6432/registry")
        #expect(try load("metadata:\n  driver: postgres\n  url: postgresql://me@localhost\n").metadata
                == .postgres(PostgresURL(host: "localhost", username: "me")))
        #expect(try load("# nothing\n").metadata == .sqlite)
    }

    @Test func anEmptyFileKeepsTheDefaults() throws {
        let c = try load("# nothing yet\n")
        #expect(c.root == "/default" && c.port == 5000 && c.gcInterval == nil)
    }

    @Test(arguments: [
        ("gc:\n  intervall: 1h\n", "\"gc.intervall\" is not a setting"),
        ("port: 5000\n", "\"port\" is not a setting"),
        ("gc:\n  grace: soon\n", "invalid gc.grace in"),
        ("addr: nowhere\n", "invalid address \"nowhere\""),
        ("addr: [1, 2]\n", "addr must be a single value"),
        ("- just\n- a list\n", "expected a mapping of settings"),
        ("root: [unclosed\n", "is not valid YAML"),
        ("metadata:\n  url: postgres://a@b/c\n", "metadata.url is a setting of metadata.driver postgres"),
        ("metadata:\n  driver: postgres\n", "metadata.driver postgres needs metadata.url"),
        ("metadata:\n  driver: mysql\n", "invalid metadata.driver \"mysql\": expected sqlite or postgres"),
        ("metadata:\n  driver: postgres\n  url: mysql://a@b/c\n", "the scheme must be postgres://"),
        ("metadata:\n  driver: postgres\n  url: postgres://b/c\n", "no user"),
        ("metadata:\n  driver: postgres\n  url: postgres://u:secret@h/a/b\n", "the path must be one database name"),
    ])
    func mistakesAreNamed(_ yaml: String, _ message: String) throws {
        let error = #expect(throws: StrataError.self) { try load(yaml) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func aMissingFileIsNamed() throws {
        var configuration = RegistryServer.Configuration(root: "/default")
        let error = #expect(throws: StrataError.self) { try configuration.load(file: "/nonexistent/registry.yaml") }
        #expect(error?.message.contains("/nonexistent/registry.yaml") == true)
    }
}
