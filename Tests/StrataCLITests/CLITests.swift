import Foundation
import RegistryTestSupport
import Testing

/// The `strata` binary end to end: Docker's output shapes, exit codes, and the store after errors.
@Suite(.blocking, .serialized) struct CLITests {
    let root = CLI.temporaryDirectory("store")

    func importBusybox(_ name: String = "demo/busybox:latest", _ extra: [String] = []) throws -> String {
        let r = try CLI.strata(root, ["import", "-c", "CMD [\"/bin/sh\"]", "-m", "test image"] + extra + [try CLI.busyboxRootfs(), name])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func imagesHistoryAndInspectHaveDockersShape() throws {
        let id = try importBusybox()
        #expect(id.hasPrefix("sha256:") && id.count == 71)
        try CLI.strata(root, ["tag", "demo/busybox", "mine:1.0"])

        let images = try CLI.strata(root, ["images"])
        #expect(CLI.columns(images.lines[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"])
        #expect(images.lines[0].hasPrefix("REPOSITORY     TAG       IMAGE ID       CREATED"))
        #expect(images.lines.count == 3)
        #expect(images.lines.dropFirst().allSatisfy { $0.contains(String(id.dropFirst(7).prefix(12))) })
        #expect(images.lines[1].hasPrefix("demo/busybox   latest    "))

        let digests = try CLI.strata(root, ["images", "--digests"])
        #expect(CLI.columns(digests.lines[0]) == ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"])
        #expect(digests.lines[1].contains("<none>"))
        #expect(try CLI.strata(root, ["images", "--no-trunc"]).stdout.contains(id))
        // One ID per row, like Docker: two tags, two lines.
        #expect(try CLI.strata(root, ["images", "-q"]).lines == Array(repeating: String(id.dropFirst(7).prefix(12)), count: 2))

        let json = try CLI.strata(root, ["images", "--format", "json"])
        for line in json.lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(Set(object.keys) == ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
                                         "Size", "Tag", "UniqueSize", "VirtualSize"])
        }
        #expect(json.stdout.contains(#""Digest":"\u003cnone\u003e""#))
        #expect(try CLI.strata(root, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).lines == ["demo/busybox:latest", "mine:1.0"])

        let history = try CLI.strata(root, ["history", "mine:1.0"])
        #expect(CLI.columns(history.lines[0]) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"])
        #expect(history.lines[1].hasSuffix("test image"))
        // -H is the default. CREATED is relative and may tick over between the two calls: left out.
        let withoutCreated = { (lines: [String]) in lines.map { line -> [String] in var c = CLI.columns(line); c.remove(at: 1); return c } }
        #expect(withoutCreated(try CLI.strata(root, ["history", "-H", "mine:1.0"]).lines) == withoutCreated(history.lines))
        let raw = try CLI.strata(root, ["history", "-H=false", "mine:1.0"])
        #expect(CLI.columns(raw.lines[0]) == ["IMAGE", "CREATED AT", "CREATED BY", "SIZE", "COMMENT"])
        #expect(raw.lines[1].range(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d+\s"#, options: .regularExpression) != nil)

