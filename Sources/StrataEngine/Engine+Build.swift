@_exported import Builder
import Foundation

/// What a build reports.
public enum BuildEvent: Sendable {
    /// A line of the classic builder's output ("Step 2/5 : RUN make", " ---> Using cache", …).
    case line(String)
    /// A base image is being pulled.
    case pull(PullEvent)
}

extension Engine {
    /// `strata build`: the image a Dockerfile describes, with Docker's classic steps and a cache
    /// that says why it missed. Base images the store lacks are pulled (every base with `pull`).
    public func build(_ options: BuildOptions, events: @escaping @Sendable (BuildEvent) -> Void = { _ in }) async throws -> ImageStore.Image {
        let store = try self.store
        let builder = Builder(store: store, engine: try containers, pullImage: { [self] name in
            try await self.image(name, pull: .always, events: { events(.pull($0)) })
        }, say: { events(.line($0)) })
        return try await builder.build(options)
    }
}
