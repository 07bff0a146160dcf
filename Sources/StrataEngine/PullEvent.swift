/// What a pull reports, in order: the reference (and, for `run`/`create`/`build`, that it was
/// missing locally), every layer's progress, and how it ended.
public enum PullEvent: Sendable {
    /// `run`, `create` or `build` needs an image the store lacks ("Unable to find image … locally").
    case notFoundLocally(Reference)
    /// The pull of this reference starts ("TAG: Pulling from PATH").
    case pulling(Reference)
    case transfer(TransferEvent)
    /// The image is in the store ("Digest: …", "Status: …").
    case pulled(PullResult)
}

public struct PullResult: Sendable {
    /// What was pulled, with its default tag made explicit.
    public var reference: Reference
    /// The digest the reference named (an index's, for a multi-platform image).
    public var digest: Digest
    /// Nothing moved: the store had the image under this name.
    public var upToDate: Bool
    public var image: ImageStore.Image?
}

public struct PullOptions: Sendable {
    /// The platform to take from a multi-platform image (default: this host's).
    public var platform: Platform?
    /// Overrides the engine's TLS verification for this pull.
    public var tlsVerify: Bool?

    public init(platform: Platform? = nil, tlsVerify: Bool? = nil) {
        self.platform = platform
        self.tlsVerify = tlsVerify
    }
}

/// When `run`, `create` and `build` pull their image first, as Docker's `--pull`.
public enum PullPolicy: String, Sendable, CaseIterable {
    /// Only when the store lacks it (the default).
    case missing
    case always
    case never
}
