import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1

/// A manifest or index as a registry served it: the exact bytes (its digest is over them).
public struct ManifestBlob: Sendable {
    public var bytes: [UInt8]
    public var mediaType: MediaType
    public var digest: Digest

    public init(bytes: [UInt8], mediaType: MediaType, digest: Digest) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.digest = digest
    }

    public var descriptor: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count)) }
}

extension RegistryClient {
    static let manifestAccept = [MediaType.ociIndex, .dockerManifestList, .ociManifest, .dockerManifest]
        .map(\.rawValue).joined(separator: ", ")

    public static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }
    public static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }

    /// The largest manifest or index a pull takes.
    public static let manifestLimit = 8 << 20

    /// GET a manifest by tag or digest. By digest, the bytes must hash to it.
    public func manifest(_ repository: String, reference: String) async throws -> ManifestBlob {
        let target = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(.GET, target, headers: ["Accept": Self.manifestAccept], scopes: [Self.pullScope(repository)],
                                      timeout: .seconds(120))
        // No image's manifest comes near this (registries refuse pushes over 4 MiB): a bigger
        // one is refused unread, not held in memory.
        let tooLarge = StrataError(.registry, "\(endpoint.name)/\(repository):\(reference): the registry sent a manifest larger than \(Self.manifestLimit >> 20) MiB, far past any image's: refused")
        if response.status.code == 200, let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > Self.manifestLimit {
            throw tooLarge
        }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: Self.manifestLimit) } catch is NIOTooManyBytesError { throw tooLarge }
        guard response.status.code == 200 else {
            throw await error(.GET, target, response, body: body, repository: repository, reference: reference, pushing: false)
        }
        let bytes = Array(buffer: body)
        let computed = Digest.sha256(of: bytes)
        if let expected = try? Digest(parsing: reference), expected != computed {
            throw StrataError(.digestMismatch,
                "manifest digest mismatch for \(endpoint.name)/\(repository)@\(expected): the registry served content with digest \(computed)")
        }
        let mediaType = Self.mediaType(of: bytes, header: response.headers.first(name: "Content-Type"))
        return ManifestBlob(bytes: bytes, mediaType: mediaType, digest: computed)
    }

    /// HEAD a manifest: its descriptor, or nil when the registry does not have it.
    public func manifestDescriptor(_ repository: String, reference: String, pushing: Bool = false) async throws -> Descriptor? {
        let target = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(.HEAD, target, headers: ["Accept": Self.manifestAccept],
                                      scopes: [pushing ? Self.pushScope(repository) : Self.pullScope(repository)], timeout: .seconds(60))
        switch response.status.code {
        case 200:
            guard let digest = response.headers.first(name: "Docker-Content-Digest").flatMap({ try? Digest(parsing: $0) }) else { return nil }
            let size = response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? 0
            return Descriptor(mediaType: MediaType(response.headers.first(name: "Content-Type") ?? ""), digest: digest, size: size)
        case 404: return nil
        default: throw await error(.HEAD, target, response, body: ByteBuffer(), repository: repository, reference: reference, pushing: pushing)
        }
    }

    /// PUT a manifest under a tag (or its digest).
    @discardableResult
    public func putManifest(_ repository: String, reference: String, manifest: ManifestBlob) async throws -> Digest {
        let bytes = manifest.bytes
        let target = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(.PUT, target, headers: ["Content-Type": manifest.mediaType.rawValue], scopes: [Self.pushScope(repository)],
                                      body: { .bytes(ByteBuffer(bytes: bytes)) }, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 201 || response.status.code == 200 else {
            throw await error(.PUT, target, response, body: body, repository: repository, reference: reference, pushing: true)
        }
        if let returned = response.headers.first(name: "Docker-Content-Digest").flatMap({ try? Digest(parsing: $0) }),
           returned != manifest.digest {
            throw StrataError(.digestMismatch, "the registry stored manifest \(manifest.digest) as \(returned)")
        }
        return manifest.digest
    }

    /// Every tag of a repository, following `Link` pagination.
    public func tags(_ repository: String) async throws -> [String] {
        var tags: [String] = []
        var next: String? = "/v2/\(repository)/tags/list?n=1000"
        while let target = next {
            let response = try await send(.GET, target, scopes: [Self.pullScope(repository)], timeout: .seconds(120))
            let body = try await response.body.collect(upTo: 32 << 20)
            guard response.status.code == 200 else {
                throw await error(.GET, target, response, body: body, repository: repository, reference: nil, pushing: false)
            }
            struct TagList: Decodable { var tags: [String]? }
            tags += (try? JSONDecoder().decode(TagList.self, from: body.data))?.tags ?? []
            next = response.headers.first(name: "Link").flatMap(Self.nextLink)
        }
        return tags
    }

    /// `</v2/x/tags/list?n=1000&last=y>; rel="next"` → the path.
    static func nextLink(_ header: String) -> String? {
        guard header.contains("rel=\"next\""), let start = header.firstIndex(of: "<"), let end = header.firstIndex(of: ">"), start < end else { return nil }
        return String(header[header.index(after: start)..<end])
    }

    /// The media type a manifest declares, else the Content-Type it came with.
    static func mediaType(of bytes: [UInt8], header: String?) -> MediaType {
        struct Probe: Decodable { var mediaType: String?; var manifests: [JSONValue]?; var config: JSONValue? }
        if let probe = try? JSONDecoder().decode(Probe.self, from: Data(bytes)) {
            if let m = probe.mediaType, !m.isEmpty { return MediaType(m) }
            if probe.manifests != nil { return .ociIndex }
            if probe.config != nil { return .ociManifest }
        }
        return MediaType(header?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "")
    }

    /// `docker.io/library/debian` → `debian`, as Docker names repositories in messages.
    static func familiar(_ name: String) -> String {
        (try? Reference(parsing: name))?.familiarName ?? name
    }
}
