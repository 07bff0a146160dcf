import Foundation
import ImageSpec

/// A manifest PUT checked against the image spec before anything is stored: its JSON, its media
/// type (the body's `mediaType` must agree with `Content-Type`; without one, `Content-Type`
/// decides), its size, and, for a PUT by digest, its digest. What it names is listed for the
/// storage to check inside the transaction that stores it.
public struct ValidatedManifest: Sendable {
    /// The spec asks registries to take manifests of at least 4 MB; bigger ones get 413.
    public static let maxBytes = 4 << 20

    public static let acceptedMediaTypes: Set<String> = [
        MediaType.ociManifest.rawValue, MediaType.ociIndex.rawValue,
        MediaType.dockerManifest.rawValue, MediaType.dockerManifestList.rawValue,
    ]

    public var digest: Digest
    public var mediaType: String
    /// Config and layers (or an artifact's blobs), which the repository must hold.
    public var blobs: [Digest]
    /// An index's children, which the repository must hold.
    public var manifests: [Digest]
    /// The manifest this one refers to (OCI 1.1 referrers); it need not exist.
    public var subject: Digest?
    /// What the referrers API reports: `artifactType`, else an image manifest's config media type.
    public var artifactType: String?
    public var annotationsJSON: String?

    private struct Document: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }

    /// - Parameters:
    ///   - contentType: the request's `Content-Type`, parameters ignored.
    ///   - reference: a digest the PUT named, which the bytes must hash to (in its algorithm).
    public init(bytes: [UInt8], contentType: String?, reference: Digest?) throws {
        guard bytes.count <= Self.maxBytes else {
            throw DistributionError(.manifestInvalid, "manifest is \(bytes.count) bytes, over the limit of \(Self.maxBytes)", status: .contentTooLarge)
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch {
            throw DistributionError(.manifestInvalid, "manifest is not valid JSON for an image manifest or index: \(Self.describe(error))")
        }
        let declared = contentType.map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces) }
        if let own = document.mediaType, let declared, !declared.isEmpty, own != declared {
            throw DistributionError(.manifestInvalid, "manifest mediaType \(own) differs from its Content-Type \(declared)")
        }
        guard let mediaType = document.mediaType ?? declared, !mediaType.isEmpty else {
            throw DistributionError(.manifestInvalid, "manifest has no mediaType and the request no Content-Type")
        }
        guard Self.acceptedMediaTypes.contains(mediaType) else {
            throw DistributionError(.manifestInvalid,
                "unsupported manifest media type \(mediaType): expected an OCI image manifest or index, or a Docker schema-2 manifest or manifest list")
        }
        if let version = document.schemaVersion, version != 2 {
            throw DistributionError(.manifestInvalid, "manifest schemaVersion \(version) is not supported (only 2)")
        }
        let isIndex = mediaType == MediaType.ociIndex.rawValue || mediaType == MediaType.dockerManifestList.rawValue
        if isIndex {
            guard let children = document.manifests else {
                throw DistributionError(.manifestInvalid, "\(mediaType) has no \"manifests\" list")
            }
            manifests = children.map(\.digest)
            blobs = []
        } else {
            guard let config = document.config else {
                throw DistributionError(.manifestInvalid, "\(mediaType) has no \"config\" descriptor")
            }
            // Layers with URLs (Docker's foreign layers) live elsewhere: the registry need not hold them.
            blobs = [config.digest] + (document.layers ?? []).filter { ($0.urls ?? []).isEmpty }.map(\.digest)
            manifests = []
        }
        let algorithm = reference?.algorithm ?? .sha256
        var digester = Digester(algorithm)
        bytes.withUnsafeBytes { digester.update($0) }
        digest = digester.finalize()
        if let reference, reference != digest {
            throw DistributionError(.digestInvalid, "manifest digest is \(digest), not the \(reference) the request named")
        }
        self.mediaType = mediaType
        subject = document.subject?.digest
        artifactType = document.artifactType ?? (isIndex ? nil : document.config?.mediaType.rawValue)
        annotationsJSON = document.annotations.flatMap { try? JSONCoding.encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return c.debugDescription
        case DecodingError.keyNotFound(let key, _): return "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: return "\(error)"
        }
    }
}
