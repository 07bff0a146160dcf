import Foundation
import RegistryTestSupport
import Testing

/// A real registry (Debian's docker-registry, the distribution reference implementation) on
/// 127.0.0.1, started by Tests/Support/registry/start-registry.sh and stopped by PID.
final class TestRegistry {
    let directory: String
    let port: Int
    let pids: [Int32]
    var host: String { "127.0.0.1:\(port)" }

    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/registry").path
    static var available: Bool { CLI.which("docker-registry") != nil || FileManager.default.fileExists(atPath: "/usr/bin/docker-registry") }

    init(_ mode: String) throws {
        directory = CLI.temporaryDirectory("registry-\(mode)")
        let r = try CLI.run("/bin/bash", ["\(Self.scripts)/start-registry.sh", mode, directory],
                            environment: ["STRATA_REGISTRY_WATCH_PID": "\(getpid())"])
        let fields = r.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard r.status == 0, fields.count >= 2 else { throw TestFailure("registry did not start: \(r.stderr)") }
        port = fields[0]
        pids = fields.dropFirst().map { Int32($0) }
    }

    // SIGKILL: a test runner may leave its children ignoring SIGTERM.
    deinit { for pid in pids { kill(pid, SIGKILL) } }

    /// Lines of the token issuer's request log (token mode).
    var tokenRequests: Int {
        ((try? String(contentsOfFile: "\(directory)/token-requests.log", encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A store and a private Docker config directory, so logins never touch the machine's own.
struct Client {
    let root = CLI.temporaryDirectory("store")
    let config = CLI.temporaryDirectory("docker-config")

    @discardableResult
    func strata(_ arguments: [String], stdin: Data? = nil) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["--root", root] + arguments, environment: ["DOCKER_CONFIG": config], stdin: stdin)
    }

    func layers(_ name: String) throws -> [String] {
        let out = try strata(["inspect", "--format", "{{json .RootFS.Layers}}", name]).stdout
        return (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String]) ?? []
    }

    func importBusybox(_ name: String) throws {
        let r = try strata(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), name])
        precondition(r.status == 0, r.stderr)
    }
}

func skopeo(_ arguments: [String]) throws -> CLI.Result { try CLI.run(CLI.which("skopeo")!, arguments) }

let canRun = CLI.which("runc") != nil && getuid() == 0

