import Foundation
import RegistryTestSupport
import Testing

/// `strata registry serve --proxy-remote` as the nodes of a cluster use a mirror: docker's
/// `registry-mirrors` and containerd's `hosts.toml` send their Docker Hub pulls to it. The
/// "Docker Hub" here is a Strata registry on loopback holding `library/busybox`, which Strata
/// built and pushed; once it is stopped, what the mirror has cached still pulls.
@Suite(.blocking, .serialized) struct MirrorClientsTests {
    /// The upstream with `library/busybox:1`, and a mirror of it; the pushed manifest's digest.
    static func upstreamAndMirror() throws -> (upstream: StrataRegistry, mirror: StrataRegistry, digest: String) {
        let upstream = try StrataRegistry()
        let client = Client()
        let name = "\(upstream.host)/library/busybox:1"
        try client.importBusybox(name)
        let push = try client.strata(["push", name])
        guard push.status == 0, let digest = push.lines.last?.split(separator: " ").dropFirst(2).first else {
            throw TestFailure("push failed: \(push.stderr)")
        }
        let mirror = try StrataRegistry(["--proxy-remote", "http://\(upstream.host)"])
        return (upstream, mirror, String(digest))
    }

    @Test(.enabled(if: Daemon.dockerAvailable))
    func dockersRegistryMirrorPullsThroughIt() throws {
        let (upstream, mirror, digest) = try Self.upstreamAndMirror()
        let (dockerd, docker) = try Daemon.dockerd(insecureRegistry: mirror.host, arguments: ["--registry-mirror", "http://\(mirror.host)"])
        defer { withExtendedLifetime(dockerd) {} }
        let pull = try CLI.run(CLI.which("docker")!, docker + ["pull", "busybox:1"])
        #expect(pull.status == 0 && pull.stdout.contains("Digest: \(digest)"), "\(pull.stdout)\(pull.stderr)")
        let run = try CLI.run(CLI.which("docker")!, docker + ["image", "inspect", "--format", "{{index .RepoDigests 0}}", "busybox:1"])
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "busybox@\(digest)")

        _ = upstream.stop()
        #expect(try CLI.run(CLI.which("docker")!, docker + ["rmi", "busybox:1"]).status == 0)
        let again = try CLI.run(CLI.which("docker")!, docker + ["pull", "busybox:1"])
        #expect(again.status == 0 && again.stdout.contains("Digest: \(digest)"), "with the upstream gone: \(again.stdout)\(again.stderr)")
        _ = mirror.stop()
    }

    @Test(.enabled(if: CLI.which("ctr") != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/containerd") && getuid() == 0))
    func containerdsHostsTomlPullsThroughItAndRuns() throws {
        let (upstream, mirror, digest) = try Self.upstreamAndMirror()
        let (containerd, ctr, dir) = try Daemon.containerd()
        defer { withExtendedLifetime(containerd) {} }
        // What docs/registry-nodes.md tells a node to write.
        let hosts = "\(dir)/certs.d/docker.io"
        try FileManager.default.createDirectory(atPath: hosts, withIntermediateDirectories: true)
        try """
            server = "https://registry-1.docker.io"

            [host."http://\(mirror.host)"]
              capabilities = ["pull", "resolve"]
            """.write(toFile: "\(hosts)/hosts.toml", atomically: true, encoding: .utf8)
        let reference = "docker.io/library/busybox:1"
        let pull = try CLI.run(CLI.which("ctr")!, ctr + ["images", "pull", "--hosts-dir", "\(dir)/certs.d", reference])
        #expect(pull.status == 0, "\(pull.stdout)\(pull.stderr)")
        let list = try CLI.run(CLI.which("ctr")!, ctr + ["images", "ls"])
        #expect(list.lines.contains { $0.hasPrefix(reference) && $0.contains(digest) }, "\(list.stdout)")
        // And runs it, as a node would.
        let run = try CLI.run(CLI.which("ctr")!, ctr + ["run", "--rm", reference, "mirror-\(UUID().uuidString.prefix(8))",
                                                        "/bin/echo", "hello from the mirror"])
        #expect(run.status == 0 && run.stdout.contains("hello from the mirror"), "\(run.stdout)\(run.stderr)")
        _ = upstream.stop()
        _ = mirror.stop()
    }
}
