import Foundation
import ImageSpec
import Snapshots

/// The OCI runtime that runs containers from a bundle: runc by default (crun 1.8 rejects this
/// kind of host's hybrid cgroup layout), crun where asked for, or any compatible binary.
public final class OCIRuntime {
    public let requested: String?
    /// runc's and crun's own state directory for Strata's containers.
    public let stateRoot: String

    public init(requested: String?, stateRoot: String) throws {
        self.requested = requested.flatMap { $0.isEmpty ? nil : $0 }
        self.stateRoot = stateRoot
        try FileSystem.createDirectory(stateRoot, mode: 0o700)
    }

    /// The runtime binary; a clear error when none is installed.
    public func executable() throws -> String {
        let candidates = requested.map { [$0] } ?? ["runc", "crun"]
        for name in candidates {
            if name.contains("/") {
                if FileManager.default.isExecutableFile(atPath: name) { return name }
                continue
            }
            for dir in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        throw StrataError(.invalidArgument,
            "no OCI runtime found (\(candidates.joined(separator: ", "))): install one (apt-get install runc) or name it with --runtime or STRATA_RUNTIME")
    }

    func arguments(_ command: [String]) -> [String] { ["--root", stateRoot] + command }

    /// Sends a signal to the container's process (ignored when it is not running).
    public func kill(_ id: String, signal: String) {
        guard let path = try? executable() else { return }
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        if let pid = try? Subprocess.spawn(path, arguments(["kill", id, signal]), stdin: null, stdout: null, stderr: null) {
            _ = Subprocess.wait(pid)
        }
    }

    /// Freezes or thaws the container's processes (commit and export read a tree that must not change underfoot).
    public func pause(_ id: String) throws { try control(["pause", id], what: "pause") }
    public func resume(_ id: String) { try? control(["resume", id], what: "resume") }

    private func control(_ command: [String], what: String) throws {
        let path = try executable()
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        let pid = try Subprocess.spawn(path, arguments(command), stdin: null, stdout: null, stderr: null)
        let status = Subprocess.wait(pid)
        guard status == 0 else {
            throw StrataError(.conflict, "cannot \(what) container \(command.last!.prefix(12)) (\(path) exited \(status)); stop it first")
        }
    }

    /// Forgets the container's runtime state.
    public func delete(_ id: String, force: Bool) {
        guard let path = try? executable() else { return }
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        if let pid = try? Subprocess.spawn(path, arguments(["delete"] + (force ? ["--force"] : []) + [id]), stdin: null, stdout: null, stderr: null) {
            _ = Subprocess.wait(pid)
        }
    }
}
