/// A content descriptor (image-spec descriptor.md): what a blob is, its digest and its size.
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: MediaType
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?
    public var artifactType: String?

    public init(mediaType: MediaType, digest: Digest, size: Int64,
                annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decode(MediaType.self, forKey: .mediaType)
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size \(size)")
        }
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
    }

    /// The `org.opencontainers.image.ref.name` annotation used by OCI layouts to name a manifest.
    public var refName: String? { annotations?[AnnotationKey.refName] }
}

public enum AnnotationKey {
    public static let refName = "org.opencontainers.image.ref.name"
    /// containerd's and skopeo's annotation for the full image name in an OCI archive.
    public static let imageName = "io.containerd.image.name"
    public static let created = "org.opencontainers.image.created"
}
