import Foundation
import RegistryTestSupport
import Testing

/// Limits and privileges seen from inside a container, run by runc on this host's cgroups.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct LimitsTests {
    let root = CLI.temporaryDirectory("limits")

    func strata(_ args: [String]) throws -> CLI.Result { try CLI.run(CLI.binary, ["--root", root] + args) }

    func image() throws {
        let r = try strata(["import", try CLI.busyboxRootfs(), "box:1"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func aMemoryHogIsKilledWith137() throws {
        try image()
        let hog = try strata(["run", "--rm", "--memory", "32m", "box:1", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=96M count=1"])
        #expect(hog.status == 137, "\(hog.status) \(hog.stderr)")
        let fits = try strata(["run", "--rm", "--memory", "32m", "box:1", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=4M count=1 2>/dev/null"])
        #expect(fits.status == 0, "\(fits.stderr)")
    }

    @Test func processesCapabilitiesAndUlimits() throws {
        try image()
        // The limit counts runc's own threads while it starts the container, so it leaves room for them.
        let forks = try strata(["run", "--rm", "--pids-limit", "24", "box:1", "sh", "-c", "for i in $(seq 40); do sleep 3 & done; wait"])
        #expect(forks.stderr.contains("can't fork"), "\(forks.status) \(forks.stderr)")

        let chown = "touch /f && chown 1 /f && echo changed"
        #expect(try strata(["run", "--rm", "box:1", "sh", "-c", chown]).stdout == "changed\n")
        let dropped = try strata(["run", "--rm", "--cap-drop", "chown", "box:1", "sh", "-c", chown])
        #expect(dropped.status != 0 && dropped.stderr.contains("Operation not permitted"), "\(dropped.stderr)")

        // Docker's default set is 0xa80425fb; --privileged has all 41 this host lets us hand on.
        #expect(try strata(["run", "--rm", "box:1", "sh", "-c", "grep CapEff /proc/self/status"]).stdout == "CapEff:\t00000000a80425fb\n")
        let ours = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("CapBnd:") }!.dropFirst(7)
        #expect(try strata(["run", "--rm", "--privileged", "box:1", "sh", "-c", "grep CapEff /proc/self/status"]).stdout == "CapEff:\(ours)\n")
        #expect(try strata(["run", "--rm", "--cap-add", "NET_ADMIN", "box:1", "sh", "-c", "grep CapEff /proc/self/status"]).stdout == "CapEff:\t00000000a80435fb\n")

        #expect(try strata(["run", "--rm", "--ulimit", "nofile=100:200", "box:1", "sh", "-c", "ulimit -n; ulimit -Hn"]).stdout == "100\n200\n")
        #expect(try strata(["run", "--rm", "--security-opt", "no-new-privileges", "box:1", "sh", "-c", "grep NoNewPrivs /proc/self/status"]).stdout == "NoNewPrivs:\t1\n")
    }

    /// Docker's default seccomp profile: a new user namespace (a root with every capability in it)
    /// is refused with EPERM, as Docker refuses it; `seccomp=unconfined` and `--privileged` lift it.
    @Test func theDefaultSeccompProfileRefusesWhatDockersDoes() throws {
        try image()
        let filtered = try strata(["run", "--rm", "box:1", "sh", "-c", "grep Seccomp: /proc/self/status; unshare -U -r id"])
        #expect(filtered.stdout == "Seccomp:\t2\n" && filtered.status != 0, "\(filtered.stdout) \(filtered.stderr)")
        #expect(filtered.stderr.contains("Operation not permitted"), "\(filtered.stderr)")
        let unconfined = try strata(["run", "--rm", "--security-opt", "seccomp=unconfined", "box:1", "sh", "-c", "grep Seccomp: /proc/self/status; unshare -U -r id -u"])
        #expect(unconfined.stdout == "Seccomp:\t0\n0\n", "\(unconfined.stdout) \(unconfined.stderr)")
        #expect(try strata(["run", "--rm", "--privileged", "box:1", "sh", "-c", "grep Seccomp: /proc/self/status"]).stdout == "Seccomp:\t0\n")
        // Everyday work is untouched: processes, files, the network's names, time.
        let everyday = try strata(["run", "--rm", "box:1", "sh", "-c", "sleep 0 & wait; mkdir -p /a/b; ln -s b /a/c; date +%Y >/dev/null; cat /etc/hosts >/dev/null; echo ok"])
        #expect(everyday.stdout == "ok\n", "\(everyday.stderr)")
    }

    /// A profile of the user's own, in Docker's format: here everything is allowed but making
    /// directories, unless the container holds CAP_SYS_ADMIN.
    @Test func aSeccompProfileFromAFileIsTheContainers() throws {
        try image()
        let profile = #"""
        {"defaultAction": "SCMP_ACT_ALLOW",
         "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                     {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
         "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                       "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}
        """#
        try profile.write(toFile: "\(root)/no-mkdir.json", atomically: true, encoding: .utf8)
        let denied = try strata(["run", "--name", "nomkdir", "--security-opt", "seccomp=\(root)/no-mkdir.json", "box:1",
                                 "sh", "-c", "grep Seccomp: /proc/self/status; touch /f && echo touched; mkdir /d"])
        #expect(denied.stdout == "Seccomp:\t2\ntouched\n" && denied.status == 1, "\(denied.stdout) \(denied.stderr)")
        #expect(denied.stderr.contains("Operation not permitted"), "\(denied.stderr)")
        // Kept with the container: inspect shows it as Docker does, and a second start applies it again.
        let opt = try strata(["inspect", "--format", "{{json .HostConfig.SecurityOpt}}", "nomkdir"])
        #expect(opt.stdout.hasPrefix("[\"seccomp={") && opt.stdout.contains("mkdirat"), "\(opt.stdout)")
        #expect(try strata(["start", "-a", "nomkdir"]).status == 1)
        let admin = try strata(["run", "--rm", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=\(root)/no-mkdir.json", "box:1",
                                "sh", "-c", "mkdir /d && echo made"])
        #expect(admin.stdout == "made\n", "\(admin.stderr)")
        #expect(try strata(["rm", "nomkdir"]).status == 0)
    }

    @Test func aReadOnlyRootStillHasItsTmpfsAndVolumes() throws {
        try image()
        let refused = try strata(["run", "--rm", "--read-only", "box:1", "sh", "-c", "touch /x"])
        #expect(refused.status != 0 && refused.stderr.contains("Read-only file system"), "\(refused.stderr)")
        let writable = try strata(["run", "--rm", "--read-only", "--tmpfs", "/tmp", "-v", "scratch:/data", "box:1", "sh", "-c", "touch /tmp/a /data/b && echo ok"])
        #expect(writable.stdout == "ok\n", "\(writable.stderr)")
    }

    @Test func badLimitsAreRefusedAndLeaveNothing() throws {
        try image()
        try #"{"defaultAction": "SCMP_ACT_PERHAPS"}"#.write(toFile: "\(root)/broken.json", atomically: true, encoding: .utf8)
        let cases: [(args: [String], message: String)] = [
            (["--memory", "1k"], "Minimum memory limit allowed is 6MB"),
            (["--memory", "lots"], "invalid size: 'lots'"),
            (["--memory", "64m", "--memory-swap", "32m"], "larger than memory limit"),
            (["--cpus", "999"], "range of CPUs is from 0.01"),
            (["--cap-add", "FLY"], "unknown capability: \"CAP_FLY\""),
            (["--ulimit", "nofile=2:1"], "soft limit must be less than or equal to hard limit"),
            (["--security-opt", "seccomp=/nowhere.json"], "opening seccomp profile (/nowhere.json) failed"),
            (["--security-opt", "seccomp=\(root)/broken.json"], "malformed seccomp profile: defaultAction: unknown action \"SCMP_ACT_PERHAPS\""),
            (["--security-opt", "label=disable"], "invalid --security-opt"),
            (["--pids-limit", "0"], "invalid --pids-limit 0"),
        ]
        for c in cases {
            let r = try strata(["run", "--rm"] + c.args + ["box:1", "true"])
            #expect(r.status == 125 && r.stderr.contains(c.message), "\(c.args): \(r.status) \(r.stderr)")
        }
        #expect(try strata(["ps", "-a", "-q"]).stdout == "")
    }
}