@Suite(.blocking, .serialized, .enabled(if: TestRegistry.available)) struct RegistryInteropTests {
    @Test func pushPullAndRunThroughARegistry() throws {
        let registry = try TestRegistry("plain")
        let a = Client()
        let name = "\(registry.host)/demo/app:1"
        try a.importBusybox(name)

        let first = try a.strata(["push", name])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.lines.first == "The push refers to repository [\(registry.host)/demo/app]")
        #expect(first.lines.contains { $0.hasSuffix(": Preparing") } && first.lines.contains { $0.hasSuffix(": Pushed") })
        let digestLine = try #require(first.lines.last)
        #expect(digestLine.hasPrefix("1: digest: sha256:") && digestLine.contains(" size: "))

        // The store keeps the layer as a plain tar (import); it goes out gzip-compressed, as Docker's push does.
        if CLI.which("skopeo") != nil {
            let raw = try skopeo(["inspect", "--raw", "--tls-verify=false", "docker://\(name)"])
            #expect(raw.stdout.contains("application/vnd.oci.image.layer.v1.tar+gzip"), "\(raw.stdout)")
        }

        // Again: nothing is uploaded.
        let again = try a.strata(["push", name])
        #expect(again.lines.filter { $0.hasSuffix(": Layer already exists") }.count == 1, "\(again.stdout)")
        #expect(!again.stdout.contains("Pushed") && again.lines.last == digestLine)

        // Another repository of the same registry: the blob is mounted, not uploaded.
        #expect(try a.strata(["tag", name, "\(registry.host)/other/app:1"]).status == 0)
        let mount = try a.strata(["push", "\(registry.host)/other/app:1"])
        #expect(mount.lines.contains { $0.hasSuffix(": Mounted from demo/app") }, "\(mount.stdout)")

        // A fresh store pulls it, with the same layers, and records the digest.
        let b = Client()
        let pull = try b.strata(["pull", name])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(pull.lines.first == "1: Pulling from demo/app")
        #expect(pull.lines.contains { $0.hasSuffix(": Pull complete") })
        let digest = String(digestLine.split(separator: " ")[2])
        #expect(pull.lines.contains("Digest: \(digest)"))
        #expect(pull.lines.suffix(2) == ["Status: Downloaded newer image for \(name)", name])
        #expect(try b.layers(name) == a.layers(name))
        let images = try b.strata(["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"])
        #expect(images.lines == ["\(registry.host)/demo/app 1 \(digest)"])

        let upToDate = try b.strata(["pull", name])
        #expect(upToDate.lines == ["1: Pulling from demo/app", "Digest: \(digest)", "Status: Image is up to date for \(name)", name])
        #expect(try b.strata(["pull", "-q", "\(registry.host)/demo/app@\(digest)"]).stdout == "\(registry.host)/demo/app@\(digest)\n")

        if canRun {
            let run = try b.strata(["run", "--rm", name, "echo", "pulled and running"])
            #expect(run.stdout == "pulled and running\n", "\(run.stderr)")
            // `run` of an image that is not here pulls it first, its progress on stderr.
            let auto = try Client().strata(["run", "--rm", name, "echo", "auto-pulled"])
            #expect(auto.stdout == "auto-pulled\n", "\(auto.stderr)")
            #expect(auto.stderr.contains("Unable to find image '\(name)' locally") && auto.stderr.contains("Pull complete"))
        }
    }

    @Test func chunkedAndZstdPushesPullBackToTheSameLayers() throws {
        let registry = try TestRegistry("plain")
        let a = Client()
        try a.importBusybox("local/app:1")
        for (repo, flags) in [("chunked/app:1", ["--chunk-size", "65536"]), ("zstd/app:1", ["--compression-format", "zstd"])] {
            let name = "\(registry.host)/\(repo)"
            #expect(try a.strata(["tag", "local/app:1", name]).status == 0)
            let push = try a.strata(["push"] + flags + [name])
            #expect(push.status == 0, "\(push.stderr)")
            let b = Client()
            let pull = try b.strata(["pull", name])
            #expect(pull.status == 0, "\(pull.stderr)")
            #expect(try b.layers(name) == a.layers("local/app:1"))
        }
        if CLI.which("skopeo") != nil {
            let raw = try skopeo(["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/zstd/app:1"])
            #expect(raw.stdout.contains("application/vnd.oci.image.layer.v1.tar+zstd"), "\(raw.stdout)")
        }
    }

    @Test func pullAllTags() throws {
        let registry = try TestRegistry("plain")
        let a = Client()
        for tag in ["1", "2"] {
            let name = "\(registry.host)/tags/app:\(tag)"
            try a.importBusybox(name)
            #expect(try a.strata(["push", "-q", name]).status == 0)
        }
        let b = Client()
        let all = try b.strata(["pull", "-a", "\(registry.host)/tags/app"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.lines.filter { $0.hasPrefix("Status: ") }.count == 2)
        #expect(all.lines.last == "\(registry.host)/tags/app")
        let tags = try b.strata(["images", "--format", "{{.Tag}}"]).lines.sorted()
        #expect(tags == ["1", "2"])
        let both = try b.strata(["pull", "-a", "\(registry.host)/tags/app:1"])
        #expect(both.status != 0 && both.stderr.contains("tag can't be used with --all-tags/-a"))
    }

    @Test(.enabled(if: CLI.which("skopeo") != nil))
    func skopeoAndStrataReadEachOthersPushes() throws {
        let registry = try TestRegistry("plain")
        let a = Client()
        let name = "\(registry.host)/demo/app:1"
        try a.importBusybox(name)
        let push = try a.strata(["push", name])
        let digest = try #require(push.lines.last?.split(separator: " ").dropFirst(2).first.map(String.init))

        // skopeo reads what strata pushed: same manifest digest, same layers.
        let inspect = try skopeo(["inspect", "--tls-verify=false", "docker://\(name)"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [String: Any]
        #expect(object["Digest"] as? String == digest)
        let work = CLI.temporaryDirectory("work")
        let copy = try skopeo(["copy", "--src-tls-verify=false", "docker://\(name)", "oci:\(work)/layout:x"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let config = try skopeo(["inspect", "--config", "oci:\(work)/layout:x"]).stdout
        let diffIDs = ((try JSONSerialization.jsonObject(with: Data(config.utf8)) as! [String: Any])["rootfs"] as! [String: Any])["diff_ids"] as! [String]
        #expect(diffIDs == (try a.layers(name)))

        // strata pulls what skopeo pushed, and runs it.
        let theirs = "\(registry.host)/from/skopeo:2"
        let skopeoPush = try skopeo(["copy", "--dest-tls-verify=false", "oci:\(work)/layout:x", "docker://\(theirs)"])
        #expect(skopeoPush.status == 0, "\(skopeoPush.stderr)")
        let b = Client()
        let pull = try b.strata(["pull", theirs])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try b.layers(theirs) == a.layers(name))
        if canRun {
            #expect(try b.strata(["run", "--rm", theirs, "echo", "ok"]).stdout == "ok\n")
        }
    }

    @Test func failuresSayWhatIsWrongAndStoreNothing() throws {
        let registry = try TestRegistry("plain")
        let c = Client()
        let missing = try c.strata(["pull", "\(registry.host)/nosuch/img:1"])
        #expect(missing.status != 0)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr.contains("manifest for \(registry.host)/nosuch/img:1 not found: manifest unknown"), "\(missing.stderr)")
        #expect(try c.strata(["images", "-q"]).stdout.isEmpty)

        let unreachable = try c.strata(["pull", "127.0.0.1:1/nothing/here:1"])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("cannot reach registry 127.0.0.1:1"), "\(unreachable.stderr)")

        let noImage = try c.strata(["push", "\(registry.host)/not/local:1"])
        #expect(noImage.status != 0 && noImage.stderr.contains("An image does not exist locally with the tag"), "\(noImage.stderr)")

        let badPlatform = try c.strata(["pull", "--platform", "linux", "\(registry.host)/x/y:1"])
        #expect(badPlatform.status != 0 && badPlatform.stderr.contains("invalid platform"))
    }

    @Test func basicAuthLoginPushPullLogout() throws {
        let registry = try TestRegistry("basic")
        let c = Client()
        let name = "\(registry.host)/private/app:1"
        try c.importBusybox(name)

        let denied = try c.strata(["push", name])
        #expect(denied.status != 0 && denied.stderr.contains("denied"), "\(denied.stderr)")

        let wrong = try c.strata(["login", "-u", "strata", "--password-stdin", registry.host], stdin: Data("nope\n".utf8))
        #expect(wrong.status != 0 && wrong.stderr.contains("incorrect username or password"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(c.config)/config.json"))

        let login = try c.strata(["login", "-u", "strata", "--password-stdin", registry.host], stdin: Data("s3cret\n".utf8))
        #expect(login.status == 0 && login.stdout == "Login Succeeded\n", "\(login.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(c.config)/config.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: "\(c.config)/config.json", encoding: .utf8).contains(registry.host))

        #expect(try c.strata(["push", name]).status == 0)
        #expect(try c.strata(["rmi", name]).status == 0)
        let pull = try c.strata(["pull", name])
        #expect(pull.status == 0, "\(pull.stderr)")

        #expect(try c.strata(["logout", registry.host]).stdout == "Removing login credentials for \(registry.host)\n")
        #expect(try c.strata(["logout", registry.host]).stdout == "Not logged in to \(registry.host)\n")
        let anonymous = try Client().strata(["pull", name])
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains("pull access denied for \(registry.host)/private/app, repository does not exist or may require 'strata login'"),
                "\(anonymous.stderr)")
    }

    @Test func bearerTokensAreFetchedOncePerScope() throws {
        let registry = try TestRegistry("token")
        let c = Client()
        let name = "\(registry.host)/tokens/app:1"
        try c.importBusybox(name)
        #expect(try c.strata(["push", name]).status != 0, "anonymous tokens only pull")
        let login = try c.strata(["login", "-u", "strata", "-p", "s3cret", registry.host])
        #expect(login.status == 0, "\(login.stderr)")
        let before = registry.tokenRequests
        let push = try c.strata(["push", name])
        #expect(push.status == 0, "\(push.stderr)")
        // One token for the repository's push scope serves every request of the push.
        #expect(registry.tokenRequests - before == 1, "token requests: \(registry.tokenRequests - before)")

        // Anonymous pulls get a pull-only token, as on Docker Hub.
        let anonymous = Client()
        let pull = try anonymous.strata(["pull", name])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try anonymous.layers(name) == c.layers(name))
    }

    @Test func aCutDownloadResumesWithARangeRequest() throws {
        let registry = try TestRegistry("plain")
        let a = Client()
        try a.importBusybox("\(registry.host)/cut/app:1")
        #expect(try a.strata(["push", "\(registry.host)/cut/app:1"]).status == 0)

        let work = CLI.temporaryDirectory("proxy")
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        proxy.arguments = ["python3", "\(TestRegistry.scripts)/flaky-proxy.py", "\(work)/port", "\(registry.port)", "200000"]
        // Its output goes nowhere: an inherited stdout would keep the test runner's pipe open.
        proxy.standardOutput = FileHandle.nullDevice
        proxy.standardError = FileHandle.nullDevice
        try proxy.run()
        defer { kill(proxy.processIdentifier, SIGKILL) }
        var port: Int?
        for _ in 0..<100 where port == nil {
            port = (try? String(contentsOfFile: "\(work)/port", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if port == nil { usleep(50_000) }
        }
        let proxied = "127.0.0.1:\(try #require(port))/cut/app:1"
        let b = Client()
        let pull = try b.strata(["pull", proxied])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try b.layers(proxied) == a.layers("\(registry.host)/cut/app:1"))
        let log = (try? String(contentsOfFile: "\(work)/flaky-proxy.log", encoding: .utf8)) ?? ""
        // Resumed from what had arrived (at most the 200000 bytes the proxy let through), not from 0.
        let resumed = log.split(separator: "\n").first { $0.hasSuffix("- 206") && $0.contains(" bytes=") }
        let offset = resumed.flatMap { $0.split(separator: "=").last?.split(separator: "-").first }.flatMap { Int($0) }
        #expect(offset.map { $0 > 0 && $0 <= 200_000 } == true, "\(log)")
    }

    @Test(.enabled(if: CLI.which("skopeo") != nil))
    func aMultiPlatformIndexPullsTheRightPlatform() throws {
        let registry = try TestRegistry("plain")
        let a = Client()
        try a.importBusybox("multi/app:1")
        let layout = CLI.temporaryDirectory("multi") + "/layout"
        #expect(try a.strata(["save", "--format", "oci", "-o", layout + "/", "multi/app:1"]).status == 0)
        try MultiPlatformLayout.addArm64Variant(layout: layout, refName: "multi")
        let push = try skopeo(["copy", "--all", "--dest-tls-verify=false", "oci:\(layout):multi", "docker://\(registry.host)/multi/app:1"])
        #expect(push.status == 0, "\(push.stderr)")

        let name = "\(registry.host)/multi/app:1"
        let host = Client()
        #expect(try host.strata(["pull", name]).status == 0)
        #expect(try host.strata(["inspect", "--format", "{{.Architecture}}", name]).stdout == "amd64\n")
        let arm = Client()
        let pull = try arm.strata(["pull", "--platform", "linux/arm64", name])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try arm.strata(["inspect", "--format", "{{.Architecture}}", name]).stdout == "arm64\n")
        let none = try Client().strata(["pull", "--platform", "linux/s390x", name])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no matching manifest for linux/s390x") && none.stderr.contains("linux/arm64/v8"), "\(none.stderr)")
    }

    @Test(.enabled(if: CLI.which("skopeo") != nil))
    func copyMovesImagesBetweenEveryTransport() throws {
        let registry = try TestRegistry("plain")
        let c = Client()
        try c.importBusybox("copy/app:1")
        let work = CLI.temporaryDirectory("copy")
        let steps: [(String, String)] = [
            ("strata:copy/app:1", "oci:\(work)/layout:one"),
            ("oci:\(work)/layout:one", "docker://\(registry.host)/copied/app:1"),
            ("docker://\(registry.host)/copied/app:1", "oci-archive:\(work)/image.tar:two"),
            ("oci-archive:\(work)/image.tar:two", "docker-archive:\(work)/docker.tar:copied/app:3"),
            ("docker-archive:\(work)/docker.tar", "strata:back/app:4"),
        ]
        for (from, to) in steps {
            let r = try c.strata(["copy", "-q", from, to])
            #expect(r.status == 0, "copy \(from) \(to): \(r.stderr)")
        }
        #expect(try c.layers("back/app:4") == c.layers("copy/app:1"))
        for ref in ["oci:\(work)/layout:one", "oci-archive:\(work)/image.tar:two", "docker-archive:\(work)/docker.tar"] {
            let r = try skopeo(["inspect", "--config", ref])
            #expect(r.status == 0, "skopeo inspect \(ref): \(r.stderr)")
        }
        let other = Client()
        let load = try other.strata(["load", "-i", "\(work)/docker.tar"])
        #expect(load.stdout == "Loaded image: copied/app:3\n", "\(load.stderr)")
        let bad = try c.strata(["copy", "oci:\(work)/nothing", "strata:x:1"])
        #expect(bad.status != 0 && bad.stderr.contains("no index.json"))
    }
}