        let inspect = try CLI.strata(root, ["inspect", "mine:1.0"])
        let keys = inspect.stdout.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("        \""), !line.hasPrefix("         ") else { return nil }
            return String(line.dropFirst(9).prefix { $0 != "\"" })
        }
        // docker image inspect's keys, in its order (reference/docker-20.10/inspect.json).
        #expect(keys == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig",
                         "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "GraphDriver",
                         "RootFS", "Metadata"])
        let parsed = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [[String: Any]]
        #expect(parsed[0]["Id"] as? String == id)
        #expect((parsed[0]["RepoTags"] as? [String]) == ["demo/busybox:latest", "mine:1.0"])
        #expect(((parsed[0]["Config"] as? [String: Any])?["Cmd"] as? [String]) == ["/bin/sh"])

        let format = try CLI.strata(root, ["inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}", "mine:1.0"])
        #expect(format.stdout.range(of: #"^sha256:[0-9a-f]{64} \["sha256:[0-9a-f]{64}"\]\n$"#, options: .regularExpression) != nil)
        #expect(try CLI.strata(root, ["image", "inspect", "-f", "{{.Config.Cmd}}", id]).stdout == "[/bin/sh]\n")
        #expect(try CLI.strata(root, ["inspect", "-f", "{{.Comment}}", id]).stdout == "test image\n")
    }

    @Test func errorsExitNonZeroWithDockersWords() throws {
        let rmi = try CLI.strata(root, ["rmi", "nosuch:img"])
        #expect(rmi.status == 1)
        #expect(rmi.stderr == "Error: No such image: nosuch:img\n")
        let bad = try CLI.strata(root, ["tag", "x", "UPPER/case"])
        #expect(bad.status != 0 && bad.stderr.contains("Error:"))
        let inspect = try CLI.strata(root, ["inspect", "nosuch"])
        #expect(inspect.status == 1 && inspect.stdout == "[]\n" && inspect.stderr.contains("No such object: nosuch"), "\(inspect.stderr)")
        #expect(try CLI.strata(root, ["image", "inspect", "nosuch"]).stderr.contains("No such image: nosuch"))
        let tmp = CLI.temporaryDirectory()
        try Data("not a tar, not gzip, not zstd: just some words".utf8).write(to: URL(fileURLWithPath: "\(tmp)/x.tar"))
        let load = try CLI.strata(root, ["load", "-i", "\(tmp)/x.tar"])
        #expect(load.status == 1 && load.stderr.contains("not a tar archive"))
        let imp = try CLI.strata(root, ["import", "\(tmp)/x.tar"])
        #expect(imp.status == 1 && imp.stderr.contains("not a tar archive"))
        #expect(try CLI.strata(root, ["images", "-q"]).stdout.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/blobs/sha256").isEmpty)
    }

    @Test func rmiAndPruneSpeakLikeDocker() throws {
        let id = try importBusybox("a:1")
        try CLI.strata(root, ["tag", "a:1", "a:2"])
        #expect(try CLI.strata(root, ["rmi", "a:1"]).stdout == "Untagged: a:1\n")
        let last = try CLI.strata(root, ["rmi", "a:2"]).lines
        #expect(last.first == "Untagged: a:2")
        #expect(last.contains("Deleted: \(id)"))
        #expect(try CLI.strata(root, ["image", "prune", "-f"]).stdout == "Total reclaimed space: 0B\n")
        _ = try importBusybox("b:1")
        let df = try CLI.strata(root, ["system", "df"])
        #expect(CLI.columns(df.lines[0]) == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"])
        #expect(df.lines[1].hasPrefix("Images ") && df.lines[1].hasSuffix("(100%)"))
        let dfv = try CLI.strata(root, ["system", "df", "-v"])
        #expect(dfv.stdout.hasPrefix("Images space usage:\n\nREPOSITORY"))
        let prune = try CLI.strata(root, ["image", "prune", "-a", "-f"])
        #expect(prune.stdout.hasPrefix("Deleted Images:\nuntagged: b:1\ndeleted: sha256:"))
        #expect(prune.lines.last?.range(of: #"^Total reclaimed space: [1-9][0-9.]*MB$"#, options: .regularExpression) != nil,
                "\(prune.stdout)")
    }

    @Test func saveAndLoadThroughPipes() throws {
        _ = try importBusybox("pipe/me:1")
        let saved = try CLI.strata(root, ["save", "pipe/me:1"])
        #expect(saved.status == 0 && saved.data.count > 1_000_000)
        let other = CLI.temporaryDirectory("store2")
        let loaded = try CLI.strata(other, ["load"], stdin: saved.data)
        #expect(loaded.stdout == "Loaded image: pipe/me:1\n", "\(loaded.stderr)")
        #expect(try CLI.strata(other, ["images", "-q"]).stdout == CLI.strata(root, ["images", "-q"]).stdout)
    }

    /// `--debug` and `STRATA_TRACE=1` end with where the time went, stage by stage, on stderr:
    /// stdout is the command's own output, unchanged.
    @Test func theTraceSaysWhereTheTimeWent() throws {
        _ = try importBusybox("trace/me:1")
        let saved = try CLI.strata(root, ["save", "trace/me:1"])
        let other = CLI.temporaryDirectory("store-trace")
        let loaded = try CLI.run(CLI.binary, ["--root", other, "load"], environment: ["STRATA_TRACE": "1"], stdin: saved.data)
        #expect(loaded.stdout == "Loaded image: trace/me:1\n", "\(loaded.stderr)")
        let stages = loaded.stderr.split(separator: "\n").drop { !$0.hasPrefix("trace: strata load in ") }.dropFirst(2)
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(Set(stages).isSuperset(of: ["open", "hash", "write", "fsync", "commit"]), "\(loaded.stderr)")
        // Off by default; --debug turns it on, and names no argument (one may be a password).
        #expect(!(try CLI.strata(other, ["images"])).stderr.contains("trace:"))
        let debug = try CLI.strata(other, ["images", "--debug"])
        #expect(debug.stderr.contains("trace: strata images in "), "\(debug.stderr)")
        guard getuid() == 0, CLI.which("runc") != nil else { return }
        let run = try CLI.run(CLI.binary, ["--root", other, "run", "--rm", "trace/me:1", "true"], environment: ["STRATA_TRACE": "1"])
        #expect(run.status == 0, "\(run.stderr)")
        for stage in ["create", "mount", "bundle", "runtime", "wait", "unmount", "record", "remove"] {
            #expect(run.stderr.contains("\n  \(stage) "), "no \(stage) in \(run.stderr)")
        }
    }

    /// Each command closes the store as it exits, so the last connection checkpoints and empties
    /// the WAL: the next process opens it with nothing to replay, however many commands came before.
    @Test(arguments: [
        ["tag", "wal/me:1", "wal/me:2"], ["images"], ["inspect", "wal/me:1"], ["history", "wal/me:1"],
        ["save", "-o", NSTemporaryDirectory() + "strata-wal-\(UUID().uuidString).tar", "wal/me:1"], ["rmi", "wal/me:2"], ["image", "prune", "-f"], ["system", "df"],
    ])
    func everyCommandLeavesTheWALEmpty(_ command: [String]) throws {
        let store = CLI.temporaryDirectory("store-wal")
        #expect(try CLI.strata(store, ["import", try CLI.busyboxRootfs(), "wal/me:1"]).status == 0)
        #expect(try walSize(store) == 0, "after import")
        if command.first == "rmi" { _ = try CLI.strata(store, ["tag", "wal/me:1", "wal/me:2"]) }
        let result = try CLI.strata(store, command)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try walSize(store) == 0, "after \(command.joined(separator: " "))")
    }

    func walSize(_ store: String) throws -> Int {
        let path = store + "/metadata.db-wal"
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        return try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? -1
    }

    /// `save -o` to a FIFO (or /dev/null) writes through it: a finished file renamed over it
    /// would replace the device.
    @Test func saveWritesIntoAPipeItIsGiven() throws {
        _ = try importBusybox("fifo/me:1")
        let fifo = CLI.temporaryDirectory("fifo") + "/archive"
        #expect(mkfifo(fifo, 0o600) == 0)
        nonisolated(unsafe) var received = Data()
        // FileHandle reads a FIFO to its end (FileManager would read its size: 0 bytes).
        let reader = Thread { received = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data() }
        reader.start()
        let saved = try CLI.strata(root, ["save", "-o", fifo, "fifo/me:1"])
        #expect(saved.status == 0, "\(saved.stderr)")
        while !reader.isFinished { usleep(10_000) }
        var status = stat()
        #expect(stat(fifo, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO, "the FIFO was replaced")
        #expect(received.count > 1024 && received.count % 512 == 0)
        let other = CLI.temporaryDirectory("store-fifo")
        #expect(try CLI.run(CLI.binary, ["--root", other, "load"], stdin: received).stdout == "Loaded image: fifo/me:1\n")
    }

    @Test func loadSaysWhenItTakesANameFromAnotherImage() throws {
        let first = try importBusybox("app:1")
        let file = CLI.temporaryDirectory() + "/app.tar"
        #expect(try CLI.strata(root, ["save", "-o", file, "app:1"]).status == 0)
        _ = try importBusybox("app:1", ["-c", "ENV X=2"])
        let load = try CLI.strata(root, ["load", "-i", file])
        #expect(load.lines.first?.hasPrefix("The image app:1 already exists, renaming the old one with ID sha256:") == true)
        #expect(load.lines.last == "Loaded image: app:1")
        #expect(try CLI.strata(root, ["inspect", "-f", "{{.Id}}", "app:1"]).stdout == first + "\n")
    }

    /// Several strata processes at once on one store: all succeed, and the store stays whole.
    @Test func concurrentProcessesKeepTheStoreConsistent() throws {
        _ = try importBusybox("base:1")
        let rootfs = try CLI.busyboxRootfs()
        let group = DispatchGroup()
        nonisolated(unsafe) var statuses: [Int32] = Array(repeating: -1, count: 6)
        let lock = NSLock()
        for i in 0..<6 {
            group.enter()
            Thread {
                let args: [String] = i == 5 ? ["rmi", "base:1"] : ["import", "-c", "ENV N=\(i)", rootfs, "many:\(i)"]
                let status = (try? CLI.strata(root, args).status) ?? -2
                lock.lock(); statuses[i] = status; lock.unlock()
                group.leave()
            }.start()
        }
        group.wait()
        #expect(statuses.allSatisfy { $0 == 0 }, "\(statuses)")
        let names = try CLI.strata(root, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).lines.sorted()
        #expect(names == (0..<5).map { "many:\($0)" })
        try verifyBlobs()
    }

    /// `kill -9` in the middle of a load: the store is exactly as before, and works.
    @Test func killNineDuringLoadLeavesTheStoreWhole() throws {
        _ = try importBusybox("keep:1")
        let big = CLI.temporaryDirectory("big")
        for i in 0..<8 {
            let random = FileHandle(forReadingAtPath: "/dev/urandom")!
            try random.readData(ofLength: 8_000_000).write(to: URL(fileURLWithPath: "\(big)/f\(i)"))
        }
        let src = CLI.temporaryDirectory("src")
        #expect(try CLI.strata(src, ["import", big, "big:1"]).status == 0)
        let archive = CLI.temporaryDirectory() + "/big.tar"
        #expect(try CLI.strata(src, ["save", "-o", archive, "big:1"]).status == 0)
        let before = try CLI.strata(root, ["images", "-q", "--no-trunc"]).stdout
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["--root", root, "load", "-i", archive]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(150_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // Killed before the records were written: as before; killed after: the whole image.
        let after = try CLI.strata(root, ["images", "-q", "--no-trunc"]).stdout
        if after != before { #expect(try CLI.strata(root, ["inspect", "big:1"]).status == 0) }
        try verifyBlobs()
        // And the next process finishes the job.
        #expect(try CLI.strata(root, ["load", "-i", archive]).stdout == "Loaded image: big:1\n")
        _ = try CLI.strata(root, ["image", "prune", "-f"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/ingest").isEmpty)
        try verifyBlobs()
    }

    /// Every blob's content hashes to its name: nothing half-written is visible.
    func verifyBlobs() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: "\(root)/blobs/sha256") {
            let r = try CLI.run("/usr/bin/sha256sum", ["\(root)/blobs/sha256/\(name)"])
            #expect(r.stdout.hasPrefix(name), "blob \(name) does not match its content")
        }
    }
}
