import Archive
import Foundation
import ImageSpec
import Registry

/// Writes images as an OCI image layout (a directory — added to the images already there — or a
/// tar) or as a docker-archive (`docker save`'s layout: `<diff ID>/layer.tar`, `<config>.json`,
/// `manifest.json`, `repositories`). Several images can go into one archive (`save a b`): each is
/// a `Copier.copy` into this destination, shared blobs are written once, and `close()` writes the
/// index last. A tar streams as it is made — straight to a pipe, or to a temp file renamed into
/// place at `close()` — so an archive is written exactly once.
public final class LayoutDestination: ImageDestination, @unchecked Sendable {
    public enum Format: Sendable { case ociLayout, ociArchive, dockerArchive }

    public let name: String
    let format: Format
    private let sink: LayoutSink
    private let lock = NSLock()
    /// The names the next image is saved under (docker-archive `RepoTags`; OCI index annotations).
    public var names: [Reference] = []
    /// An OCI ref name for the next image (`oci:DIR:REF`) that need not be a full reference.
    public var refName: String?
    /// A file written through a temp file, renamed into place by `close()`.
    private var output: (temp: String, final: String, file: FileWriter)?
    private var diffIDs: [Digest] = []
    /// Uncompressed lengths the source knows (store layers), for docker-archive tar headers.
    private var tarSizes: [Digest: Int64] = [:]
    private var written: Set<Digest> = []
    private var manifests: [Descriptor] = []
    private var dockerEntries: [DockerEntry] = []
    private var repositories: [String: [String: String]] = [:]
    private var closed = false

    struct DockerEntry: Encodable {
        var Config: String
        var RepoTags: [String]?
        var Layers: [String]
    }

    /// A destination at `path`: a directory for `.ociLayout`, a file for the archives.
    public init(format: Format, path: String, reference: String?) throws {
        self.format = format
        switch format {
        case .ociLayout:
            name = "oci:\(path)"
            let directory = try DirectoryLayoutSink(root: path)
            try directory.addDirectory("blobs/sha256")
            sink = directory
            if FileSystem.exists("\(path)/index.json") {
                // Images already in the layout stay, unless one of this name replaces them.
                let index = try JSONCoding.decode(Index.self, from: Data(try FileSystem.readFile("\(path)/index.json")), what: "\(name): index.json")
                manifests = index.manifests
            }
        case .ociArchive, .dockerArchive:
            name = "\(format == .ociArchive ? "oci-archive" : "docker-archive"):\(path)"
            let temp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let file = try FileWriter(path: temp, exclusive: true)
            output = (temp, path, file)
            sink = TarLayoutSink(file)
        }
        try setNames(reference)
    }

    /// An archive streamed into `writer` (standard output, or a file the caller renames).
    public init(format: Format, stream writer: ByteWriter, name: String) {
        precondition(format != .ociLayout, "an OCI layout directory is not a stream")
        self.format = format
        self.name = name
        sink = TarLayoutSink(writer)
    }

    private func setNames(_ reference: String?) throws {
        guard let reference else { return }
        switch format {
        case .dockerArchive: names = [try Reference(parsing: reference).withDefaultTag]
        case .ociLayout, .ociArchive: refName = reference
        }
    }

    /// Writers of a tar take one file at a time.
    public var maxConcurrentWrites: Int? { sink.isConcurrent ? nil : 1 }

