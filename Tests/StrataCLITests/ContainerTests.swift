import Foundation
import RegistryTestSupport
import Testing

/// Containers end to end through the real runtime (runc), for each storage driver this host has.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct ContainerTests {
    static var drivers: [String] {
        // Overlay needs a kernel that mounts it here; copy works everywhere.
        let probe = CLI.temporaryDirectory("probe")
        for d in ["l", "u", "w", "m"] { try? FileManager.default.createDirectory(atPath: "\(probe)/\(d)", withIntermediateDirectories: true) }
        let ok = mount("overlay", "\(probe)/m", "overlay", 0, "lowerdir=\(probe)/l,upperdir=\(probe)/u,workdir=\(probe)/w") == 0
        if ok { umount2("\(probe)/m", Int32(MNT_DETACH)) }
        return ok ? ["overlay", "copy"] : ["copy"]
    }

    let root = CLI.temporaryDirectory("store")

    func strata(_ driver: String, _ args: [String], stdin: Data? = nil) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["--root", root, "--storage-driver", driver] + args, stdin: stdin)
    }

    func image(_ driver: String) throws {
        let r = try strata(driver, ["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "box:1"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    func blobsAndSnapshots() throws -> [String] {
        let fm = FileManager.default
        return try fm.contentsOfDirectory(atPath: "\(root)/blobs/sha256").sorted()
            + (fm.subpathsOfDirectory(atPath: "\(root)/snapshots")).filter { !$0.hasPrefix("probe") }.sorted()
    }

    @Test(arguments: drivers)
    func runShowsOutputAndExitCode(_ driver: String) throws {
        try image(driver)
        let ok = try strata(driver, ["run", "--rm", "box:1", "echo", "hello"])
        #expect(ok.status == 0 && ok.stdout == "hello\n", "\(ok.stderr)")
        let fail = try strata(driver, ["run", "--name", "fails", "box:1", "sh", "-c", "echo out; echo err >&2; exit 7"])
        #expect(fail.status == 7 && fail.stdout == "out\n" && fail.stderr == "err\n")
        let logs = try strata(driver, ["logs", "fails"])
        #expect(logs.stdout == "out\n" && logs.stderr == "err\n")
        let ps = try strata(driver, ["ps", "-a"])
        #expect(CLI.columns(ps.lines[0]) == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"])
        try #require(ps.lines.count == 2)
        #expect(ps.lines[1].contains("\"sh -c 'echo out; ec…\"") && ps.lines[1].contains("Exited (7) ") && ps.lines[1].hasSuffix(" fails"))
        #expect(try strata(driver, ["ps"]).lines.count == 1)
    }

    /// The model: each container has its own RW layer; writes are seen neither by another container
    /// nor by the image; rm removes only that layer.
    @Test(arguments: drivers)
    func containersAreIsolatedCopyOnWriteLayers(_ driver: String) throws {
        try image(driver)
        #expect(try strata(driver, ["create", "--name", "ca", "box:1", "sh", "-c", "echo mine > /etc/motd; cat /etc/motd"]).status == 0)
        #expect(try strata(driver, ["create", "--name", "cb", "box:1", "cat", "/etc/motd"]).status == 0)
        let before = try blobsAndSnapshots()
        #expect(try strata(driver, ["start", "-a", "ca"]).stdout == "mine\n")
        #expect(try strata(driver, ["start", "-a", "cb"]).stdout == "hello from strata\n")
        #expect(try strata(driver, ["run", "--rm", "box:1", "cat", "/etc/motd"]).stdout == "hello from strata\n")
        #expect(try strata(driver, ["rm", "ca"]).stdout == "ca\n")
        #expect(try blobsAndSnapshots() == before)
        #expect(try strata(driver, ["start", "-a", "cb"]).stdout == "hello from strata\n")
        #expect(try strata(driver, ["ps", "-a", "-q"]).lines.count == 1)
    }

    /// run → diff → commit → run of the committed image.
    @Test(arguments: drivers)
    func diffAndCommitRoundTrip(_ driver: String) throws {
        try image(driver)
        let run = try strata(driver, ["run", "--name", "c1", "box:1", "sh", "-c", "echo one > /etc/motd; rm /bin/ls; mkdir /newdir; echo x > /newdir/f"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try strata(driver, ["diff", "c1"]).lines == ["C /bin", "D /bin/ls", "C /etc", "C /etc/motd", "A /newdir", "A /newdir/f"])
        let commit = try strata(driver, ["commit", "-m", "added motd", "-c", "CMD [\"cat\", \"/etc/motd\"]", "c1", "box:2"])
        #expect(commit.status == 0 && commit.stdout.hasPrefix("sha256:"), "\(commit.stderr)")
        #expect(try strata(driver, ["run", "--rm", "box:2"]).stdout == "one\n")
        let ls = try strata(driver, ["run", "--rm", "box:2", "sh", "-c", "test -e /bin/ls || echo gone; cat /newdir/f"])
        #expect(ls.stdout == "gone\nx\n")
        let history = try strata(driver, ["history", "box:2"])
        try #require(history.lines.count == 3)
        #expect(history.lines[1].contains("sh -c 'echo one > /etc/motd; rm /bin/ls; mkd…") && history.lines[1].hasSuffix("added motd"))
        #expect(try strata(driver, ["inspect", "-f", "{{len .RootFS.Layers}} {{.Parent}}", "box:2"]).stdout.hasPrefix("2 sha256:"))
        // The image a container uses cannot go without force.
        let rmi = try strata(driver, ["rmi", "box:1"])
        #expect(rmi.status != 0 && rmi.stderr.contains("container") && rmi.stderr.contains("must force"))
    }

    @Test(arguments: drivers)
    func runOptions(_ driver: String) throws {
        try image(driver)
        let r = try strata(driver, ["run", "--rm", "-e", "GREETING=hi", "-w", "/etc", "-u", "1000:1000", "--hostname", "boxhost",
                                    "box:1", "sh", "-c", "echo $GREETING $(pwd) $(id -u):$(id -g) $(hostname)"])
        #expect(r.stdout == "hi /etc 1000:1000 boxhost\n", "\(r.stderr)")
        let entry = try strata(driver, ["run", "--rm", "--entrypoint", "/bin/echo", "box:1", "from", "entrypoint"])
        #expect(entry.stdout == "from entrypoint\n")
        let none = try strata(driver, ["run", "--rm", "--network", "none", "box:1", "ls", "/sys/class/net"])
        #expect(none.stdout == "lo\n", "\(none.stderr)")
        let root = try strata(driver, ["run", "--rm", "-u", "root", "box:1", "id", "-u"])
        #expect(root.stdout == "0\n")
    }

    @Test(arguments: drivers)
    func badInputIsRefusedAndLeavesNothing(_ driver: String) throws {
        try image(driver)
        let missing = try strata(driver, ["run", "--rm", "box:1", "nosuchcommand"])
        #expect(missing.status == 127 && missing.stderr.contains("executable file not found in $PATH"))
        let detached = try strata(driver, ["run", "-d", "box:1", "nosuchcommand"])
        #expect(detached.status == 127 && detached.stderr.contains("executable file not found in $PATH"))
        _ = try strata(driver, ["rm", "-f", String(try strata(driver, ["ps", "-a", "-q", "--no-trunc"]).lines.first ?? "x")])
        let user = try strata(driver, ["run", "--rm", "-u", "nobody-here", "box:1", "true"])
        #expect(user.status != 0 && user.stderr.contains("unable to find user nobody-here"))
        #expect(try strata(driver, ["create", "--name", "dup", "box:1", "true"]).status == 0)
        let dup = try strata(driver, ["create", "--name", "dup", "box:1", "true"])
        #expect(dup.status != 0 && dup.stderr.contains("is already in use by container"))
        let noRuntime = try CLI.run(CLI.binary, ["--root", root, "--runtime", "/nonexistent/runc", "run", "--rm", "box:1", "true"])
        #expect(noRuntime.status != 0 && noRuntime.stderr.contains("no OCI runtime found"))
        let noImage = try strata(driver, ["run", "--pull", "never", "nosuch:image"])
        #expect(noImage.status == 125 && noImage.stderr.contains("No such image: nosuch:image"))
        // By default a missing image is looked for in its registry (unreachable here, or absent there).
        let pulled = try strata(driver, ["run", "nosuch:image"])
        #expect(pulled.status == 125 && pulled.stderr.contains("Unable to find image 'nosuch:image' locally"), "\(pulled.stderr)")
        #expect(try strata(driver, ["rm", "nosuch"]).stderr.contains("No such container: nosuch"))
        // Only the one container that was made on purpose is left, with no stray directories.
        #expect(try strata(driver, ["ps", "-a", "-q"]).lines.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/containers").count == 1)
        #expect(!(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)).contains(root + "/containers"))
    }

    @Test(arguments: drivers)
    func detachedContainersStopAndRemove(_ driver: String) throws {
        try image(driver)
        let id = try strata(driver, ["run", "-d", "--name", "bg", "box:1", "sh", "-c", "echo started; exec sleep 60"])
        #expect(id.status == 0 && id.stdout.count == 65, "\(id.stderr)")
        usleep(300_000)
        let monitorLog = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/containers"))?.compactMap {
            try? String(contentsOfFile: "\(root)/containers/\($0)/monitor.log", encoding: .utf8)
        }.joined() ?? ""
        #expect(try strata(driver, ["ps"]).lines.count == 2, "\(monitorLog)")
        #expect(try strata(driver, ["logs", "bg"]).stdout == "started\n")
        // A running container is paused while it is committed, then goes on.
        let live = try strata(driver, ["commit", "bg", "box:live"])
        #expect(live.status == 0, "\(live.stderr)")
        #expect(try strata(driver, ["ps"]).lines.count == 2)
        #expect(try strata(driver, ["start", "bg"]).status == 0)  // already running: nothing to do
        let rm = try strata(driver, ["rm", "bg"])
        #expect(rm.status != 0 && rm.stderr.contains("cannot remove a running container"))
        // Several at once, as docker: a missing one is reported, the others are still stopped.
        let stop = try strata(driver, ["stop", "-t", "1", "nosuch", "bg"])
        #expect(stop.stdout == "bg\n" && stop.status == 1 && stop.stderr.contains("No such container: nosuch"))
        let stopped = try strata(driver, ["ps", "-a"]).lines
        try #require(stopped.count == 2)
        #expect(stopped[1].contains("Exited (1"))
        #expect(try strata(driver, ["rm", "bg"]).status == 0)
        // Removed while running, with force.
        _ = try strata(driver, ["run", "-d", "--name", "bg2", "box:1", "sleep", "60"])
        #expect(try strata(driver, ["rm", "-f", "bg2"]).status == 0)
        #expect(try strata(driver, ["ps", "-a", "-q"]).stdout.isEmpty)
        #expect(!(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)).contains(root + "/containers"))
    }

    @Test(arguments: drivers)
    func exportWritesTheWholeFilesystem(_ driver: String) throws {
        try image(driver)
        _ = try strata(driver, ["run", "--name", "ex", "box:1", "sh", "-c", "echo new > /new"])
        let file = CLI.temporaryDirectory() + "/e.tar"
        #expect(try strata(driver, ["export", "-o", file, "ex"]).status == 0)
        let list = try CLI.run("/bin/tar", ["-tf", file]).lines
        #expect(list.contains("new") && list.contains("bin/busybox") && list.contains("etc/motd"))
    }
}
