import Foundation
import ImageSpec

extension ImageStore {
    /// One step of an image's history as the step that makes it describes itself.
    public struct Step: Sendable {
        public var created: Date
        public var createdBy: String?
        public var comment: String?
        public var author: String?

        public init(created: Date, createdBy: String?, comment: String? = nil, author: String? = nil) {
            self.created = created
            self.createdBy = createdBy
            self.comment = comment
            self.author = author
        }
    }

    /// The diff ID of an empty layer (a tar of two zero blocks): Docker records no layer for it.
    public static let emptyLayerDiffID = Digest.sha256(of: [UInt8](repeating: 0, count: 1024))

    /// A new image one step above `parent` (nil: the first step): the one way Strata adds a layer
    /// and its history entry — build steps, commit, import and squash all come here.
    ///
    /// `config` is the new image's config, already changed (its rootfs and history still the
    /// parent's). The step's time becomes `created`; its author and comment become the config's
    /// (cleared when nil, as Docker's child images do); the history gets the step, marked
    /// `empty_layer` when there is no layer or the layer is empty (which, as in Docker, is then
    /// left out); `rootfs` becomes the parent's layers plus this one; the parent is recorded.
    /// The caller holds the ingest lock from writing the layer until this returns.
    @discardableResult
    public func commitStep(_ step: Step, config: ImageConfig, layer: Layer?, parent: Image?, tags: [Reference] = []) throws -> Image {
        var config = config
        var layers = try parent.map { try self.layers(of: $0) } ?? []
        let added = layer.flatMap { $0.diffID == Self.emptyLayerDiffID ? nil : $0 }
        if let added { layers.append(added) }
        config.created = step.created
        config.author = step.author
        config.comment = step.comment
        config.rootfs = RootFS(diffIDs: layers.map(\.diffID))
        var entry = History(created: step.created, createdBy: step.createdBy, comment: step.comment, emptyLayer: added == nil)
        entry.author = step.author
        config.history = config.history + [entry]
        return try commitImage(config: config, layers: layers, tags: tags, parent: parent?.id)
    }

    /// Writes a config and an OCI manifest over layers already in the store, and records the image.
    /// The caller holds the ingest lock. (`commitStep` is how steps are added; this only records.)
    public func commitImage(config: ImageConfig, layers: [Layer], tags: [Reference], parent: Digest? = nil) throws -> Image {
        let configBytes = try config.encoded()
        let configDigest = try content.ingest(bytes: configBytes)
        let manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                                layers: layers.map(\.descriptor))
        let manifestBytes = Array(try JSONCoding.encoder.encode(manifest))
        let manifestDigest = try content.ingest(bytes: manifestBytes)
        return try record(NewImage(manifestDigest: manifestDigest, manifestMediaType: .ociManifest, config: config,
                                   configDigest: configDigest, layers: layers, parent: parent), tags: tags).image
    }
}
