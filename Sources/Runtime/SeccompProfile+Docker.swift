import Foundation
import Host
import ImageSpec

extension SeccompProfile {
    /// A profile in moby's format (`--security-opt seccomp=FILE`, the format of Docker's own
    /// default.json), resolved for this machine as dockerd resolves it: `archMap` gives the native
    /// architecture and its sub-architectures, and a rule is kept only when its `includes` and
    /// `excludes` hold for the machine (`arches`, Go's names) and the kernel (`minKernel`). The
    /// capability conditions stay on the rules, to be decided by the container's bounding set.
    ///
    /// - Parameters:
    ///   - machine: `uname -m` (x86_64, aarch64…).
    ///   - kernel: `uname -r` (6.1.0-18-amd64…).
    public static func decode(docker json: [UInt8], machine: String = Uname.current.machine,
                              kernel: String = Uname.current.release) throws -> SeccompProfile {
        func malformed(_ why: String) -> StrataError { StrataError(.invalidJSON, "malformed seccomp profile: \(why)") }
        let file = try JSONCoding.decode(DockerProfile.self, from: Data(json), what: "seccomp profile")
        guard let defaultAction = file.defaultAction, !defaultAction.isEmpty else { throw malformed("no defaultAction") }
        try validate(action: defaultAction) { malformed("defaultAction: \($0)") }
        if !(file.architectures ?? []).isEmpty && !(file.archMap ?? []).isEmpty {
            throw malformed("both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'")
        }
        let native = nativeArchitecture(machine: machine)
        var architectures = file.architectures ?? []
        for entry in file.archMap ?? [] where entry.architecture == native {
            architectures += [entry.architecture] + (entry.subArchitectures ?? [])
        }
        let goArch = Platform.normalizeArchitecture(machine)
        let running = try KernelVersion(parsing: kernel).orThrow(malformed("this host's kernel release \"\(kernel)\" has no version"))

        var rules: [Rule] = []
        for (index, call) in (file.syscalls ?? []).enumerated() {
            let names: [String]
            switch (call.name, call.names ?? []) {
            case (let name?, let list) where !name.isEmpty && !list.isEmpty:
                throw malformed("syscalls[\(index)] has both 'name' and 'names', use either 'name' or 'names'")
            case (let name?, _) where !name.isEmpty: names = [name]
            case (_, let list) where !list.isEmpty: names = list
            default: throw malformed("syscalls[\(index)] names no system call")
            }
            guard let action = call.action, !action.isEmpty else { throw malformed("syscalls[\(index)] (\(names[0])) has no action") }
            try validate(action: action) { malformed("syscalls[\(index)] (\(names[0])): \($0)") }
            let includes = call.includes ?? Filter(), excludes = call.excludes ?? Filter()
            let minimums = try [includes.minKernel, excludes.minKernel].map { text in
                try text.map { try KernelVersion(parsing: $0).orThrow(malformed("syscalls[\(index)]: invalid minKernel \"\($0)\", want MAJOR.MINOR")) }
            }
            if let arches = excludes.arches, arches.contains(goArch) { continue }
            if let minimum = minimums[1], running >= minimum { continue }
            if let arches = includes.arches, !arches.isEmpty, !arches.contains(goArch) { continue }
            if let minimum = minimums[0], running < minimum { continue }
            let args = try (call.args ?? []).map { arg in
                guard Self.comparisons.contains(arg.op) else { throw malformed("syscalls[\(index)] (\(names[0])): unknown comparison \"\(arg.op)\"") }
                return Argument(index: arg.index, value: arg.value ?? 0, valueTwo: arg.valueTwo ?? 0, op: arg.op)
            }
            rules.append(Rule(names: names, requiresCapabilities: includes.caps ?? [], unlessCapabilities: excludes.caps ?? [],
                              args: args, action: action, errnoRet: call.errnoRet))
        }
        return SeccompProfile(defaultAction: defaultAction, defaultErrnoRet: file.defaultErrnoRet,
                              architectures: architectures, flags: file.flags ?? [], rules: rules)
    }

    /// libseccomp's name for the machine's own architecture, as moby maps Go's GOARCH to it.
    static func nativeArchitecture(machine: String) -> String {
        switch Platform.normalizeArchitecture(machine) {
        case "amd64": return "SCMP_ARCH_X86_64"
        case "arm64": return "SCMP_ARCH_AARCH64"
        case "386": return "SCMP_ARCH_X86"
        case let other where other.hasPrefix("arm"): return "SCMP_ARCH_ARM"
        case let other: return "SCMP_ARCH_" + other.uppercased()
        }
    }

    /// The actions runc (libseccomp) knows. SCMP_ACT_NOTIFY is left out: it needs a listener
    /// (`listenerPath`), which Strata does not run.
    static let actions: Set<String> = [
        "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
    ]
    static let comparisons: Set<String> = [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
    ]

    private static func validate(action: String, _ malformed: (String) -> StrataError) throws {
        guard actions.contains(action) else {
            throw malformed(action == "SCMP_ACT_NOTIFY"
                ? "SCMP_ACT_NOTIFY needs a seccomp listener, which Strata does not run"
                : "unknown action \"\(action)\"")
        }
    }

    /// moby's profile file (profiles/seccomp/seccomp.go): the runtime spec's fields plus `archMap`,
    /// the old single `name`, and the `includes`/`excludes` filters. Unknown keys (`comment`) are ignored.
    private struct DockerProfile: Decodable {
        var defaultAction: String?
        var defaultErrnoRet: UInt32?
        var architectures: [String]?
        var archMap: [ArchEntry]?
        var flags: [String]?
        var syscalls: [Call]?
    }
    private struct ArchEntry: Decodable {
        var architecture: String
        var subArchitectures: [String]?
    }
    private struct Call: Decodable {
        var name: String?
        var names: [String]?
        var action: String?
        var errnoRet: UInt32?
        var args: [Arg]?
        var includes: Filter?
        var excludes: Filter?
    }
    private struct Arg: Decodable {
        var index: UInt32
        var value: UInt64?
        var valueTwo: UInt64?
        var op: String
    }
    private struct Filter: Decodable {
        var caps: [String]? = nil
        var arches: [String]? = nil
        var minKernel: String? = nil
    }
}

/// A kernel's MAJOR.MINOR, as moby compares them for `minKernel`.
struct KernelVersion: Comparable {
    var major: Int, minor: Int

    /// "4.8", "6.1.0-18-amd64": the first two numbers; nil when there are none.
    init?(parsing text: String) {
        let numbers = text.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard text.first?.isNumber == true, let major = numbers.first else { return nil }
        self.major = major
        self.minor = numbers.count > 1 ? numbers[1] : 0
    }

    static func < (a: KernelVersion, b: KernelVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
