@_exported import Builder
import Foundation

/// What a build reports: the builder's steps, and the pulls of base images the store lacks.
public enum BuildEvent: Sendable {
    case progress(BuildProgress)
    case pull(PullEvent)
}

extension Engine {
    /// `strata build`: the image a Dockerfile describes, with Docker's classic steps and a cache
    /// that says why it missed. Base images the store lacks are pulled (every base with `pull`).
    public func build(_ options: BuildOptions, events: @escaping @Sendable (BuildEvent) -> Void = { _ in }) async throws -> ImageStore.Image {
        let store = try self.store
        // Shared for the whole build: the images it starts from and the steps it has made stay
        // while it reads them; an `image prune` waits for it to end.
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let builder = Builder(store: store, engine: try containers, pullImage: { [self] name in
            try await self.image(name, pull: .always, events: { events(.pull($0)) })
        }, report: { events(.progress($0)) })
        return try await builder.build(options)
    }
}
