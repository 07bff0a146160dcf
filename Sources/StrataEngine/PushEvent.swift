/// What a push reports: the repository it goes to, every layer's progress, and the result.
public enum PushEvent: Sendable {
    /// The image was found and the push starts ("The push refers to repository [NAME]").
    case pushing(Reference)
    case transfer(TransferEvent)
    case pushed(PushResult)
}

public struct PushResult: Sendable {
    /// What was pushed, with its default tag made explicit.
    public var reference: Reference
    /// The manifest the registry now holds under the tag (a re-compressed push's differs from the store's).
    public var manifestDigest: Digest
    public var manifestSize: Int
    /// Nothing moved: the registry had the image under this tag.
    public var upToDate: Bool
}

public struct PushOptions: Sendable {
    /// Re-compress layers that differ (default: compressed layers as stored, uncompressed ones
    /// gzip-compressed, as Docker does).
    public var compression: Compression?
    /// Upload blobs in chunks of this many bytes (default: one request per blob).
    public var chunkSize: Int64?
    public var tlsVerify: Bool?

    public init(compression: Compression? = nil, chunkSize: Int64? = nil, tlsVerify: Bool? = nil) {
        self.compression = compression
        self.chunkSize = chunkSize
        self.tlsVerify = tlsVerify
    }
}
