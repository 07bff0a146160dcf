import Foundation
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
        let config = CLI.temporaryDirectory("s3-config") + ".yaml"
        try """
            storage:
              driver: s3
              endpoint: \(gateway.started.endpoint)
              region: \(gateway.started.region)
              bucket: \(bucket.configuration.bucket)
              prefix: registry
              access-key: \(gateway.started.access_key)
              secret-key: \(gateway.started.secret_key)
              redirect: \(redirect)
            """.write(toFile: config, atomically: true, encoding: .utf8)
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

        // Collected with the same settings while it serves; checked, it says it cannot read a bucket.
        let gc = try CLI.run(CLI.binary, ["registry", "gc", "--config", config, "--root", registry.root, "--grace", "0s"])
        #expect(gc.status == 0 && gc.stdout.contains("deleted 0 blobs"), "\(gc.stdout)\(gc.stderr)")
        let wrongPlace = try CLI.run(CLI.binary, ["registry", "gc", "--root", registry.root, "--grace", "0s"])
        #expect(wrongPlace.status != 0 && wrongPlace.stderr.contains("this registry's blobs are in s3 \(gateway.started.endpoint)/\(bucket.configuration.bucket)/registry/"),
                "\(wrongPlace.stderr)")
        #expect(try b.strata(["pull", name]).status == 0)
        #expect(registry.stop() == 0)
    }
}
