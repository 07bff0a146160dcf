/// Docker's default seccomp profile (moby profiles/seccomp/default.json, for x86_64), as data.
///
/// The profile denies every system call (EPERM) except those its rules allow. A rule may hold only
/// for a container with, or without, some capabilities (moby's `includes.caps` / `excludes.caps`),
/// and may allow a call only for some argument values. Only the rules that apply to x86_64 and its
/// 32-bit sub-architectures (x86, x32) are kept; moby's rules for other architectures are left out.
public struct SeccompProfile: Sendable, Equatable {
    /// One entry of the profile's `syscalls`: an action for some system calls, perhaps only for some
    /// capabilities or argument values.
    public struct Rule: Sendable, Equatable {
        public var names: [String]
        /// Allowed only when the container has all of these capabilities (e.g. ["CAP_SYS_ADMIN"]); empty: always.
        public var requiresCapabilities: [String] = []
        /// Allowed only when the container does NOT have any of these capabilities.
        public var unlessCapabilities: [String] = []
        /// Argument conditions (all must hold), as the OCI runtime spec's seccomp args.
        public var args: [Argument] = []
        /// The action: "SCMP_ACT_ALLOW" or "SCMP_ACT_ERRNO" (with errnoRet).
        public var action: String = "SCMP_ACT_ALLOW"
        public var errnoRet: UInt32? = nil
    }

    /// A condition on one argument of a call: `args[index] <op> value` (for SCMP_CMP_MASKED_EQ,
    /// `args[index] & value == valueTwo`).
    public struct Argument: Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64 = 0
        /// "SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"...
        public var op: String
    }

    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]
    /// The runtime spec's seccomp flags (SECCOMP_FILTER_FLAG_LOG…), as a profile file may set them.
    public var flags: [String] = []
    public var rules: [Rule]
}

