import Testing
@testable import Runtime

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
