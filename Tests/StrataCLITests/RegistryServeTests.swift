import Foundation
import RegistryTestSupport
import Testing

/// `strata registry serve` as a separate process on 127.0.0.1 (a free port), stopped by PID.
final class StrataRegistry {
    let root = CLI.temporaryDirectory("strata-registry")
    let log: String
    let process = Process()
    let port: Int
    var host: String { "127.0.0.1:\(port)" }

    init(_ arguments: [String] = []) throws {
        log = root + ".log"
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["registry", "serve", "--addr", "127.0.0.1:0", "--root", root] + arguments
        // The access log goes to a file: a pipe nobody reads would fill and stall the server.
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        var found: Int?
        for _ in 0..<200 where found == nil {
            usleep(50_000)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on http://127.0.0.1:") }),
               let port = line.split(separator: ":").dropFirst(2).first.flatMap({ Int($0.prefix { $0.isNumber }) }) {
                found = port
            }
        }
        guard let found else {
            process.terminate()
            throw TestFailure("strata registry serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        port = found
    }

    /// SIGTERM, as a service manager stops it; returns its exit status.
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<200 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// Busybox imported by one client, pushed as `demo/app:1` and pulled by another, which must
    /// get the pushed digest: the two clients, the name and that digest.
    func pushAndPullBusybox() throws -> (a: Client, b: Client, name: String, digest: String) {
        let a = Client(), b = Client()
        let name = "\(host)/demo/app:1"
        try a.importBusybox(name)
        let push = try a.strata(["push", name])
        guard push.status == 0, let pushed = push.lines.last?.split(separator: " ").dropFirst(2).first.map(String.init) else {
            throw TestFailure("push failed: \(push.stderr)")
        }
        let pull = try b.strata(["pull", name])
        guard pull.status == 0, pull.lines.contains("Digest: \(pushed)") else { throw TestFailure("pull failed: \(pull.stdout)\(pull.stderr)") }
        return (a, b, name, pushed)
    }

    var accessLog: [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).filter { $0.contains("\" ") }
    }
}

@Suite(.blocking, .serialized) struct RegistryServeTests {
    @Test func strataAndSkopeoPushAndPullTheSameDigests() throws {
        let registry = try StrataRegistry()
        let (a, b, name, pushed) = try registry.pushAndPullBusybox()
        #expect(try a.layers(name) == b.layers(name))

        if CLI.which("skopeo") != nil {
            let inspect = try skopeo(["inspect", "--tls-verify=false", "--raw", "docker://\(name)"])
            #expect(inspect.status == 0, "\(inspect.stderr)")
            #expect("sha256:" + sha256Hex(inspect.data) == pushed)

            // skopeo pushes (an OCI archive Strata saved), Strata pulls it back.
            let archive = CLI.temporaryDirectory("oci") + ".tar"
            #expect(try a.strata(["save", "--format", "oci", "-o", archive, name]).status == 0)
            let copy = try skopeo(["copy", "--dest-tls-verify=false", "oci-archive:\(archive)", "docker://\(registry.host)/skopeo/app:2"])
            #expect(copy.status == 0, "\(copy.stderr)")
            let back = try b.strata(["pull", "\(registry.host)/skopeo/app:2"])
            #expect(back.status == 0, "\(back.stderr)")
            #expect(try b.layers("\(registry.host)/skopeo/app:2") == a.layers(name))
            let tags = try skopeo(["list-tags", "--tls-verify=false", "docker://\(registry.host)/skopeo/app"])
            #expect(tags.stdout.contains("\"2\""))
        }

        // An online collection while the server runs: everything is named by a manifest, nothing goes.
        let gc = try CLI.run(CLI.binary, ["registry", "gc", "--root", registry.root, "--grace", "0s"])
        #expect(gc.status == 0 && gc.stdout.contains("deleted 0 blobs"), "\(gc.stdout)\(gc.stderr)")
        let badGrace = try CLI.run(CLI.binary, ["registry", "gc", "--root", registry.root, "--grace", "soon"])
        #expect(badGrace.status != 0 && badGrace.stderr.contains("invalid --grace \"soon\""))
        #expect(try b.strata(["pull", name]).status == 0)

        let log = registry.accessLog
        #expect(log.contains { $0.contains("\"PUT /v2/demo/app/manifests/1 HTTP/1.1\" 201") }, "\(log)")
        #expect(log.contains { $0.contains("\"GET /v2/demo/app/manifests/1 HTTP/1.1\" 200") })
        #expect(registry.stop() == 0)
    }

    /// Flags win over the file: the file's address is taken by the flag, its grace by nothing.
    @Test func aConfigFileSetsWhatTheFlagsDoNot() throws {
        let config = CLI.temporaryDirectory("registry-config") + ".yaml"
        try "addr: 127.0.0.1:1\ngc:\n  interval: 1h\n".write(toFile: config, atomically: true, encoding: .utf8)
        let registry = try StrataRegistry(["--config", config])
        #expect(try CLI.run("/usr/bin/curl", ["-sf", "http://\(registry.host)/v2/"]).status == 0)
        #expect(registry.stop() == 0)
        let bad = CLI.temporaryDirectory("registry-config") + ".yaml"
        try "gc:\n  intervall: 1h\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try CLI.run(CLI.binary, ["registry", "serve", "--root", CLI.temporaryDirectory("bad-registry"), "--config", bad])
        #expect(r.status != 0 && r.stderr.contains("\"gc.intervall\" is not a setting"), "\(r.stderr)")
    }

    @Test(arguments: [
        (["--addr", "nowhere"], "invalid address \"nowhere\""),
        (["--addr", "127.0.0.1:99999"], "invalid address"),
        (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
    ])
    func badFlagsAreNamed(_ arguments: [String], _ message: String) throws {
        let r = try CLI.run(CLI.binary, ["registry", "serve", "--root", CLI.temporaryDirectory("bad-registry")] + arguments)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}

private func sha256Hex(_ data: Data) -> String {
    let r = try? CLI.run("/usr/bin/sha256sum", ["-"], stdin: data)
    return String(r?.stdout.prefix(64) ?? "")
}