/// Turns a one-image OCI layout into a two-platform index: the same layers under a config that
/// says linux/arm64/v8 — enough for a registry and a client to choose between them.
enum MultiPlatformLayout {
    static func addArm64Variant(layout: String, refName: String) throws {
        func read(_ path: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        }
        func write(_ object: Any) throws -> [String: Any] {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            let digest = "sha256:" + sha256Hex(data)
            try data.write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(digest.dropFirst(7))"))
            return ["digest": digest, "size": data.count]
        }
        let index = try read("\(layout)/index.json")
        var amd = (index["manifests"] as! [[String: Any]])[0]
        let manifest = try read("\(layout)/blobs/sha256/\((amd["digest"] as! String).dropFirst(7))")
        var config = try read("\(layout)/blobs/sha256/\(((manifest["config"] as! [String: Any])["digest"] as! String).dropFirst(7))")
        config["architecture"] = "arm64"
        config["variant"] = "v8"
        let configBlob = try write(config)
        var armManifest = manifest
        armManifest["config"] = ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": configBlob["digest"]!, "size": configBlob["size"]!]
        let armBlob = try write(armManifest)
        amd["annotations"] = nil
        amd["platform"] = ["os": "linux", "architecture": "amd64"]
        let arm: [String: Any] = ["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": armBlob["digest"]!, "size": armBlob["size"]!,
                                  "platform": ["os": "linux", "architecture": "arm64", "variant": "v8"]]
        let indexBlob = try write(["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm]])
        let top: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": [["mediaType": "application/vnd.oci.image.index.v1+json", "digest": indexBlob["digest"]!,
                                                 "size": indexBlob["size"]!, "annotations": ["org.opencontainers.image.ref.name": refName]]]]
        try JSONSerialization.data(withJSONObject: top).write(to: URL(fileURLWithPath: "\(layout)/index.json"))
    }

    static func sha256Hex(_ data: Data) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try? p.run()
        input.fileHandleForWriting.write(data)
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(String(decoding: out, as: UTF8.self).prefix(64))
    }
}
