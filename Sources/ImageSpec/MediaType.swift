/// Media types of the OCI image spec (media-types.md) and Docker's image manifest v2 schema 2.
public struct MediaType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    // OCI
    public static let ociIndex: MediaType = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest: MediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig: MediaType = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer: MediaType = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip: MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd: MediaType = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNondistributable: MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    public static let ociLayerNondistributableGzip: MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let ociEmpty: MediaType = "application/vnd.oci.empty.v1+json"
    // Docker schema 2
    public static let dockerManifestList: MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest: MediaType = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig: MediaType = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer: MediaType = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip: MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerForeign: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let dockerLayerZstd: MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"

    public var isIndex: Bool { self == .ociIndex || self == .dockerManifestList }
    public var isManifest: Bool { self == .ociManifest || self == .dockerManifest }
    public var isConfig: Bool { self == .ociConfig || self == .dockerConfig }
    public var isLayer: Bool { layerCompression != nil }

    /// The compression a layer media type declares; nil for anything that is not a layer.
    public var layerCompression: Compression? {
        switch self {
        case .ociLayer, .dockerLayer, .ociLayerNondistributable: return Compression.none
        case .ociLayerGzip, .dockerLayerGzip, .dockerLayerForeign, .ociLayerNondistributableGzip: return .gzip
        case .ociLayerZstd, .dockerLayerZstd: return .zstd
        default: return nil
        }
    }

    /// The layer media type for a compression, in the OCI or the Docker family.
    public static func layer(_ compression: Compression, docker: Bool = false) -> MediaType {
        switch (compression, docker) {
        case (.none, false): return .ociLayer
        case (.gzip, false): return .ociLayerGzip
        case (.zstd, false): return .ociLayerZstd
        case (.none, true): return .dockerLayer
        case (.gzip, true): return .dockerLayerGzip
        case (.zstd, true): return .dockerLayerZstd
        }
    }
}

/// How a layer's tar stream is compressed.
public enum Compression: String, Sendable, Codable, CaseIterable {
    case none
    case gzip
    case zstd

    /// Sniffs the compression from a stream's first bytes (gzip 1f 8b, zstd 28 b5 2f fd).
    public static func detect(_ prefix: some Collection<UInt8>) -> Compression {
        let b = Array(prefix.prefix(4))
        if b.count >= 2, b[0] == 0x1f, b[1] == 0x8b { return .gzip }
        if b.count >= 4, b == [0x28, 0xb5, 0x2f, 0xfd] { return .zstd }
        return .none
    }
}
