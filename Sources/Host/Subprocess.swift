import CLinux
import Foundation
import ImageSpec
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Every program Strata starts goes through here: posix_spawn with exactly the descriptors given,
/// default signal handling, and (for detached monitors) a new session. `capture` runs a program to
/// completion and keeps its output; long-lived children (the OCI runtime, a monitor) are spawned
/// and waited for by their owners.
///
/// Not swift-subprocess: its `run` owns the child until it exits, from an async context, while a
/// container's runtime is a child this process must spawn synchronously with inherited pipes,
/// wait for itself, and sometimes leave running in its own session.
public enum Subprocess {
    /// Runs a program to completion, with the caller's stdio; returns its exit status (128+signal when killed).
    @discardableResult
    public static func run(_ path: String, _ arguments: [String], environment: [String]? = nil) -> Int32 {
        guard let pid = try? spawn(path, arguments, environment: environment) else { return 127 }
        return wait(pid)
    }

    public static func spawn(_ path: String, _ arguments: [String], environment: [String]? = nil,
                             stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil, newSession: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if let stderr { posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
        strata_spawn_closefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children start with default signal handling whatever this process ignores (SIGINT while
        // it waits for a container, SIGPIPE inherited from a test harness…).
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF) | (newSession ? strata_spawn_setsid() : 0))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessEnvironment.current).map { strdup($0) } + [nil]
        defer { env.forEach { free($0) } }
        logger.debug("spawn \(([path] + arguments).joined(separator: " "))")
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, env)
        guard rc == 0 else { throw StrataError.posix("cannot run \(path)", errno: rc) }
        return pid
    }

    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 127 }
        }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}

public enum ProcessEnvironment {
    public static var current: [String] {
        ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
    }
}

#if !os(Linux)
#error("Strata runs on Linux only: it needs overlayfs, mount namespaces, openat2(2) and runc.")
#endif
