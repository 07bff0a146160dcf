/// `RUN [--mount=...] [--network=...] [--security=...] command`.
public struct RunArguments: Sendable, Equatable, Codable {
    public var command: CommandForm
    public var mounts: [RunMount]
    /// `default`, `none` or `host`.
    public var network: String?
    /// `sandbox` or `insecure`.
    public var security: String?

    public init(command: CommandForm, mounts: [RunMount] = [], network: String? = nil, security: String? = nil) {
        self.command = command
        self.mounts = mounts
        self.network = network
        self.security = security
    }
}
