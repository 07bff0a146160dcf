/// One `RUN --mount=...`, validated the way BuildKit's parseMount does. Values are unexpanded.
public struct RunMount: Sendable, Equatable, Codable {
    public enum MountType: String, Sendable, Equatable, Codable, CaseIterable {
        case bind, cache, tmpfs, secret, ssh
    }

    /// How concurrent builds share a cache mount.
    public enum Sharing: String, Sendable, Equatable, Codable {
        case shared, `private`, locked
    }

    public var type: MountType
    public var target: String?
    public var source: String?
    /// Stage or image the mount's files come from (bind and cache).
    public var from: String?
    /// Cache id, or secret/ssh id.
    public var id: String?
    /// Set for cache mounts only; defaults to `shared`.
    public var sharing: Sharing?
    /// Bind, secret and ssh mounts default to read-only; cache and tmpfs to read-write.
    public var readOnly: Bool
    /// Secret and ssh mounts: fail when the secret or agent socket is missing.
    public var required: Bool
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// tmpfs size in bytes.
    public var size: Int64?
    /// Secret mounts: expose the secret as this environment variable.
    public var env: String?

    public init(
        type: MountType, target: String? = nil, source: String? = nil, from: String? = nil, id: String? = nil,
        sharing: Sharing? = nil, readOnly: Bool = false, required: Bool = false, mode: UInt32? = nil,
        uid: UInt32? = nil, gid: UInt32? = nil, size: Int64? = nil, env: String? = nil
    ) {
        self.type = type
        self.target = target
        self.source = source
        self.from = from
        self.id = id
        self.sharing = sharing
        self.readOnly = readOnly
        self.required = required
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.env = env
    }
}
