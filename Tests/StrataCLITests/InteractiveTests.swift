import Foundation
import RegistryTestSupport
import Testing

/// What a user does with a container after `pull`: stdin, a terminal, `exec`, and the files
/// every container has (/etc/hosts on every network, /etc/mtab).
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct InteractiveTests {
    let root = CLI.temporaryDirectory("interactive")

    func strata(_ args: [String], stdin: Data? = nil) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["--root", root] + args, stdin: stdin)
    }

    func image() throws {
        let r = try strata(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "box:1"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func dashIPipesStdinAndWithoutItTheContainerReadsNothing() throws {
        try image()
        let piped = try strata(["run", "--rm", "-i", "box:1", "cat"], stdin: Data("hi\n".utf8))
        #expect(piped.status == 0 && piped.stdout == "hi\n", "\(piped.stderr)")
        let closed = try strata(["run", "--rm", "box:1", "cat"], stdin: Data("not for it\n".utf8))
        #expect(closed.status == 0 && closed.stdout == "")
        // Only a container created with -i takes input, as Docker's.
        #expect(try strata(["create", "--name", "deaf", "box:1", "cat"]).status == 0)
        #expect(try strata(["start", "-a", "-i", "deaf"], stdin: Data("not for it\n".utf8)).stdout == "")
        #expect(try strata(["create", "-i", "--name", "later", "box:1", "cat"]).status == 0)
        #expect(try strata(["start", "-a", "-i", "later"], stdin: Data("again\n".utf8)).stdout == "again\n")
    }

    /// `-t` without a terminal here (CI) still gives the container one; `-it` needs one here, and
    /// says so before anything is made.
    @Test func aTerminalWithoutOneHereAndTheErrorForDashIT() throws {
        try image()
        let tty = try strata(["run", "--rm", "-t", "box:1", "sh", "-c", "tty; echo $TERM"])
        let lines = tty.stdout.replacingOccurrences(of: "\r", with: "")
        #expect(tty.status == 0 && lines == "/dev/pts/0\nxterm\n", "\(tty.stdout.debugDescription) \(tty.stderr)")
        for args in [["run", "-it", "box:1", "sh"], ["run", "--rm", "-i", "-t", "box:1", "sh"]] {
            let refused = try strata(args, stdin: Data("echo no\n".utf8))
            #expect(refused.status == 1 && refused.stderr.contains("the input device is not a TTY"), "\(args): \(refused.stderr)")
        }
        #expect(try strata(["ps", "-a", "-q"]).stdout == "", "nothing was created")
        #expect(try strata(["run", "-d", "--name", "up", "box:1", "sleep", "300"]).status == 0)
        defer { _ = try? strata(["rm", "-f", "up"]) }
        let exec = try strata(["exec", "-it", "up", "sh"], stdin: Data("echo no\n".utf8))
        #expect(exec.status == 1 && exec.stderr.contains("the input device is not a TTY"), "\(exec.stderr)")
        #expect(try strata(["exec", "-t", "up", "sh", "-c", "tty"]).stdout.hasPrefix("/dev/pts/"))
    }

    @Test func execRunsInTheRunningContainerWithItsExitCode() throws {
        try image()
        #expect(try strata(["run", "-d", "--name", "box", "box:1", "sleep", "300"]).status == 0)
        defer { _ = try? strata(["rm", "-f", "box"]) }
        let cases: [(args: [String], stdin: String?, status: Int32, stdout: String)] = [
            (["echo", "inside"], nil, 0, "inside\n"),
            (["sh", "-c", "echo $A; exit 3"], nil, 3, "1\n"),
            (["cat"], "piped\n", 0, "piped\n"),
            (["nope"], nil, 127, ""),
            (["/etc/hosts"], nil, 126, ""),
        ]
        for c in cases {
            let r = try strata(["exec", "-e", "A=1"] + (c.stdin != nil ? ["-i"] : []) + ["box"] + c.args, stdin: c.stdin.map { Data($0.utf8) })
            #expect(r.status == c.status && r.stdout == c.stdout, "\(c.args): \(r.status) \(r.stdout) \(r.stderr)")
        }
        #expect(try strata(["exec", "-u", "1000", "-w", "/tmp", "box", "sh", "-c", "id -u; pwd"]).stdout == "1000\n/tmp\n")
        #expect(try strata(["exec", "-d", "box", "sh", "-c", "echo done > /tmp/flag"]).status == 0)
        var flagged = false
        for _ in 0..<50 where !flagged {
            flagged = try strata(["exec", "box", "cat", "/tmp/flag"]).stdout == "done\n"
            if !flagged { usleep(100_000) }
        }
        #expect(flagged, "exec -d ran its command")
        // The exec'd processes' output is not the container's log.
        #expect(try strata(["logs", "box"]).stdout == "")

        #expect(try strata(["create", "--name", "stopped", "box:1", "true"]).status == 0)
        let stopped = try strata(["exec", "stopped", "true"])
        #expect(stopped.status == 125 && stopped.stderr.contains("is not running"), "\(stopped.stderr)")
        let unknown = try strata(["exec", "nosuch", "true"])
        #expect(unknown.status != 0 && unknown.stderr.contains("nosuch"), "\(unknown.stderr)")
    }

    /// `attach` joins a running container's input and output until it ends (its exit code) or the
    /// detach keys leave it running; `run -i` goes the same way, signals and all.
    @Test func attachAndDetachKeysWithoutATerminal() throws {
        try image()
        #expect(try strata(["run", "-d", "-i", "--name", "piped", "--network", "none", "box:1", "sh"]).status == 0)
        defer { _ = try? strata(["rm", "-f", "piped", "kept"]) }
        let attached = try strata(["attach", "piped"], stdin: Data("echo from $0; exit 7\n".utf8))
        #expect(attached.status == 7 && attached.stdout == "from sh\n", "\(attached.status) \(attached.stdout) \(attached.stderr)")

        // The keys are held back until they make the sequence or not; the container runs on.
        #expect(try strata(["run", "-d", "-i", "--name", "kept", "--network", "none", "box:1", "cat"]).status == 0)
        let detached = try strata(["attach", "--detach-keys", "ctrl-a,d", "kept"], stdin: Data("a\u{01}b\n\u{01}d".utf8))
        #expect(detached.status == 0, "\(detached.stderr)")
        #expect(try strata(["inspect", "--format", "{{.State.Status}}", "kept"]).stdout == "running\n")
        var logged = ""
        for _ in 0..<50 where logged != "a\u{01}b\n" {
            logged = try strata(["logs", "kept"]).stdout
            if logged != "a\u{01}b\n" { usleep(100_000) }
        }
        #expect(logged == "a\u{01}b\n", "what went before the keys reached cat: \(logged.debugDescription)")

        let stopped = try strata(["attach", "piped"])
        #expect(stopped.status == 1 && stopped.stderr.contains("You cannot attach to a stopped container, start it first"), "\(stopped.stderr)")
        let keys = try strata(["run", "--rm", "-i", "--detach-keys", "ctrl-xx", "box:1", "true"])
        #expect(keys.status == 125 && keys.stderr.contains("Invalid detach keys (ctrl-xx) provided"), "\(keys.stderr)")
        #expect(try strata(["attach", "nosuch"]).status == 1)

        // Ctrl-C at `run -i` reaches the container, which decides how it ends (Docker's --sig-proxy).
        let script = """
            "$0" --root "$1" run --rm -i --name trapped --network none box:1 sh -c 'trap "echo caught; exit 9" INT; echo ready; while :; do sleep 0.1; done' </dev/null &
            client=$!
            for i in $(seq 100); do "$0" --root "$1" logs trapped 2>/dev/null | grep -q ready && break; sleep 0.1; done
            kill -INT $client
            wait $client
            """
        let interrupted = try CLI.run("/bin/bash", ["-c", script, CLI.binary, root])
        #expect(interrupted.status == 9 && interrupted.stdout == "ready\ncaught\n", "\(interrupted.status) \(interrupted.stdout) \(interrupted.stderr)")
    }

    @Test(arguments: ["host", "none"])
    func everyContainerHasHostsHostnameAndMtab(_ network: String) throws {
        try image()
        let r = try strata(["run", "--name", "files-\(network)", "--network", network, "-h", "web", "box:1", "sh", "-c",
                            "cat /etc/hosts; cat /etc/hostname; readlink /etc/mtab"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), "\(r.stdout)")
        #expect(r.stdout.contains("127.0.1.1\tweb\nweb\n/proc/mounts\n"), "\(r.stdout)")
        // None of it is the container's change.
        #expect(try strata(["diff", "files-\(network)"]).stdout == "")
    }

    /// Driven through tmux, as a person at a terminal: type, read the screen, resize, Ctrl-D.
    @Test(.enabled(if: CLI.which("tmux") != nil))
    func aTerminalSessionIsRawSizedAndEndsWithItsExitCode() throws {
        try image()
        let tmux = try Tmux(command: "\(CLI.binary) --root \(root) run --rm -it box:1 sh")
        defer { tmux.stop() }
        // Typed before the shell is up, keys would reach the terminal while it is not yet raw.
        #expect(tmux.waitFor("/ #"), "\(tmux.screen)")
        tmux.type("stty size; tty; echo $TERM")
        #expect(tmux.waitFor("30 100\n/dev/pts/0\nxterm"), "\(tmux.screen)")
        tmux.resize(columns: 120, rows: 40)
        tmux.type("stty size")
        #expect(tmux.waitFor("40 120"), "\(tmux.screen)")
        tmux.keys("C-d")
        #expect(tmux.waitFor("EXIT=0"), "\(tmux.screen)")

        #expect(try strata(["run", "-d", "--name", "term", "box:1", "sleep", "300"]).status == 0)
        defer { _ = try? strata(["rm", "-f", "term"]) }
        let exec = try Tmux(command: "\(CLI.binary) --root \(root) exec -it term sh")
        defer { exec.stop() }
        #expect(exec.waitFor("/ #"), "\(exec.screen)")
        exec.type("tty; exit 5")
        #expect(exec.waitFor("/dev/pts/"), "\(exec.screen)")
        #expect(exec.waitFor("EXIT=5"), "\(exec.screen)")
    }

    /// Ctrl-P Ctrl-Q leaves `run -it` running; `attach` brings the session back, sized to its window.
    @Test(.enabled(if: CLI.which("tmux") != nil))
    func detachFromATerminalSessionAndAttachAgain() throws {
        try image()
        defer { _ = try? strata(["rm", "-f", "session"]) }
        let first = try Tmux(command: "\(CLI.binary) --root \(root) run -it --name session --network none box:1 sh")
        defer { first.stop() }
        #expect(first.waitFor("/ #"), "\(first.screen)")
        first.type("echo one > /tmp/mark")
        first.keys("C-p")
        first.keys("C-q")
        #expect(first.waitFor("EXIT=0"), "\(first.screen)")
        #expect(try strata(["inspect", "--format", "{{.State.Status}}", "session"]).stdout == "running\n")

        let again = try Tmux(command: "\(CLI.binary) --root \(root) attach session")
        defer { again.stop() }
        usleep(300_000)
        again.type("cat /tmp/mark; stty size")
        #expect(again.waitFor("one\n30 100"), "\(again.screen)")
        again.resize(columns: 90, rows: 20)
        again.type("stty size")
        #expect(again.waitFor("20 90"), "\(again.screen)")
        again.type("exit 6")
        #expect(again.waitFor("EXIT=6"), "\(again.screen)")
        #expect(try strata(["inspect", "--format", "{{.State.ExitCode}}", "session"]).stdout == "6\n")
    }
}

/// A tmux server of the test's own (its own socket), running one command in a 100×30 window;
/// the command's exit code is printed as `EXIT=N` when it ends.
struct Tmux {
    let socket = "strata-test-\(UUID().uuidString.prefix(8))"

    init(command: String) throws {
        // Foundation's Process learns of a child's exit when a socket it hands the child closes; the
        // tmux server would keep it open for good, so bash (dash takes one digit) closes every
        // descriptor over 2 first.
        let closeInherited = "for fd in $(ls /proc/$$/fd); do [ $fd -gt 2 ] && eval \"exec $fd>&-\"; done"
        let r = try CLI.run("/bin/bash", ["-c", "\(closeInherited); tmux -L \(socket) new-session -d -x 100 -y 30 \"$0\"",
                                        "\(command); echo EXIT=$?; sleep 600"])
        guard r.status == 0 else { throw TestFailure("tmux did not start: \(r.stderr)") }
    }

    func tmux(_ arguments: [String]) -> CLI.Result? { try? CLI.run("/usr/bin/tmux", ["-L", socket] + arguments) }
    func type(_ text: String) { _ = tmux(["send-keys", "-l", text]); keys("Enter") }
    func keys(_ key: String) { _ = tmux(["send-keys", key]) }
    func resize(columns: Int, rows: Int) { _ = tmux(["resize-window", "-x", "\(columns)", "-y", "\(rows)"]) }
    var screen: String {
        (tmux(["capture-pane", "-p"])?.stdout ?? "").split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.replacingOccurrences(of: " +$", with: "", options: .regularExpression) }.joined(separator: "\n")
    }

    /// Whether `text` shows on the screen within 20 seconds.
    func waitFor(_ text: String) -> Bool {
        for _ in 0..<200 {
            if screen.contains(text) { return true }
            usleep(100_000)
        }
        return false
    }

    func stop() { _ = tmux(["kill-server"]) }
}
