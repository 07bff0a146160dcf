import Archive
import ContentStore
import Foundation
import ImageSpec
import Registry

/// The images of a docker-archive or an OCI image layout — a tar (plain, gzip or zstd; a file or
/// standard input) or a directory — read exactly once. Each image is an `ImageSource` for the
/// one transfer pipeline: `load` copies them into the store, `copy` anywhere.
public final class LayoutArchive: @unchecked Sendable {
    public enum Format: Sendable { case dockerArchive, ociLayout }

    /// One image of the archive, as its index or manifest.json names it.
    public struct Entry: Sendable {
        public var root: ManifestBlob
        /// Full names (docker-archive `RepoTags`, OCI `org.opencontainers.image.ref.name`/`io.containerd.image.name`).
        public var names: [Reference]
        /// The OCI layout's own ref name (`latest`, `v1`), which need not be a full reference.
        public var refName: String?
    }

    public let name: String
    public let format: Format
    public private(set) var images: [Entry] = []
    let staged: StagedArchive
    /// docker-archive: blob digest → the archive path holding it.
    private var paths: [Digest: String] = [:]

    /// Reads `input`: a directory, a tar file, or `-` for standard input. Large files are staged
    /// as ingests of `staging` (the store a load keeps them in, so they are never copied again),
    /// or as spool files when it is nil.
    public static func read(_ input: String, staging: ContentStore?, label: String? = nil) throws -> LayoutArchive {
        let staged: StagedArchive
        if input != "-", FileSystem.isDirectory(input) {
            staged = StagedArchive.read(directory: input, content: staging)
        } else {
            let reader: FileReader = input == "-" ? FileReader(fd: 0, path: "standard input") : try FileReader(path: input)
            staged = try StagedArchive.read(tar: reader, source: input == "-" ? "standard input" : input, content: staging)
        }
        do {
            return try LayoutArchive(staged: staged, name: label ?? staged.source)
        } catch {
            staged.discard()
            throw error
        }
    }

    /// `read` on a thread of its own: reading a pipe blocks, and must not hold up async work.
    public static func reading(_ input: String, staging: ContentStore?, label: String? = nil) async throws -> LayoutArchive {
        let box = Unchecked(staging)
        return try await onThread("strata-archive") { try read(input, staging: box.value, label: label) }
    }

    private init(staged: StagedArchive, name: String) throws {
        self.staged = staged
        self.name = name
        if staged.contains("manifest.json") {
            format = .dockerArchive
            try readDockerManifest()
        } else if staged.contains("index.json") {
            format = .ociLayout
            try readIndex()
        } else {
            throw StrataError(.invalidArchive,
                "\(name) is neither a docker-archive (no manifest.json) nor an OCI image layout (no index.json)")
        }
        guard !images.isEmpty else { throw StrataError(.invalidArchive, "\(name) contains no image") }
    }

    /// Removes what was staged and not published.
    public func close() { staged.discard() }

    /// The image a reference names (a ref name, an image name, or a docker-archive tag); the
    /// only one when `reference` is nil. Closing that source closes the archive.
    public func source(named reference: String?) throws -> LayoutImageSource {
        guard let reference else {
            guard images.count == 1 else {
                throw StrataError(.ambiguous, "\(name) holds \(images.count) images: name one, as \(name):\(format == .dockerArchive ? "NAME:TAG" : "REF")")
            }
            return LayoutImageSource(archive: self, entry: images[0], owning: true)
        }
        let wanted = (try? Reference(parsing: reference))?.withDefaultTag
        guard let i = images.firstIndex(where: { $0.refName == reference || $0.names.contains { $0.withDefaultTag == wanted || $0.description == reference } }) else {
            let known = images.compactMap { $0.refName ?? $0.names.first?.familiarString }
            throw StrataError(.imageUnknown, "\(name) has no image named \"\(reference)\"\(known.isEmpty ? "" : " (it has: \(known.joined(separator: ", ")))")")
        }
        return LayoutImageSource(archive: self, entry: images[i], owning: true)
    }

    /// Image `index`, for reading several from one archive (`load`); the archive stays open.
    public func source(_ index: Int) -> LayoutImageSource { LayoutImageSource(archive: self, entry: images[index], owning: false) }

    /// Opens an archive for `copy` and picks the image `reference` names.
    public static func source(_ input: String, reference: String?, label: String) throws -> LayoutImageSource {
        let archive = try read(input, staging: nil, label: label)
        do { return try archive.source(named: reference) } catch {
            archive.close()
            throw error
        }
    }

    // MARK: reading

