@_exported import Builder
import Foundation

/// What a build reports: the builder's steps, and the pulls of base images the store lacks.
public enum BuildEvent: Sendable {
    case progress(BuildProgress)
    /// A step's progress in a stage built at the same time as others, with the stage's name
    /// (`AS name`, or `stage-N`).
    case stage(String, BuildProgress)
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
        // Stages built alongside others open workspaces of their own: a workspace is used by one task at a time.
        let workspace: @Sendable (Engine) throws -> BuildWorkspace = { engine in
            BuildWorkspace(store: try engine.store, engine: try engine.containers, pullImage: { name in
                try await engine.image(name, pull: .always, events: { events(.pull($0)) })
            })
        }
        let root = self.root, engineOptions = self.options
        let builder = Builder(workspace: try workspace(self), openWorkspace: { try workspace(Engine(root: root, options: engineOptions)) },
                              report: { progress, stage in events(stage.map { .stage($0, progress) } ?? .progress(progress)) })
        return try await builder.build(options)
    }
}
