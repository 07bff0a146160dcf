import Foundation
import ImageSpec

/// An image made up for a test: layers as given (any bytes, any layer media type), a config
/// naming their diff IDs, and an OCI manifest — every blob with its exact bytes and descriptor.
public struct TestImage: Sendable {
    public var layers: [Descriptor]
    public var layerBytes: [[UInt8]]
    public var config: Descriptor
    public var configBytes: [UInt8]
    public var manifestBytes: [UInt8]
    public var manifestMediaType: MediaType
    public var manifestDigest: Digest { Digest.sha256(of: manifestBytes) }
    public var manifestDescriptor: Descriptor {
        Descriptor(mediaType: manifestMediaType, digest: manifestDigest, size: Int64(manifestBytes.count))
    }

    /// - Parameters:
    ///   - layers: each layer's blob and media type.
    ///   - diffIDs: the uncompressed digests (default: the blobs' own, right for uncompressed layers).
    public init(layers: [(bytes: [UInt8], mediaType: MediaType)], diffIDs: [Digest]? = nil) throws {
        layerBytes = layers.map(\.bytes)
        self.layers = layers.map { Descriptor(mediaType: $0.mediaType, digest: Digest.sha256(of: $0.bytes), size: Int64($0.bytes.count)) }
        var config = ImageConfig(architecture: Platform.host.architecture, os: Platform.host.os,
                                 diffIDs: diffIDs ?? self.layers.map(\.digest))
        config.json["strata-test"] = .string(UUID().uuidString)  // each image its own config
        configBytes = try config.encoded()
        self.config = Descriptor(mediaType: .ociConfig, digest: Digest.sha256(of: configBytes), size: Int64(configBytes.count))
        manifestMediaType = .ociManifest
        let manifest = Manifest(mediaType: .ociManifest, config: self.config, layers: self.layers)
        manifestBytes = Array(try JSONCoding.encoder.encode(manifest))
    }

    /// Layers of random bytes, uncompressed media type.
    public static func random(layerSizes: [Int]) throws -> TestImage {
        try TestImage(layers: layerSizes.map { size in ((0..<size).map { _ in UInt8.random(in: 0...255) }, .ociLayer) })
    }

    /// The bytes of any blob of the image, by digest.
    public func blob(_ digest: Digest) -> [UInt8]? {
        if digest == config.digest { return configBytes }
        if digest == manifestDigest { return manifestBytes }
        return layers.firstIndex { $0.digest == digest }.map { layerBytes[$0] }
    }
}
