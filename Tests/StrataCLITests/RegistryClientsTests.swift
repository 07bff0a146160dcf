import Foundation
import RegistryTestSupport
import Testing

/// A daemon a test starts (containerd, dockerd), logging to a file, stopped by PID.
final class Daemon {
    let process = Process()
    let log: String

    init(_ executable: String, _ arguments: [String], log: String) throws {
        self.log = log
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Polls `ready` for up to `seconds`.
    func wait(_ seconds: Int, until ready: () throws -> Bool) throws {
        for _ in 0..<(seconds * 10) {
            if try ready() { return }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        throw TestFailure("\(process.executableURL!.path) did not come up: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? "")")
    }

    /// Debian's dockerd on a socket of its own, trusting `insecureRegistry` over plain HTTP, with
    /// its networking off; returns it and the `docker` arguments that reach it.
    static func dockerd(insecureRegistry: String, arguments: [String] = []) throws -> (Daemon, [String]) {
        let dir = CLI.temporaryDirectory("dockerd")
        let socket = "\(dir)/docker.sock"
        let dockerd = try Daemon("/usr/sbin/dockerd", [
            "--data-root", "\(dir)/data", "--exec-root", "\(dir)/exec", "--pidfile", "\(dir)/docker.pid", "-H", "unix://\(socket)",
            "--iptables=false", "--ip-masq=false", "--bridge=none", "--insecure-registry", insecureRegistry,
            "--containerd-namespace", "strata-test-docker", "--containerd-plugins-namespace", "strata-test-docker-plugins",
        ] + arguments, log: "\(dir).log")
        let docker = ["-H", "unix://\(socket)"]
        try dockerd.wait(60) { try CLI.run(CLI.which("docker")!, docker + ["version"]).status == 0 }
        return (dockerd, docker)
    }

    /// Debian's containerd on a socket of its own; returns it, the `ctr` arguments that reach it
    /// and its directory (where a test may put `certs.d`).
    static func containerd() throws -> (Daemon, ctr: [String], dir: String) {
        let dir = CLI.temporaryDirectory("containerd")
        let socket = "\(dir)/containerd.sock"
        let containerd = try Daemon("/usr/bin/containerd", ["--root", "\(dir)/root", "--state", "\(dir)/state", "--address", socket],
                                    log: "\(dir).log")
        let ctr = ["--address", socket, "--namespace", "strata-test"]
        try containerd.wait(30) { try CLI.run(CLI.which("ctr")!, ctr + ["version"]).status == 0 }
        return (containerd, ctr, dir)
    }

    static var dockerAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") && CLI.which("docker") != nil && getuid() == 0
    }

    deinit {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The registry's real clients — podman, containerd's ctr (what Kubernetes nodes pull with) and
/// docker — against `strata registry serve`, each getting the digests Strata pushed.
@Suite(.blocking, .serialized) struct RegistryClientsTests {
    /// An image pushed by Strata: the registry, its reference and the manifest digest.
    static func pushedImage() throws -> (StrataRegistry, String, String) {
        let registry = try StrataRegistry()
        let client = Client()
        let name = "\(registry.host)/clients/busybox:1"
        try client.importBusybox(name)
        let push = try client.strata(["push", name])
        guard push.status == 0, let digest = push.lines.last?.split(separator: " ").dropFirst(2).first else {
            throw TestFailure("push failed: \(push.stderr)")
        }
        return (registry, name, String(digest))
    }

    @Test(.enabled(if: CLI.which("podman") != nil && getuid() == 0))
    func podmanPullsAndPushes() throws {
        let (registry, name, digest) = try Self.pushedImage()
        let dir = CLI.temporaryDirectory("podman")
        // podman refuses a runroot path over 50 characters.
        let runroot = "/tmp/sp-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: runroot) }
        let podman = ["--root", "\(dir)/root", "--runroot", runroot, "--storage-driver", "vfs"]
        let pull = try CLI.run(CLI.which("podman")!, podman + ["pull", "--tls-verify=false", name])
        #expect(pull.status == 0, "\(pull.stderr)")
        let pulled = try CLI.run(CLI.which("podman")!, podman + ["image", "inspect", "--format", "{{.Digest}}", name])
        #expect(pulled.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == digest)

        let copy = "\(registry.host)/clients/podman:2"
        #expect(try CLI.run(CLI.which("podman")!, podman + ["tag", name, copy]).status == 0)
        let push = try CLI.run(CLI.which("podman")!, podman + ["push", "--tls-verify=false", "--digestfile", "\(dir)/digest", copy])
        #expect(push.status == 0, "\(push.stderr)")
        let pushed = try String(contentsOfFile: "\(dir)/digest", encoding: .utf8)
        let back = Client()
        let strataPull = try back.strata(["pull", copy])
        #expect(strataPull.status == 0 && strataPull.lines.contains("Digest: \(pushed)"), "\(strataPull.stdout)\(strataPull.stderr)")
        _ = registry.stop()
    }

    @Test(.enabled(if: CLI.which("ctr") != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/containerd") && getuid() == 0))
    func containerdPulls() throws {
        let (registry, name, digest) = try Self.pushedImage()
        let (containerd, ctr, _) = try Daemon.containerd()
        defer { withExtendedLifetime(containerd) {} }
        let pull = try CLI.run(CLI.which("ctr")!, ctr + ["images", "pull", "--plain-http", name])
        #expect(pull.status == 0, "\(pull.stdout)\(pull.stderr)")
        let list = try CLI.run(CLI.which("ctr")!, ctr + ["images", "ls"])
        #expect(list.lines.contains { $0.hasPrefix(name) && $0.contains(digest) }, "\(list.stdout)")
        _ = registry.stop()
    }

    @Test(.enabled(if: Daemon.dockerAvailable))
    func dockerPullsAndPushes() throws {
        let (registry, name, digest) = try Self.pushedImage()
        let (dockerd, docker) = try Daemon.dockerd(insecureRegistry: registry.host)
        defer { withExtendedLifetime(dockerd) {} }
        let pull = try CLI.run(CLI.which("docker")!, docker + ["pull", name])
        #expect(pull.status == 0 && pull.stdout.contains("Digest: \(digest)"), "\(pull.stdout)\(pull.stderr)")

        let copy = "\(registry.host)/clients/docker:3"
        #expect(try CLI.run(CLI.which("docker")!, docker + ["tag", name, copy]).status == 0)
        let push = try CLI.run(CLI.which("docker")!, docker + ["push", copy])
        #expect(push.status == 0, "\(push.stdout)\(push.stderr)")
        let pushedDigest = push.lines.last { $0.contains("digest: ") }?.components(separatedBy: "digest: ").last?.split(separator: " ").first
        let back = Client()
        let strataPull = try back.strata(["pull", copy])
        #expect(strataPull.status == 0 && pushedDigest.map { strataPull.lines.contains("Digest: \($0)") } == true,
                "\(push.stdout)\n\(strataPull.stdout)\(strataPull.stderr)")
        _ = registry.stop()
    }
}
