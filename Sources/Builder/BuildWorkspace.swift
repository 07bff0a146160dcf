import ImageStore
import Runtime

/// What a build works in: a store, the container engine over it, and how a missing base image
/// gets into it. A workspace holds one database connection, used by one task at a time, so
/// stages built at the same time each open their own — as separate `strata build` processes
/// would, which the store already serves safely.
public struct BuildWorkspace {
    public let store: ImageStore
    public let engine: ContainerEngine
    public let pullImage: (String) async throws -> ImageStore.Image

    public init(store: ImageStore, engine: ContainerEngine, pullImage: @escaping (String) async throws -> ImageStore.Image) {
        self.store = store
        self.engine = engine
        self.pullImage = pullImage
    }
}
