import Foundation
import ImageSpec

/// Docker's spellings of sizes, CPUs, ulimits, capabilities and security options.
extension HostConfig {
    /// `32m`, `1g`, `512k`, `1024` (bytes), `2GB`: Docker's RAMInBytes (binary units).
    public static func parseBytes(_ text: String, flag: String) throws -> Int64 {
        guard let bytes = Units.ramInBytes(text) else {
            throw StrataError(.invalidArgument, "invalid argument \"\(text)\" for \"\(flag)\" flag: invalid size: '\(text)'")
        }
        return bytes
    }

    /// `--cpus 1.5`: in billionths of a CPU, at most the machine's.
    public static func parseCPUs(_ text: String) throws -> Int64 {
        guard let cpus = Double(text), cpus > 0 else {
            throw StrataError(.invalidArgument, "invalid argument \"\(text)\" for \"--cpus\" flag: a positive number of CPUs, like 1.5")
        }
        let available = ProcessInfo.processInfo.activeProcessorCount
        guard cpus <= Double(available) else {
            throw StrataError(.invalidArgument, "range of CPUs is from 0.01 to \(available).00, as there are only \(available) CPUs available")
        }
        return Int64((cpus * 1e9).rounded())
    }

    /// The rlimits `--ulimit` may set, by Docker's names.
    public static let rlimitNames = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                                     "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]

    /// `--ulimit nofile=1024[:2048]` (the hard limit is the soft one when not given).
    public static func parseUlimit(_ text: String) throws -> Ulimit {
        let pair = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2, rlimitNames.contains(pair[0]) else {
            throw StrataError(.invalidArgument, "invalid ulimit \"\(text)\": NAME=SOFT[:HARD], NAME one of \(rlimitNames.joined(separator: ", "))")
        }
        let limits = pair[1].split(separator: ":", omittingEmptySubsequences: false).map { $0 == "-1" ? UInt64.max : UInt64($0) }
        guard (1...2).contains(limits.count), let soft = limits[0], let hard = limits.last ?? nil else {
            throw StrataError(.invalidArgument, "invalid ulimit \"\(text)\": the limits must be numbers (-1 for unlimited)")
        }
        guard soft <= hard else {
            throw StrataError(.invalidArgument, "ulimit soft limit must be less than or equal to hard limit: \(soft) > \(hard)")
        }
        return Ulimit(name: pair[0], soft: soft, hard: hard)
    }

    /// Every capability Linux 6.1 knows, in its order.
    public static let allCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` are one capability; `all` is ALL.
    public static func capability(_ name: String) throws -> String {
        let upper = name.uppercased()
        if upper == "ALL" { return "ALL" }
        let full = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
        guard allCapabilities.contains(full) else { throw StrataError(.invalidArgument, "invalid capability: unknown capability: \"\(full)\"") }
        return full
    }

    /// `--security-opt`: `no-new-privileges[=true|false]`, `seccomp=unconfined` (no filter
    /// instead of Docker's default profile) and `seccomp=FILE` (a profile in moby's format, checked now
    /// so that a bad one fails the create).
    public mutating func apply(securityOption text: String) throws {
        let pair = text.split(separator: text.contains("=") ? "=" : ":", maxSplits: 1).map(String.init)
        switch (pair[0], pair.count == 2 ? pair[1] : nil) {
        case ("no-new-privileges", nil), ("no-new-privileges", "true"): noNewPrivileges = true
        case ("no-new-privileges", "false"): noNewPrivileges = false
        case ("seccomp", "unconfined"): (seccompUnconfined, seccompProfile) = (true, nil)
        case ("seccomp", let path?) where !path.isEmpty:
            let json: [UInt8]
            do { json = try FileSystem.readFile(path) } catch {
                throw StrataError(.invalidArgument, "opening seccomp profile (\(path)) failed: \(error)", cause: error)
            }
            do { _ = try SeccompProfile.decode(docker: json) } catch let error as StrataError { throw error.context(path) }
            (seccompUnconfined, seccompProfile) = (false, String(decoding: json, as: UTF8.self))
        default:
            throw StrataError(.invalidArgument, "invalid --security-opt \"\(text)\": no-new-privileges, seccomp=unconfined or seccomp=FILE")
        }
    }

    /// Docker's checks of the limits together, in its words.
    public func validate() throws {
        if let memory, memory < 6 << 20 { throw StrataError(.invalidArgument, "Minimum memory limit allowed is 6MB") }
        if let memorySwap, memorySwap != -1 {
            guard let memory else {
                throw StrataError(.invalidArgument, "You should always set the Memory limit when using Memoryswap limit, see usage")
            }
            guard memorySwap >= memory else {
                throw StrataError(.invalidArgument, "Minimum memoryswap limit should be larger than memory limit, see usage")
            }
        }
        if let pidsLimit, pidsLimit == 0 || pidsLimit < -1 {
            throw StrataError(.invalidArgument, "invalid --pids-limit \(pidsLimit): a positive number, or -1 for unlimited")
        }
    }

    /// The capability set: Docker's default, less `capDrop`, plus `capAdd` (`ALL` in either
    /// means every capability); every one with `--privileged`. Never more than `available`, the
    /// capabilities this process may hand on (a host without CAP_SYS_RESOURCE cannot give it).
    public func capabilities(default base: [String], available: [String] = HostConfig.availableCapabilities) -> [String] {
        let all = Self.allCapabilities.filter(available.contains)
        if privileged { return all }
        var set = capDrop.contains("ALL") ? [] : base.filter { !capDrop.contains($0) }
        let added = capAdd.contains("ALL") ? all : capAdd
        for cap in added where !set.contains(cap) && !(capAdd.contains("ALL") && capDrop.contains(cap)) { set.append(cap) }
        return set
    }

    /// The capabilities in this process's bounding set (`CapBnd` in /proc/self/status).
    public static let availableCapabilities: [String] = {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
              let mask = UInt64(line.dropFirst("CapBnd:".count).trimmingCharacters(in: .whitespaces), radix: 16) else {
            return allCapabilities
        }
        return allCapabilities.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
    }()
}
