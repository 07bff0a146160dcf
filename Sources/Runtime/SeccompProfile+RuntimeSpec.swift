extension SeccompProfile {
    /// The profile as the runtime spec's `linux.seccomp` for a container with `capabilities`:
    /// the rules that apply to it (a capability-conditional rule only when it holds, or lacks,
    /// the capabilities the rule names).
    public func runtimeSpec(for capabilities: [String]) -> RuntimeSpec.Seccomp {
        RuntimeSpec.Seccomp(
            defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: architectures,
            flags: flags.isEmpty ? nil : flags,
            syscalls: rules(for: capabilities).map { rule in
                RuntimeSpec.Seccomp.Syscall(
                    names: rule.names, action: rule.action, errnoRet: rule.errnoRet,
                    args: rule.args.isEmpty ? nil : rule.args.map {
                        RuntimeSpec.Seccomp.Arg(index: $0.index, value: $0.value, valueTwo: $0.valueTwo, op: $0.op)
                    })
            })
    }
}
