/// The part of the OCI runtime spec (runtime-spec config.md, config-linux.md) Strata writes
/// into a container's bundle as `config.json`.
public struct RuntimeSpec: Codable, Sendable {
    public var ociVersion = "1.0.2"
    public var process: ProcessSpec
    public var root: Root
    public var hostname: String?
    public var mounts: [Mount]
    public var linux: Linux

    public struct ProcessSpec: Codable, Sendable {
        public var terminal = false
        public var user: User
        public var args: [String]
        public var env: [String]
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
    }

    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var additionalGids: [UInt32]?
    }

    public struct Capabilities: Codable, Sendable {
        public var bounding: [String]
        public var effective: [String]
        public var permitted: [String]
    }

    public struct Rlimit: Codable, Sendable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
    }

    public struct Root: Codable, Sendable {
        public var path: String
        public var readonly = false
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var destination: String
        public var type: String
        public var source: String
        public var options: [String]?

        public init(destination: String, type: String, source: String, options: [String]? = nil) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }
    }

    public struct Linux: Codable, Sendable {
        public var namespaces: [Namespace]
        public var maskedPaths: [String]
        public var readonlyPaths: [String]
        public var resources: Resources?
        public var cgroupsPath: String?
        public var seccomp: Seccomp? = nil
    }

    /// config-linux.md's seccomp: a default action and the rules that override it.
    public struct Seccomp: Codable, Sendable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]
        public var flags: [String]? = nil
        public var syscalls: [Syscall]

        public struct Syscall: Codable, Sendable {
            public var names: [String]
            public var action: String
            public var errnoRet: UInt32?
            public var args: [Arg]?
        }

        public struct Arg: Codable, Sendable {
            public var index: UInt32
            public var value: UInt64
            public var valueTwo: UInt64?
            public var op: String
        }
    }

    public struct Namespace: Codable, Sendable {
        public var type: String
        public var path: String?
    }

    public struct Resources: Codable, Sendable {
        public var devices: [DeviceRule]
        public var memory: Memory? = nil
        public var cpu: CPU? = nil
        public var pids: Pids? = nil
    }

    public struct Memory: Codable, Sendable {
        public var limit: Int64?
        /// Memory plus swap (cgroup v1's memsw); -1 is unlimited.
        public var swap: Int64?
    }

    public struct CPU: Codable, Sendable {
        public var quota: Int64?
        public var period: UInt64?
    }

    public struct Pids: Codable, Sendable {
        public var limit: Int64
    }

    public struct DeviceRule: Codable, Sendable {
        public var allow: Bool
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var access: String?
    }
}

extension RuntimeSpec {
    /// Docker's default capability set.
    public static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    /// Docker's masked and read-only paths: kernel interfaces a container must not read or change.
    public static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    ]
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The filesystems every container gets.
    public static let defaultMounts: [Mount] = [
        Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
        Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
              options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
    ]

    /// Devices a container may use (the character devices runc creates, and terminals).
    public static let deviceRules: [DeviceRule] = [
        DeviceRule(allow: false, type: nil, major: nil, minor: nil, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),    // null
        DeviceRule(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),    // zero
        DeviceRule(allow: true, type: "c", major: 1, minor: 7, access: "rwm"),    // full
        DeviceRule(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),    // random
        DeviceRule(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),    // urandom
        DeviceRule(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),    // tty
        DeviceRule(allow: true, type: "c", major: 5, minor: 2, access: "rwm"),    // ptmx
        DeviceRule(allow: true, type: "c", major: 136, minor: nil, access: "rwm"), // pts
    ]
}