    func blobPath(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    public func begin(_ plan: ImagePlan) async throws {
        lock.withLock {
            diffIDs = plan.diffIDs
            tarSizes.merge(plan.uncompressedSizes) { a, _ in a }
        }
        if format != .dockerArchive {
            try sink.addDirectory("blobs")
            try sink.addDirectory("blobs/sha256")
        }
    }

    public func status(of blob: Descriptor) async throws -> BlobStatus {
        if lock.withLock({ written.contains(blob.digest) }) { return .present }
        return format == .ociLayout && sink.exists(blobPath(blob.digest)) ? .present : .missing
    }

    public func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
                      progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus {
        let diffID = layer.map { i in lock.withLock { diffIDs[i] } }
        let uncompressedSize = layer.flatMap { _ in lock.withLock { tarSizes[blob.digest] } }
        let docker = format == .dockerArchive
        let sink = Unchecked(self.sink)
        let path = docker ? (diffID.map { "\($0.encoded)/layer.tar" } ?? "\(blob.digest.encoded).json") : blobPath(blob.digest)
        if docker, let diffID { try sink.value.addDirectory(diffID.encoded) }
        let compression = blob.mediaType.layerCompression ?? .none
        if docker, layer != nil, compression != .none, uncompressedSize == nil {
            // The tar header needs the layer's length before its body: inflate to a spool file first.
            let spool = SpoolDirectory.newPath("layer")
            defer { unlink(spool) }
            try await withReader(content, progress: progress) { reader in
                let verified = DigestingReader(reader)
                let file = try FileWriter(path: spool, mode: 0o600, exclusive: true)
                try Codecs.decompressing(verified, as: compression).copy(to: file)
                try file.finish()
                try Self.check(verified, against: blob)
            }
            let spooled = try FileReader(path: spool)
            try sink.value.addFile(path, size: spooled.size, from: spooled, check: {})
        } else {
            try await withReader(content, progress: progress) { reader in
                // The blob's own digest is checked as it goes, a step ahead on another thread: a
                // store's blob too, so that a damaged one never reaches an archive.
                let verified = DigestingReader(reader)
                let reading = PipelinedReader(verified)
                defer { reading.cancel() }
                if docker, layer != nil, compression != .none {
                    try sink.value.addFile(path, size: uncompressedSize!, from: try Codecs.decompressing(reading, as: compression)) {
                        try reading.copy(to: NullWriter())
                        try Self.check(verified, against: blob)
                    }
                } else {
                    try sink.value.addFile(path, size: blob.size, from: reading) { try Self.check(verified, against: blob) }
                }
            }
        }
        lock.withLock { _ = written.insert(blob.digest) }
        return .written
    }

    static func check(_ verified: DigestingReader, against blob: Descriptor) throws {
        guard verified.digest() == blob.digest, verified.count == blob.size else {
            throw StrataError(.digestMismatch, "blob digest mismatch: expected \(blob.digest), got \(verified.digest())")
        }
    }

    public func finish(_ plan: ImagePlan) async throws -> Digest {
        switch format {
        case .ociLayout, .ociArchive:
            let manifest = try Self.ociManifest(plan)
            if !lock.withLock({ written.contains(manifest.digest) }), !(format == .ociLayout && sink.exists(blobPath(manifest.digest))) {
                try sink.addFile(blobPath(manifest.digest), bytes: manifest.bytes)
            }
            var descriptor = Descriptor(mediaType: manifest.mediaType, digest: manifest.digest, size: Int64(manifest.bytes.count))
            descriptor.platform = plan.config.platform
            lock.withLock {
                written.insert(manifest.digest)
                let refs: [(String, String?)] = names.map { ($0.tag ?? Reference.defaultTag, $0.description) } + (refName.map { [($0, nil)] } ?? [])
                if refs.isEmpty { manifests.append(descriptor) }
                for (ref, full) in refs {
                    var named = descriptor
                    named.annotations = [AnnotationKey.refName: ref]
                    if let full { named.annotations?[AnnotationKey.imageName] = full }
                    // A name moves to the new image, as a tag does.
                    manifests.removeAll { $0.annotations?[AnnotationKey.refName] == ref && ($0.annotations?[AnnotationKey.imageName] == full) }
                    manifests.append(named)
                }
            }
            return manifest.digest
        case .dockerArchive:
            let tags = names.map(\.familiarString)
            let entry = DockerEntry(Config: "\(plan.parsed.config.digest.encoded).json", RepoTags: tags.isEmpty ? nil : tags,
                                    Layers: plan.diffIDs.map { "\($0.encoded)/layer.tar" })
            lock.withLock {
                dockerEntries.append(entry)
                if let top = plan.diffIDs.last {
                    for name in names { repositories[name.familiarName, default: [:]][name.tag ?? Reference.defaultTag] = top.encoded }
                }
            }
            return plan.manifest.digest
        }
    }

    /// OCI tools (umoci, skopeo's oci: transport) want OCI manifests in an OCI layout: a Docker
    /// manifest is described again with OCI media types — the same config and layers.
    static func ociManifest(_ plan: ImagePlan) throws -> ManifestBlob {
        guard plan.manifest.mediaType == .dockerManifest else { return plan.manifest }
        let m = plan.parsed
        let converted = Manifest(mediaType: .ociManifest,
                                 config: Descriptor(mediaType: .ociConfig, digest: m.config.digest, size: m.config.size),
                                 layers: m.layers.map { layer in
                                     var l = layer
                                     l.mediaType = .layer(layer.mediaType.layerCompression ?? .none)
                                     return l
                                 }, annotations: m.annotations)
        let bytes = Array(try JSONCoding.encoder.encode(converted))
        return ManifestBlob(bytes: bytes, mediaType: .ociManifest, digest: Digest.sha256(of: bytes))
    }

    /// Writes the index (`index.json` and `oci-layout`, or `manifest.json` and `repositories`)
    /// and completes the archive: the file appears only now, whole.
    public func close() throws {
        guard !closed else { return }
        closed = true
        do {
            switch format {
            case .ociLayout, .ociArchive:
                try sink.addFile("oci-layout", bytes: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
                try sink.addFile("index.json", bytes: Array(try JSONCoding.encoder.encode(Index(mediaType: .ociIndex, manifests: manifests))))
            case .dockerArchive:
                try sink.addFile("manifest.json", bytes: Array(try JSONCoding.encoder.encode(dockerEntries)))
                if !repositories.isEmpty { try sink.addFile("repositories", bytes: Array(try JSONCoding.encoder.encode(repositories))) }
            }
            try (sink as? TarLayoutSink)?.finish()
            if let output {
                try output.file.sync()
                guard rename(output.temp, output.final) == 0 else { throw StrataError.posix("cannot write \(output.final)", errno: errno) }
            }
        } catch {
            abort()
            throw error
        }
    }

    /// Discards an archive not closed; a layout directory keeps only whole, verified blobs.
    public func abort() {
        closed = true
        if let output { unlink(output.temp) }
    }
}
