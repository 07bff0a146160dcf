import Foundation
import PostgresMetadata
import ObjectStore
import RegistryTestSupport
import Testing

/// `strata registry serve --config` with `storage: {driver: s3}` over Ceph's RADOS Gateway on
/// loopback: Strata and skopeo push and pull through it, with and without `redirect`.
@Suite(.blocking, .serialized, .enabled(if: RadosGateway.installed, "radosgw is not installed (make deps installs it)"))
struct S3RegistryServeTests {
    @Test(arguments: [false, true])
    func strataAndSkopeoPushAndPullThroughABucket(redirect: Bool) async throws {
        let gateway = try await RadosGateway.shared()
        let bucket = try await gateway.client()
        let config = try registryConfig(gateway, bucket, redirect: redirect)
        let registry = try StrataRegistry(["--config", config])
        let (a, b, name, _) = try registry.pushAndPullBusybox()
        #expect(try a.layers(name) == b.layers(name))
        #expect(try await bucket.listAll(prefix: "blobs/sha256/").count >= 3)

        if CLI.which("skopeo") != nil {
            let archive = CLI.temporaryDirectory("oci") + ".tar"
            #expect(try a.strata(["save", "--format", "oci", "-o", archive, name]).status == 0)
            let copy = try skopeo(["copy", "--dest-tls-verify=false", "oci-archive:\(archive)", "docker://\(registry.host)/skopeo/app:2"])
            #expect(copy.status == 0, "\(copy.stderr)")
            let back = try skopeo(["copy", "--src-tls-verify=false", "docker://\(registry.host)/skopeo/app:2", "oci:\(CLI.temporaryDirectory("layout")):app"])
            #expect(back.status == 0, "\(back.stderr)")
        }

        // Collected and checked with the same settings while it serves.
        let gc = try CLI.run(CLI.binary, ["registry", "gc", "--config", config, "--root", registry.root, "--grace", "0s"])
        #expect(gc.status == 0 && gc.stdout.contains("deleted 0 blobs"), "\(gc.stdout)\(gc.stderr)")
        let check = try CLI.run(CLI.binary, ["registry", "check", "--config", config, "--root", registry.root])
        #expect(check.status == 0 && check.stdout.contains("Checked ") && check.stdout.contains(" blobs and "), "\(check.stdout)\(check.stderr)")
        let wrongPlace = try CLI.run(CLI.binary, ["registry", "gc", "--root", registry.root, "--grace", "0s"])
        #expect(wrongPlace.status != 0 && wrongPlace.stderr.contains("this registry's blobs are in s3 \(gateway.started.endpoint)/\(bucket.configuration.bucket)/registry/"),
                "\(wrongPlace.stderr)")
        #expect(try b.strata(["pull", name]).status == 0)
        #expect(registry.stop() == 0)
    }

    /// Two `registry serve` replicas over one bucket and one PostgreSQL database, as behind a load
    /// balancer: what is pushed through one pulls through the other, and a collection run beside
    /// them with the same settings takes nothing that is named.
    @Test(.enabled(if: TestPostgres.installed, "PostgreSQL is not installed (make deps installs it)"))
    func twoReplicasOverOneBucketAndOneDatabaseServeEachOthersPushes() async throws {
        let gateway = try await RadosGateway.shared()
        let bucket = try await gateway.client()
        let database = try await TestPostgres.shared().database()
        let config = try registryConfig(gateway, bucket, database: database)
        let first = try StrataRegistry(["--config", config]), second = try StrataRegistry(["--config", config])
        let a = Client(), b = Client()
        try a.importBusybox("\(first.host)/demo/app:1")
        let push = try a.strata(["push", "\(first.host)/demo/app:1"])
        #expect(push.status == 0, "\(push.stderr)")
        let pull = try b.strata(["pull", "\(second.host)/demo/app:1"])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try a.layers("\(first.host)/demo/app:1") == b.layers("\(second.host)/demo/app:1"))
        #expect(!FileManager.default.fileExists(atPath: first.root + "/registry.db"))

        let gc = try CLI.run(CLI.binary, ["registry", "gc", "--config", config, "--root", second.root, "--grace", "0s"])
        #expect(gc.status == 0 && gc.stdout.contains("deleted 0 blobs"), "\(gc.stdout)\(gc.stderr)")
        #expect(try Client().strata(["pull", "\(first.host)/demo/app:1"]).status == 0)

        // The account commands reach the same database with the same settings, from any root.
        let add = try CLI.run(CLI.binary, ["registry", "user", "add", "alice", "--config", config, "--root", first.root], stdin: Data("correct horse battery\n".utf8))
        #expect(add.status == 0, "\(add.stderr)")
        let users = try CLI.run(CLI.binary, ["registry", "user", "ls", "--config", config, "--root", second.root])
        #expect(users.status == 0 && users.stdout.contains("alice"), "\(users.stdout)\(users.stderr)")
        #expect(first.stop() == 0 && second.stop() == 0)
    }
}

/// A `registry serve --config` file: blobs in `bucket` of the gateway, and with `database` the
/// metadata in PostgreSQL. Returns its path.
func registryConfig(_ gateway: RadosGateway, _ bucket: S3Client, redirect: Bool = false, database: PostgresURL? = nil) throws -> String {
    let config = CLI.temporaryDirectory("registry-config") + ".yaml"
    var yaml = """
        storage:
          driver: s3
          endpoint: \(gateway.started.endpoint)
          region: \(gateway.started.region)
          bucket: \(bucket.configuration.bucket)
          prefix: registry
          access-key: \(gateway.started.access_key)
          secret-key: \(gateway.started.secret_key)
          redirect: \(redirect)

        """
    if let database {
        yaml += """
            metadata:
              driver: postgres
              url: postgres://\(database.username):\(database.password ?? "")@\(database.host):\(database.port)/\(database.database)

            """
    }
    try yaml.write(toFile: config, atomically: true, encoding: .utf8)
    return config
}
