import Testing
@testable import Runtime
import ImageSpec

/// Docker's default profile as the runtime spec gets it, for what a container holds.
struct SeccompProfileTests {
    func allowed(_ caps: [String]) -> Set<String> {
        Set(SeccompProfile.dockerDefault.runtimeSpec(for: caps).syscalls
            .filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil }.flatMap(\.names))
    }

    @Test(arguments: [
        ("mount", "CAP_SYS_ADMIN"), ("unshare", "CAP_SYS_ADMIN"), ("setns", "CAP_SYS_ADMIN"), ("ptrace", nil),
        ("reboot", "CAP_SYS_BOOT"), ("chroot", "CAP_SYS_CHROOT"), ("init_module", "CAP_SYS_MODULE"), ("read", nil),
    ] as [(String, String?)])
    func aCallIsAllowedWithTheCapabilityItNeeds(_ call: String, _ capability: String?) {
        let base = RuntimeSpec.defaultCapabilities.filter { $0 != "CAP_SYS_CHROOT" }
        #expect(allowed(base).contains(call) == (capability == nil))
        #expect(allowed(base + [capability].compactMap { $0 }).contains(call))
    }

    @Test func cloneIsMaskedAndClone3IsENOSYSWithoutSysAdmin() {
        let spec = SeccompProfile.dockerDefault.runtimeSpec(for: RuntimeSpec.defaultCapabilities)
        #expect(spec.defaultAction == "SCMP_ACT_ERRNO" && spec.defaultErrnoRet == 1)
        let clone = spec.syscalls.first { $0.names == ["clone"] }
        #expect(clone?.args?.first?.op == "SCMP_CMP_MASKED_EQ" && clone?.args?.first?.value == 0x7E02_0000)
        #expect(spec.syscalls.contains { $0.names.contains("clone3") && $0.errnoRet == 38 })
        let admin = SeccompProfile.dockerDefault.runtimeSpec(for: RuntimeSpec.defaultCapabilities + ["CAP_SYS_ADMIN"])
        #expect(!admin.syscalls.contains { $0.names.contains("clone3") && $0.action != "SCMP_ACT_ALLOW" })
    }
}

/// Profiles in moby's format, resolved for a machine and kernel as dockerd resolves them.
struct DockerSeccompFileTests {
    let profile = #"""
    {
      "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
      "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
      ],
      "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "everyone"},
        {"name": "arch_prctl", "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["ppc64le"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["old_ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"arches": ["s390x"]}}
      ]
    }
    """#

    func names(_ p: SeccompProfile, _ caps: [String] = []) -> [String] { p.runtimeSpec(for: caps).syscalls.flatMap(\.names) }

    @Test func architecturesAndKernelAreDecidedForTheMachine() throws {
        let x86 = try SeccompProfile.decode(docker: Array(profile.utf8), machine: "x86_64", kernel: "6.1.0-18-amd64")
        #expect(x86.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        #expect(x86.defaultAction == "SCMP_ACT_ERRNO" && x86.defaultErrnoRet == 1 && x86.flags == ["SECCOMP_FILTER_FLAG_LOG"])
        #expect(names(x86) == ["read", "write", "arch_prctl", "ptrace", "clone", "clone3"])
        let clone = x86.runtimeSpec(for: []).syscalls.first { $0.names == ["clone"] }
        #expect(clone?.args?.first?.value == 0x7E02_0000 && clone?.args?.first?.op == "SCMP_CMP_MASKED_EQ")
        #expect(x86.runtimeSpec(for: []).syscalls.last?.errnoRet == 38)

        let arm = try SeccompProfile.decode(docker: Array(profile.utf8), machine: "aarch64", kernel: "4.4.0")
        #expect(arm.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        #expect(names(arm) == ["read", "write", "old_ptrace", "clone", "clone3"])
    }

    @Test func capabilityConditionsAreLeftToTheContainer() throws {
        let p = try SeccompProfile.decode(docker: Array(profile.utf8), machine: "x86_64", kernel: "6.1")
        #expect(names(p, ["CAP_SYS_ADMIN"]).contains("mount") && !names(p, ["CAP_SYS_ADMIN"]).contains("clone"))
        #expect(!names(p, ["CAP_CHOWN"]).contains("mount") && names(p, ["CAP_CHOWN"]).contains("clone"))
    }

    @Test(arguments: [
        ("[]", "malformed seccomp profile: top level: expected"),
        ("{", "malformed seccomp profile: not valid JSON"),
        (#"{"syscalls": []}"#, "malformed seccomp profile: no defaultAction"),
        (#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, "defaultAction: SCMP_ACT_NOTIFY needs a seccomp listener"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
         "both 'architectures' and 'archMap' are specified"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#,
         "syscalls[0] has both 'name' and 'names'"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}"#, "syscalls[0] names no system call"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]}"#, "syscalls[0] (mkdir) has no action"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_ABOUT"}]}]}"#,
         "syscalls[0] (mkdir): unknown comparison \"SCMP_CMP_ABOUT\""),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "soon"}}]}"#,
         "syscalls[0]: invalid minKernel \"soon\", want MAJOR.MINOR"),
    ])
    func aMalformedProfileIsRefusedSayingWhere(_ json: String, _ message: String) {
        #expect { try SeccompProfile.decode(docker: Array(json.utf8), machine: "x86_64", kernel: "6.1") } throws: {
            ($0 as? StrataError)?.message.contains(message) == true
        }
    }
}
