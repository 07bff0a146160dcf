import Foundation
import Testing
@testable import Runtime
import ImageSpec

/// Limits and privileges: Docker's spellings, its checks, and what the runtime spec gets.
struct HostConfigTests {
    @Test(arguments: [("32m", Int64(32 << 20)), ("1g", 1 << 30), ("512K", 512 << 10), ("1024", 1024), ("2GB", 2 << 30), ("1.5m", 1_572_864), ("16MiB", 16 << 20), ("64 k", 64 << 10)])
    func sizes(_ text: String, _ bytes: Int64) throws {
        #expect(try HostConfig.parseBytes(text, flag: "--memory") == bytes)
    }

    @Test(arguments: ["", "m", "12q", "-1m", "1..5m"])
    func badSizesAreNamed(_ text: String) {
        #expect { try HostConfig.parseBytes(text, flag: "--memory") } throws: { ($0 as? StrataError)?.message.contains("invalid size") == true }
    }

    @Test(arguments: [
        ("nofile=1024:2048", HostConfig.Ulimit(name: "nofile", soft: 1024, hard: 2048)),
        ("nproc=64", HostConfig.Ulimit(name: "nproc", soft: 64, hard: 64)),
        ("core=-1", HostConfig.Ulimit(name: "core", soft: .max, hard: .max)),
    ])
    func ulimits(_ text: String, _ expected: HostConfig.Ulimit) throws {
        #expect(try HostConfig.parseUlimit(text) == expected)
    }

    @Test(arguments: [("nofile=2:1", "soft limit must be less"), ("files=1", "NAME one of"), ("nofile=x", "must be numbers"), ("nofile", "NAME=SOFT")])
    func badUlimitsAreNamed(_ text: String, _ message: String) {
        #expect { try HostConfig.parseUlimit(text) } throws: { ($0 as? StrataError)?.message.contains(message) == true }
    }

    @Test(arguments: [
        ([], [], false, RuntimeSpec.defaultCapabilities),
        (["NET_ADMIN"], ["CHOWN"], false, RuntimeSpec.defaultCapabilities.filter { $0 != "CAP_CHOWN" } + ["CAP_NET_ADMIN"]),
        (["KILL"], ["ALL"], false, ["CAP_KILL"]),
        (["ALL"], ["MKNOD"], false, HostConfig.allCapabilities.filter { $0 != "CAP_MKNOD" }),
        ([], ["ALL"], true, HostConfig.allCapabilities),
    ])
    func capabilities(_ add: [String], _ drop: [String], _ privileged: Bool, _ expected: [String]) throws {
        var h = HostConfig()
        h.capAdd = try add.map(HostConfig.capability)
        h.capDrop = try drop.map(HostConfig.capability)
        h.privileged = privileged
        #expect(Set(h.capabilities(default: RuntimeSpec.defaultCapabilities, available: HostConfig.allCapabilities)) == Set(expected))
        // What this process cannot hand on is never asked for.
        let withoutResource = HostConfig.allCapabilities.filter { $0 != "CAP_SYS_RESOURCE" }
        #expect(!h.capabilities(default: RuntimeSpec.defaultCapabilities, available: withoutResource).contains("CAP_SYS_RESOURCE"))
    }

    @Test func capabilityNamesAreDockers() throws {
        #expect(try HostConfig.capability("net_admin") == "CAP_NET_ADMIN")
        #expect(try HostConfig.capability("CAP_SYS_ADMIN") == "CAP_SYS_ADMIN")
        #expect(try HostConfig.capability("all") == "ALL")
        #expect { try HostConfig.capability("FLY") } throws: { ($0 as? StrataError)?.message == "invalid capability: unknown capability: \"CAP_FLY\"" }
    }

    static func limits(memory: Int64? = nil, swap: Int64? = nil, pids: Int64? = nil) -> HostConfig {
        var h = HostConfig()
        (h.memory, h.memorySwap, h.pidsLimit) = (memory, swap, pids)
        return h
    }

    @Test(arguments: [
        (limits(memory: 1 << 20), "Minimum memory limit allowed is 6MB"),
        (limits(swap: 64 << 20), "always set the Memory limit"),
        (limits(memory: 64 << 20, swap: 32 << 20), "larger than memory limit"),
        (limits(pids: 0), "invalid --pids-limit 0"),
    ])
    func limitsAreCheckedTogether(_ h: HostConfig, _ message: String) {
        #expect { try h.validate() } throws: { ($0 as? StrataError)?.message.contains(message) == true }
    }

    @Test func securityOptions() throws {
        var h = HostConfig()
        try h.apply(securityOption: "no-new-privileges")
        #expect(h.noNewPrivileges)
        try h.apply(securityOption: "no-new-privileges=false")
        #expect(!h.noNewPrivileges)
        try h.apply(securityOption: "seccomp=unconfined")
        #expect(h.seccompUnconfined && h.seccompProfile == nil)
        #expect(throws: StrataError.self) { try h.apply(securityOption: "apparmor=docker-default") }
        #expect { try h.apply(securityOption: "seccomp=/nowhere/profile.json") } throws: {
            ($0 as? StrataError)?.message.hasPrefix("opening seccomp profile (/nowhere/profile.json) failed") == true
        }
    }

    @Test func aSeccompProfileFileIsReadAndCheckedAtCreate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostconfig-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#
        try good.write(toFile: "\(directory)/good.json", atomically: true, encoding: .utf8)
        try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_MAYBE"}]}"#
            .write(toFile: "\(directory)/bad.json", atomically: true, encoding: .utf8)
        var h = HostConfig()
        try h.apply(securityOption: "seccomp=unconfined")
        try h.apply(securityOption: "seccomp=\(directory)/good.json")
        #expect(h.seccompProfile == good && !h.seccompUnconfined)
        #expect { try h.apply(securityOption: "seccomp=\(directory)/bad.json") } throws: {
            ($0 as? StrataError)?.message == "\(directory)/bad.json: malformed seccomp profile: syscalls[0] (mkdir): unknown action \"SCMP_ACT_MAYBE\""
        }
        #expect(h.seccompProfile == good)
    }
}
