import ImageSpec
import Runtime

/// What `strata build` was asked for.
public struct BuildOptions: Sendable {
    public var context: String
    /// The Dockerfile's text, and how messages name it.
    public var dockerfile: String
    public var dockerfileName: String
    public var tags: [Reference] = []
    public var buildArgs: [String: String] = [:]
    public var target: String?
    public var noCache = false
    /// Pull base images even when the store has them.
    public var pull = false
    public var labels: [String: String] = [:]
    public var network: ContainerSpec.Network = .host
    /// No step output: only the image ID at the end.
    public var quiet = false
    public var platform: Platform?
    /// Collapse the layers the target stage adds into one.
    public var squash = false
    /// Date the images by the newest base image (1970 for scratch) instead of the clock, so the
    /// same inputs make the same image (SOURCE_DATE_EPOCH, when set, wins). COPY never records
    /// an mtime either way; RUN layers keep the times their commands wrote.
    public var reproducible = false

    public init(context: String, dockerfile: String, dockerfileName: String = "Dockerfile") {
        self.context = context
        self.dockerfile = dockerfile
        self.dockerfileName = dockerfileName
    }
}
