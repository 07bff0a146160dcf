import Foundation

/// What Docker keeps in a container's `HostConfig` beyond mounts and the network: resource
/// limits and privileges (`--memory`, `--cpus`, `--pids-limit`, `--ulimit`, `--cap-add`,
/// `--cap-drop`, `--privileged`, `--read-only`, `--security-opt no-new-privileges`). Fixed at
/// create; turned into the runtime spec's cgroup settings, rlimits and capabilities at start.
public struct HostConfig: Codable, Sendable, Equatable {
    /// Bytes of memory; nil is no limit.
    public var memory: Int64?
    /// Memory plus swap, in bytes; -1 is unlimited swap; nil is Docker's default (twice `memory`).
    public var memorySwap: Int64?
    /// CPUs in billionths (`--cpus 1.5` is 1_500_000_000).
    public var nanoCPUs: Int64?
    public var pidsLimit: Int64?
    public var ulimits: [Ulimit] = []
    /// `CAP_…` names, or `ALL`.
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var privileged = false
    public var readOnlyRootfs = false
    public var noNewPrivileges = false
    /// `--security-opt seccomp=unconfined`: no seccomp filter (Docker's default profile otherwise).
    public var seccompUnconfined = false
    /// `--security-opt seccomp=FILE`: the profile's JSON (moby's format), read at create as Docker's
    /// CLI reads it, and resolved for the machine at each start.
    public var seccompProfile: String?

    public struct Ulimit: Codable, Sendable, Equatable {
        /// As Docker spells it: `nofile`, `nproc`, `core`…
        public var name: String
        public var soft: UInt64
        public var hard: UInt64
    }

    public init() {}
}