extension SeccompProfile {
    /// Docker's default profile as moby ships it for Docker Engine 23.0/24.0 (after the 2023 change
    /// that allows `name_to_handle_at` to everyone, and the 2022 one that refuses AF_VSOCK sockets),
    /// in moby's order and grouping.
    public static let dockerDefault = SeccompProfile(
        defaultAction: "SCMP_ACT_ERRNO",
        defaultErrnoRet: 1, // EPERM
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        rules: [
            // Every container: the calls everyday programs make.
            Rule(names: [
                "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
                "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
                "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
                "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
                "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
                "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
                "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
                "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
                "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
                "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
                "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat",
                "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
                "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
                "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
                "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
                "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
                "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
                "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
                "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "io_uring_enter",
                "io_uring_register", "io_uring_setup", "ipc", "kill", "landlock_add_rule",
                "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
                "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
                "lsetxattr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret",
                "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
                "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
                "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
                "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
                "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
                "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
                "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
                "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
                "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
                "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
                "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
                "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
                "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
                "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
                "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
                "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
                "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64",
                "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
                "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
                "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
                "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
                "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget",
                "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall",
                "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
                "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
                "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
                "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
                "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
                "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
                "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
                "writev",
            ]),
            // Every container (moby: only on kernel 4.8 or later, where ptrace can no longer be used
            // to get around seccomp; older kernels are not supported here).
            Rule(names: ["process_vm_readv", "process_vm_writev", "ptrace"]),
            // socket(2) for any address family but AF_VSOCK (40).
            Rule(names: ["socket"], args: [Argument(index: 0, value: 40, op: "SCMP_CMP_NE")]),
            // personality(2) only for PER_LINUX (0x0), PER_LINUX32 (0x8), UNAME26 (0x20000),
            // PER_LINUX32|UNAME26 (0x20008), and 0xffffffff (a query of the current persona).
            Rule(names: ["personality"], args: [Argument(index: 0, value: 0x0, op: "SCMP_CMP_EQ")]),
            Rule(names: ["personality"], args: [Argument(index: 0, value: 0x8, op: "SCMP_CMP_EQ")]),
            Rule(names: ["personality"], args: [Argument(index: 0, value: 0x20000, op: "SCMP_CMP_EQ")]),
            Rule(names: ["personality"], args: [Argument(index: 0, value: 0x20008, op: "SCMP_CMP_EQ")]),
            Rule(names: ["personality"], args: [Argument(index: 0, value: 0xffff_ffff, op: "SCMP_CMP_EQ")]),
            // x86 only: arch_prctl (moby: amd64 and x32) and modify_ldt (amd64, x32 and x86).
            Rule(names: ["arch_prctl"]),
            Rule(names: ["modify_ldt"]),

            // Capability-conditional rules.
            Rule(names: ["open_by_handle_at"], requiresCapabilities: ["CAP_DAC_READ_SEARCH"]),
            Rule(names: [
                "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                "umount2", "unshare",
            ], requiresCapabilities: ["CAP_SYS_ADMIN"]),
            // Without CAP_SYS_ADMIN, clone(2) only when its flags (argument 0 on x86_64) ask for no new
            // namespace: flags & 0x7E020000 == 0, the mask being CLONE_NEWNS (0x00020000) |
            // CLONE_NEWCGROUP (0x02000000) | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
            // CLONE_NEWNET (0x04000000 to 0x40000000): 2114060288.
            Rule(names: ["clone"], unlessCapabilities: ["CAP_SYS_ADMIN"],
                 args: [Argument(index: 0, value: 0x7E02_0000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]),
            // Without CAP_SYS_ADMIN, clone3(2) fails with ENOSYS (its flags are in memory, out of a
            // filter's reach), so that C libraries fall back to clone(2) and the rule above.
            Rule(names: ["clone3"], unlessCapabilities: ["CAP_SYS_ADMIN"],
                 action: "SCMP_ACT_ERRNO", errnoRet: 38), // ENOSYS
            Rule(names: ["reboot"], requiresCapabilities: ["CAP_SYS_BOOT"]),
            Rule(names: ["chroot"], requiresCapabilities: ["CAP_SYS_CHROOT"]),
            Rule(names: ["delete_module", "init_module", "finit_module"],
                 requiresCapabilities: ["CAP_SYS_MODULE"]),
            Rule(names: ["acct"], requiresCapabilities: ["CAP_SYS_PACCT"]),
            Rule(names: [
                "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
            ], requiresCapabilities: ["CAP_SYS_PTRACE"]),
            Rule(names: ["iopl", "ioperm"], requiresCapabilities: ["CAP_SYS_RAWIO"]),
            Rule(names: ["settimeofday", "stime", "clock_settime", "clock_settime64"],
                 requiresCapabilities: ["CAP_SYS_TIME"]),
            Rule(names: ["vhangup"], requiresCapabilities: ["CAP_SYS_TTY_CONFIG"]),
            Rule(names: ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
                 requiresCapabilities: ["CAP_SYS_NICE"]),
            Rule(names: ["syslog"], requiresCapabilities: ["CAP_SYSLOG"]),
            Rule(names: ["bpf"], requiresCapabilities: ["CAP_BPF"]),
            Rule(names: ["perf_event_open"], requiresCapabilities: ["CAP_PERFMON"]),
        ])
}

extension SeccompProfile {
    /// The rules that apply to a container with `capabilities`, in the OCI runtime spec's `linux.seccomp` shape.
    ///
    /// A rule is kept when the container has every capability in its `requiresCapabilities` and none
    /// in its `unlessCapabilities` (moby decides by the bounding set); the order is the profile's.
    public func rules(for capabilities: [String]) -> [Rule] {
        let held = Set(capabilities)
        return rules.filter { rule in
            rule.requiresCapabilities.allSatisfy { held.contains($0) }
                && !rule.unlessCapabilities.contains { held.contains($0) }
        }
    }
}
