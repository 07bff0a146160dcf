import Foundation
import ImageSpec
import Host
import Logging

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

    /// Sends a signal to the container's process. A container that is not running is not an
    /// error here (stop and rm race with its exit); runc's stderr is logged at debug level.
    public func kill(_ id: String, signal: String) {
        guard let path = try? executable() else { return }
        _ = try? Subprocess.capture(path, arguments(["kill", id, signal]))
    }

    /// Freezes or thaws the container's processes (commit and export read a tree that must not change underfoot).
    public func pause(_ id: String) throws {
        try Subprocess.check(try executable(), arguments(["pause", id]),
                             what: "cannot pause container \(id.prefix(12)) (stop it first)", code: .runtimeFailed)
    }

    public func resume(_ id: String) {
        guard let path = try? executable() else { return }
        _ = try? Subprocess.capture(path, arguments(["resume", id]))
    }

    /// The host pid of the container's first process, from the runtime's state (runc and crun
    /// both write `init_process_pid`); nil when it has none.
    public func pid(_ id: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: "\(stateRoot)/\(id)/state.json"),
              let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return (state["init_process_pid"] as? NSNumber).map { Int32(truncating: $0) }
    }

    /// Forgets the container's runtime state.
    public func delete(_ id: String, force: Bool) {
        // runc (and crun, youki) keep a container's state in <root>/<id>, and `runc run` removes
        // it when the container ends: without it there is nothing to delete, and no process to spawn.
        guard FileSystem.exists("\(stateRoot)/\(id)"), let path = try? executable() else { return }
        _ = try? Subprocess.capture(path, arguments(["delete"] + (force ? ["--force"] : []) + [id]))
    }
}
