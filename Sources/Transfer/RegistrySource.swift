import Foundation
import ImageSpec
import NIOCore
import Registry

/// An image in a registry repository, by tag or digest.
public final class RegistrySource: ImageSource {
    public let client: RegistryClient
    public let repository: String
    public let reference: String

    public init(client: RegistryClient, repository: String, reference: String) {
        self.client = client
        self.repository = repository
        self.reference = reference
    }

    public var name: String { "\(client.endpoint.name)/\(repository)" }

    public func rootManifest() async throws -> ManifestBlob {
        try await client.manifest(repository, reference: reference)
    }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestBlob {
        try await client.manifest(repository, reference: descriptor.digest.description)
    }

    public func blobBytes(_ descriptor: Descriptor) async throws -> [UInt8] {
        guard descriptor.size <= 64 << 20 else {
            throw StrataError(.invalidArchive, "\(name): blob \(descriptor.digest) is \(descriptor.size) bytes, too large for a config")
        }
        var bytes: [UInt8] = []
        try await client.fetchBlob(repository, descriptor) { chunk in bytes.append(contentsOf: chunk.readableBytesView) }
        let actual = Digest.sha256(of: bytes)
        guard actual == descriptor.digest else {
            throw StrataError(.digestMismatch, "\(name): blob digest mismatch: expected \(descriptor.digest), got \(actual)")
        }
        return bytes
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobContent {
        let client = client, repository = repository
        return .stream { consume in try await client.fetchBlob(repository, descriptor, consume: consume) }
    }
}

/// A registry repository, written under a tag (or by digest alone).
public final class RegistryDestination: ImageDestination {
    public let client: RegistryClient
    public let repository: String
    public let tag: String?
    /// Chunk size for chunked uploads; nil uploads each blob in one request.
    public let chunkSize: Int64?
    /// Other repositories of this registry a blob is known to be in (mount candidates).
    let knownSources: @Sendable (Digest) -> [String]
    /// Manifests the image was pushed as before (re-compressed): finding one of them under the
    /// tag means the registry holds the image.
    let pushedAs: Set<Digest>

    public init(client: RegistryClient, repository: String, tag: String?, chunkSize: Int64? = nil, pushedAs: Set<Digest> = [],
                knownSources: @escaping @Sendable (Digest) -> [String] = { _ in [] }) {
        self.client = client
        self.repository = repository
        self.tag = tag
        self.chunkSize = chunkSize
        self.pushedAs = pushedAs
        self.knownSources = knownSources
    }

    public var name: String { "\(client.endpoint.name)/\(repository)" }

    public func holds(root: ManifestBlob) async throws -> Descriptor? {
        guard let existing = try await client.manifestDescriptor(repository, reference: tag ?? root.digest.description, pushing: true)
        else { return nil }
        return existing.digest == root.digest || pushedAs.contains(existing.digest) ? existing : nil
    }

    public func begin(_ plan: ImagePlan) async throws {}

    public func status(of blob: Descriptor) async throws -> BlobStatus {
        if try await client.blobExists(repository, blob.digest, pushing: true) { return .present }
        if let from = knownSources(blob.digest).first(where: { $0 != repository }) { return .mountable(from: from) }
        return .missing
    }

    public func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
                      progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus {
        var session: String
        if case .mountable(let from) = status {
            switch try await client.startUpload(repository, mount: blob.digest, from: from) {
            case .mounted: return .mounted(from: from)
            case .session(let location): session = location
            }
        } else {
            guard case .session(let location) = try await client.startUpload(repository) else { return .present }
            session = location
        }
        switch content {
        case .file, .stored, .staged:
            try await client.upload(repository, session: session, descriptor: blob, file: content.localFile!, chunkSize: chunkSize, progress: progress)
        case .stream:
            // A stream (another registry's download) is spooled and verified first: an upload
            // needs its length, and a failed one is retried from the file.
            let path = SpoolDirectory.newPath("blob")
            defer { unlink(path) }
            let digest = try await withReader(content) { reader -> Digest in
                let file = try FileWriter(path: path, mode: 0o600, exclusive: true)
                let digesting = DigestingWriter(file)
                try reader.copy(to: digesting)
                try file.flush()
                return digesting.digest()
            }
            guard digest == blob.digest else {
                throw StrataError(.digestMismatch, "blob digest mismatch: expected \(blob.digest), got \(digest)")
            }
            try await client.upload(repository, session: session, descriptor: blob, file: path, chunkSize: chunkSize, progress: progress)
        }
        return .written
    }

    /// Compresses and uploads at once: the bytes go out in one streamed PATCH while they are
    /// made, and the closing PUT names the digest they turned out to have.
    public func writeProduced(layer: Int, mediaType: MediaType, produce: @escaping @Sendable (ByteWriter) throws -> Void) async throws -> Descriptor? {
        guard chunkSize == nil else { return nil }  // chunks need their offsets: spool instead
        guard case .session(let session) = try await client.startUpload(repository) else { return nil }
        let pipe = OutboundBytePipe()
        let producer = Task {
            try await onThread("strata-compress") { () throws -> Descriptor in
                do {
                    let counting = DigestingWriter(pipe)
                    try produce(counting)
                    try counting.finish()
                    pipe.close()
                    return Descriptor(mediaType: mediaType, digest: counting.digest(), size: counting.count)
                } catch {
                    pipe.close(throwing: error)
                    throw error
                }
            }
        }
        do {
            return try await client.uploadStreaming(repository, session: session, body: pipe, what: "layer \(layer + 1)",
                                                    finished: { try await producer.value })
        } catch {
            pipe.cancelConsumer(error)
            _ = try? await producer.value
            throw error
        }
    }

    public func finish(_ plan: ImagePlan) async throws -> Digest {
        try await client.putManifest(repository, reference: tag ?? plan.manifest.digest.description, manifest: plan.manifest)
    }
}
