/// An image manifest (image-spec manifest.md; Docker schema 2 has the same shape).
public struct Manifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: MediaType?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: MediaType = .ociManifest, config: Descriptor, layers: [Descriptor],
                annotations: [String: String]? = nil) {
        schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// Decodes and checks a manifest: schema version 2, a config descriptor, known layer types.
    public static func decode(_ bytes: [UInt8], what: String = "image manifest") throws -> Manifest {
        let m = try JSONCoding.decode(Manifest.self, from: Data(bytes), what: what)
        guard m.schemaVersion == 2 else {
            throw StrataError(.unsupportedMediaType, "\(what): schemaVersion \(m.schemaVersion) is not supported (only 2)")
        }
        if let t = m.mediaType, !t.isManifest {
            throw StrataError(.unsupportedMediaType, "\(what): media type \(t) is not an image manifest")
        }
        for layer in m.layers where !layer.mediaType.isLayer {
            throw StrataError(.unsupportedMediaType,
                "\(what): layer \(layer.digest) has unsupported media type \(layer.mediaType)")
        }
        return m
    }
}

/// An image index (image-spec image-index.md) or a Docker manifest list.
public struct Index: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: MediaType?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: MediaType = .ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }
}

import Foundation