    private func readDockerManifest() throws {
        struct Item: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        let items = try JSONCoding.decode([Item].self, from: Data(try staged.bytes("manifest.json")), what: "\(name): manifest.json")
        for item in items {
            let config = try describe(item.Config) { _ in .ociConfig }
            // docker-archive layers are named by path: their type is what their bytes say.
            let layers = try item.Layers.map { try describe($0) { .layer($0) } }
            // A docker-archive carries no manifest: an OCI one is made, as for any image Strata makes.
            let manifest = Manifest(mediaType: .ociManifest, config: config, layers: layers)
            let bytes = Array(try JSONCoding.encoder.encode(manifest))
            images.append(Entry(root: ManifestBlob(bytes: bytes, mediaType: .ociManifest, digest: Digest.sha256(of: bytes)),
                                names: try (item.RepoTags ?? []).map { try Self.tag($0, source: name) }, refName: nil))
        }
    }

    /// A file of a docker-archive as a descriptor, by its (staged) digest.
    private func describe(_ path: String, mediaType: (Compression) -> MediaType) throws -> Descriptor {
        let (digest, size) = try staged.digestAndSize(path)
        paths[digest] = path
        return Descriptor(mediaType: mediaType(Compression.detect(try staged.reader(path).readPrefix(4))), digest: digest, size: size)
    }

    private func readIndex() throws {
        let index = try JSONCoding.decode(Index.self, from: Data(try staged.bytes("index.json")), what: "\(name): index.json")
        for descriptor in index.manifests {
            guard descriptor.mediaType.isManifest || descriptor.mediaType.isIndex else {
                throw StrataError(.unsupportedMediaType, "\(name): \(descriptor.digest) has unsupported media type \(descriptor.mediaType)")
            }
            let path = Self.blobPath(descriptor.digest)
            try staged.verify(path, against: descriptor)
            let annotations = descriptor.annotations ?? [:]
            images.append(Entry(root: ManifestBlob(bytes: try staged.bytes(path), mediaType: descriptor.mediaType, digest: descriptor.digest),
                                names: Self.names(from: annotations), refName: annotations[AnnotationKey.refName]))
        }
    }

    /// The archive path of a blob.
    func path(of digest: Digest) -> String { paths[digest] ?? Self.blobPath(digest) }

    static func blobPath(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// Names an OCI layout gives a manifest: the full image name (containerd, Docker, skopeo), or a
    /// ref name that is itself a full reference. A bare tag such as `latest` names no repository.
    static func names(from annotations: [String: String]) -> [Reference] {
        if let full = annotations[AnnotationKey.imageName], let ref = try? Reference(parsing: full), ref.digest == nil { return [ref] }
        if let name = annotations[AnnotationKey.refName], name.contains("/") || name.contains(":"),
           let ref = try? Reference(parsing: name), ref.digest == nil { return [ref] }
        return []
    }

    /// A docker-archive `RepoTags` entry: a name with a tag, and no digest (as `docker load` demands).
    static func tag(_ string: String, source: String) throws -> Reference {
        let ref: Reference
        do { ref = try Reference(parsing: string) } catch let error as StrataError {
            throw StrataError(.invalidReference, "\(source): manifest.json: invalid tag: \(error.message)", cause: error)
        }
        guard ref.digest == nil, ref.tag != nil else {
            throw StrataError(.invalidReference, "\(source): manifest.json: invalid tag \"\(string)\": RepoTags entries must be NAME:TAG")
        }
        return ref
    }
}

/// One image of a `LayoutArchive`.
public final class LayoutImageSource: ImageSource, @unchecked Sendable {
    let archive: LayoutArchive
    public let entry: LayoutArchive.Entry
    let owning: Bool
    public var name: String { archive.name }

    init(archive: LayoutArchive, entry: LayoutArchive.Entry, owning: Bool) {
        self.archive = archive
        self.entry = entry
        self.owning = owning
    }

    public func rootManifest() async throws -> ManifestBlob { entry.root }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestBlob {
        ManifestBlob(bytes: try verifiedBytes(descriptor), mediaType: descriptor.mediaType, digest: descriptor.digest)
    }

    public func blobBytes(_ descriptor: Descriptor) async throws -> [UInt8] { try verifiedBytes(descriptor) }

    /// A small blob, whole, checked against its descriptor.
    func verifiedBytes(_ descriptor: Descriptor) throws -> [UInt8] {
        let path = archive.path(of: descriptor.digest)
        try archive.staged.verify(path, against: descriptor)
        return try archive.staged.bytes(path)
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobContent {
        try archive.staged.content(archive.path(of: descriptor.digest))
    }

    public func close() { if owning { archive.close() } }
}

extension ByteReader {
    /// The first `count` bytes (fewer if the stream is shorter).
    func readPrefix(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try out.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 { break }
            got += n
        }
        return Array(out[0..<got])
    }
}
