import Foundation
import RegistryTestSupport
import Testing

/// The library and the CLI over it: a program that uses only `StrataEngine`, and what every
/// front end must keep — a relative root, interrupts that leave nothing, logs without secrets.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct EngineFrontEndTests {
    let root = CLI.temporaryDirectory("store")

    func strata(_ args: [String], stdin: Data? = nil) throws -> CLI.Result {
        try CLI.strata(root, args, stdin: stdin)
    }

    func importBusybox(_ name: String = "box:1") throws {
        let r = try strata(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), name])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// What a killed or interrupted command must never leave: blobs, ingests, unpacks, work files.
    func leftovers(_ store: String) -> [String] {
        let fm = FileManager.default
        let ingests = (try? fm.contentsOfDirectory(atPath: "\(store)/ingest")) ?? []
        let temps = (try? fm.contentsOfDirectory(atPath: "\(store)/tmp")) ?? []
        let unpacks = ((try? fm.subpathsOfDirectory(atPath: "\(store)/snapshots")) ?? []).filter { $0.contains("tmp-") }
        return ingests.map { "ingest/\($0)" } + temps.map { "tmp/\($0)" } + unpacks
    }

    @Test func theExampleProgramLoadsRunsAndPrintsWithOnlyTheLibrary() throws {
        try importBusybox()
        let archive = CLI.temporaryDirectory("archive") + "/box.tar"
        #expect(try strata(["save", "-o", archive, "box:1"]).status == 0)
        let example = CLI.binary.replacingOccurrences(of: "/strata", with: "/engine-example")
        let fresh = CLI.temporaryDirectory("example-store")
        let r = try CLI.run(example, ["--root", fresh, "--image", "box:1", "--load", archive, "--", "sh", "-c", "echo hi from $(hostname | wc -c) && exit 3"])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stdout.contains("loaded ") && r.stdout.contains("output: hi from 13\n") && r.stdout.contains("exit status: 3\n"), "\(r.stdout)")
        // The container went with its run (autoRemove).
        #expect(try CLI.strata(fresh, ["ps", "-a", "-q"]).stdout.isEmpty)
    }

    /// Mounts and runc change the working directory: a relative --root must mean the same store throughout.
    @Test func aRelativeRootWorksForEveryCommand() throws {
        let cwd = CLI.temporaryDirectory("cwd")
        func relative(_ args: [String]) throws -> CLI.Result {
            try CLI.run(CLI.binary, ["--root", "stores/../store"] + args, directory: cwd)
        }
        #expect(try relative(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "box:rel"]).status == 0)
        let run = try relative(["run", "--rm", "box:rel", "cat", "/etc/motd"])
        #expect(run.status == 0 && run.stdout == "hello from strata\n", "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(cwd)/store/metadata.db"))
        let inspect = try relative(["inspect", "--format", "{{.GraphDriver.Data}}", "box:rel"])
        #expect(inspect.stdout.contains("\(cwd)/store/snapshots/"), "\(inspect.stdout)")
    }

    @Test func ctrlCDuringALoadLeavesNothingBehind() throws {
        try importBusybox()
        let archive = CLI.temporaryDirectory("archive") + "/box.tar"
        #expect(try strata(["save", "-o", archive, "box:1"]).status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        let fresh = CLI.temporaryDirectory("interrupted")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["--root", fresh, "load"]
        let input = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        // Half the archive, then nothing: the load is mid-blob when the signal comes.
        input.fileHandleForWriting.write(bytes.prefix(bytes.count / 2))
        usleep(500_000)
        let started = Date()
        p.interrupt()
        p.waitUntilExit()
        #expect(Date().timeIntervalSince(started) < 6)
        #expect(p.terminationStatus == 130)
        #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("interrupted"))
        try? input.fileHandleForWriting.close()
        #expect(leftovers(fresh) == [])
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(fresh)/blobs/sha256")) ?? []).isEmpty)
        #expect(try CLI.strata(fresh, ["images", "-q"]).stdout.isEmpty)
    }

    @Test func sigtermDuringABuildEndsItsRunStepAndKeepsNoImage() throws {
        try importBusybox()
        let context = CLI.temporaryDirectory("context")
        try "FROM box:1\nRUN echo started; sleep 60\nCMD [\"true\"]\n".write(toFile: "\(context)/Dockerfile", atomically: true, encoding: .utf8)
        let imagesBefore = try strata(["images", "-a", "-q", "--no-trunc"]).lines
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["--root", root, "build", "-t", "never:1", context]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var seen = ""
        while !seen.contains("started") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        let started = Date()
        p.terminate()
        p.waitUntilExit()
        #expect(Date().timeIntervalSince(started) < 6, "the RUN step was not ended")
        #expect(p.terminationStatus == 143)
        #expect(try strata(["ps", "-a", "-q"]).stdout.isEmpty)
        #expect(try strata(["images", "-a", "-q", "--no-trunc"]).lines == imagesBefore)
        #expect(leftovers(root) == [])
    }

    @Test func debugLogsShowTheRuntimeButNeverAPassword() throws {
        try importBusybox()
        let run = try strata(["--debug", "run", "--rm", "box:1", "true"])
        #expect(run.status == 0)
        #expect(run.stderr.contains("spawn ") && run.stderr.contains("runc --root \(root)/runtime run --bundle"), "\(run.stderr)")
        let login = try CLI.run(CLI.binary, ["--debug", "login", "-u", "someone", "--password-stdin", "127.0.0.1:1"],
                                environment: ["DOCKER_CONFIG": CLI.temporaryDirectory("docker-config")], stdin: Data("hunter2-secret\n".utf8))
        #expect(login.status != 0)
        #expect(!login.stderr.contains("hunter2-secret") && !login.stdout.contains("hunter2-secret"))
        let quiet = try CLI.run(CLI.binary, ["--root", root, "images"], environment: ["STRATA_LOG": "debug"])
        #expect(quiet.status == 0)
        let bad = try strata(["--log-level", "loud", "images"])
        #expect(bad.status != 0 && bad.stderr.contains("invalid log level \"loud\""))
    }

    /// When the runtime fails, its own words reach the user (attached, and through a detached start).
    @Test func theRuntimesStderrReachesTheUser() throws {
        try importBusybox()
        let fake = CLI.temporaryDirectory("runtime") + "/fake-runc"
        try """
            #!/bin/sh
            for a in "$@"; do [ "$a" = run ] && { echo "fake-runc: container_linux.go:380: starting container process caused: boom" >&2; exit 1; }; done
            exit 0
            """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let attached = try strata(["--runtime", fake, "run", "--rm", "box:1", "true"])
        #expect(attached.status != 0 && attached.stderr.contains("starting container process caused: boom"), "\(attached.stderr)")
        // Detached, the runtime's stderr is the container's: `logs` shows it once it has exited.
        let id = try strata(["--runtime", fake, "run", "-d", "box:1", "true"]).stdout.trimmingCharacters(in: .newlines)
        var listed = ""
        for _ in 0..<50 where !listed.contains("Exited (1)") {
            usleep(100_000)
            listed = try strata(["ps", "-a"]).stdout
        }
        #expect(listed.contains("Exited (1)"))
        #expect(try strata(["logs", id]).stderr.contains("starting container process caused: boom"))
    }

    @Test func copyProgressAsJSONLinesIsDockersAPIShape() throws {
        try importBusybox()
        let layout = CLI.temporaryDirectory("layout")
        let r = try strata(["copy", "--progress", "json", "strata:box:1", "oci:\(layout):box"])
        #expect(r.status == 0, "\(r.stderr)")
        let messages = r.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(messages.count == r.lines.count && messages.allSatisfy { $0["status"] is String })
        #expect(messages.contains { $0["status"] as? String == "Copied" && $0["id"] is String })
    }

    @Test func imageDiffShowsWhatACommitChanged() throws {
        try importBusybox()
        #expect(try strata(["run", "--name", "changer", "box:1", "sh", "-c", "echo new > /etc/new; rm /etc/motd"]).status == 0)
        #expect(try strata(["commit", "changer", "box:2"]).status == 0)
        let text = try strata(["image", "diff", "box:1", "box:2"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("Shared: 1 layer"), "\(text.stdout)")
        #expect(text.lines.contains("A /etc/new  4B") && text.lines.contains("D /etc/motd  18B"), "\(text.stdout)")
        let json = try strata(["image", "diff", "--format", "json", "box:1", "box:2"])
        let object = try JSONSerialization.jsonObject(with: json.data) as? [String: Any]
        #expect((object?["SharedLayers"] as? [Any])?.count == 1 && (object?["SecondOnlyLayers"] as? [Any])?.count == 1)
        #expect(try strata(["image", "diff", "box:1", "nosuch"]).status != 0)
    }

    @Test func workFilesOfDeadProcessesAreSweptAndLiveOnesKept() throws {
        try importBusybox()
        let tmp = "\(root)/tmp"
        try FileManager.default.createDirectory(atPath: "\(tmp)/999999-build-download-1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(tmp)/build-old-style", withIntermediateDirectories: true)
        let live = "\(tmp)/\(getpid())-build-bind-1"
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        #expect(try strata(["images"]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp) == ["\(getpid())-build-bind-1"])
        try FileManager.default.removeItem(atPath: live)
    }
}
