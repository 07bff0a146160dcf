import Foundation
import ImageSpec
import Archive
import ContentStore

extension ImageStore {
    public struct LoadedImage: Sendable {
        public var image: Image
        public var tags: [Reference]
        /// Names that pointed at another image before this load took them.
        public var moved: [MovedTag]
    }

    /// `strata load`: a `docker save` archive or an OCI image layout (a tar, possibly gzip or
    /// zstd compressed, a directory, or `-` for stdin). Everything is verified — digests, sizes,
    /// diff IDs against the config — before any blob or name becomes visible; tags are kept.
    public func load(from input: String) throws -> [LoadedImage] {
        let lock = try ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let staged: StagedArchive
        if input != "-", FileSystem.isDirectory(input) {
            staged = StagedArchive.read(directory: input, content: content)
        } else {
            let reader: FileReader = input == "-" ? FileReader(fd: 0, path: "standard input") : try FileReader(path: input)
            staged = try StagedArchive.read(tar: reader, source: input == "-" ? "standard input" : input, content: content)
        }
        defer { staged.abort() }

        let plans: [PlannedImage]
        if staged.contains("manifest.json") {
            plans = try planDockerArchive(staged)
        } else if staged.contains("index.json") {
            plans = try planOCILayout(staged)
        } else {
            throw StrataError(.invalidArchive,
                "\(staged.source) is neither a docker-archive (no manifest.json) nor an OCI image layout (no index.json)")
        }
        guard !plans.isEmpty else { throw StrataError(.invalidArchive, "\(staged.source) contains no image") }

        // Everything checked out: publish the blobs, then the records, image by image. An image
        // already here keeps its blobs (perhaps compressed differently); it only gains the names.
        var loaded: [LoadedImage] = []
        for plan in plans {
            let configDigest = Digest.sha256(of: plan.configBytes)
            var manifestDigest = Digest.sha256(of: plan.manifestBytes)
            if let existing = try image(id: configDigest) {
                manifestDigest = existing.manifestDigest
            } else {
                for path in plan.layerPaths { _ = try staged.commitBlob(path) }
                try content.ingest(bytes: plan.configBytes, expected: configDigest)
                try content.ingest(bytes: plan.manifestBytes, expected: manifestDigest)
            }
            let (image, moved) = try record(NewImage(manifestDigest: manifestDigest, manifestMediaType: plan.manifestMediaType,
                                                     config: plan.config, configDigest: configDigest, layers: plan.layers),
                                            tags: plan.tags)
            loaded.append(LoadedImage(image: image, tags: plan.tags, moved: moved))
        }
        return loaded
    }

    struct PlannedImage {
        var manifestBytes: [UInt8]
        var manifestMediaType: MediaType
        var configBytes: [UInt8]
        var config: ImageConfig
        var layers: [Layer]
        var layerPaths: [String]
        var tags: [Reference]
    }

    /// docker-archive: `manifest.json` lists each image's config file, tags and layer tars.
    private func planDockerArchive(_ staged: StagedArchive) throws -> [PlannedImage] {
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        let entries = try JSONCoding.decode([Entry].self, from: Data(try staged.bytes("manifest.json")),
                                            what: "\(staged.source): manifest.json")
        return try entries.map { entry in
            let configBytes = try staged.bytes(entry.Config)
            let config = try ImageConfig.decode(configBytes, what: "\(staged.source): \(entry.Config)")
            let diffIDs = config.rootfs.diffIDs
            guard diffIDs.count == entry.Layers.count else {
                throw StrataError(.invalidArchive,
                    "\(staged.source): \(entry.Config) names \(diffIDs.count) layers but manifest.json lists \(entry.Layers.count)")
            }
            let layers = try entry.Layers.enumerated().map { i, path in
                // docker-archive layers are named by path: their type is what their bytes say.
                let (digest, size) = try staged.digestAndSize(path)
                let compression = Compression.detect(try staged.reader(path).readPrefix(4))
                return try Self.layer(Descriptor(mediaType: .layer(compression), digest: digest, size: size), at: path,
                                      index: i, expected: diffIDs[i], in: staged)
            }
            // A docker-archive carries no manifest: write an OCI one, as for any image Strata makes.
            let manifest = Manifest(mediaType: .ociManifest,
                                    config: Descriptor(mediaType: .ociConfig, digest: Digest.sha256(of: configBytes),
                                                       size: Int64(configBytes.count)),
                                    layers: layers.map(\.descriptor))
            let tags = try (entry.RepoTags ?? []).map { try Self.tag($0, source: staged.source) }
            return PlannedImage(manifestBytes: Array(try JSONCoding.encoder.encode(manifest)), manifestMediaType: .ociManifest,
                                configBytes: configBytes, config: config, layers: layers, layerPaths: entry.Layers, tags: tags)
        }
    }

    /// OCI image layout: `index.json` → manifests (or nested indexes) → config and layers, by digest.
    private func planOCILayout(_ staged: StagedArchive) throws -> [PlannedImage] {
        let index = try JSONCoding.decode(Index.self, from: Data(try staged.bytes("index.json")), what: "\(staged.source): index.json")
        var plans: [PlannedImage] = []
        for descriptor in index.manifests {
            let manifestDescriptor = try pickManifest(descriptor, staged: staged)
            let path = Self.blobPath(manifestDescriptor.digest)
            try staged.verify(path, against: manifestDescriptor)
            let manifestBytes = try staged.bytes(path)
            let manifest = try Manifest.decode(manifestBytes, what: "\(staged.source): manifest \(manifestDescriptor.digest)")
            guard manifest.config.mediaType.isConfig else {
                throw StrataError(.unsupportedMediaType,
                    "\(staged.source): manifest \(manifestDescriptor.digest) has config media type \(manifest.config.mediaType), not an image config")
            }
            let configPath = Self.blobPath(manifest.config.digest)
            try staged.verify(configPath, against: manifest.config)
            let configBytes = try staged.bytes(configPath)
            let config = try ImageConfig.decode(configBytes, what: "\(staged.source): config \(manifest.config.digest)")
            let diffIDs = config.rootfs.diffIDs
            guard diffIDs.count == manifest.layers.count else {
                throw StrataError(.invalidArchive,
                    "\(staged.source): config names \(diffIDs.count) layers but manifest \(manifestDescriptor.digest) has \(manifest.layers.count)")
            }
            let layers = try manifest.layers.enumerated().map { i, layer in
                let layerPath = Self.blobPath(layer.digest)
                try staged.verify(layerPath, against: layer)
                return try Self.layer(layer, at: layerPath, index: i, expected: diffIDs[i], in: staged)
            }
            plans.append(PlannedImage(manifestBytes: manifestBytes,
                                      manifestMediaType: manifest.mediaType ?? manifestDescriptor.mediaType,
                                      configBytes: configBytes, config: config, layers: layers,
                                      layerPaths: manifest.layers.map { Self.blobPath($0.digest) },
                                      tags: Self.names(from: descriptor.annotations ?? [:])))
        }
        return plans
    }

    /// An index entry may itself be an index (multi-platform): take this host's platform.
    private func pickManifest(_ descriptor: Descriptor, staged: StagedArchive, depth: Int = 0) throws -> Descriptor {
        guard descriptor.mediaType.isIndex else {
            guard descriptor.mediaType.isManifest else {
                throw StrataError(.unsupportedMediaType, "\(staged.source): \(descriptor.digest) has unsupported media type \(descriptor.mediaType)")
            }
            return descriptor
        }
        guard depth < 4 else { throw StrataError(.invalidArchive, "\(staged.source): indexes nested too deep") }
        let path = Self.blobPath(descriptor.digest)
        try staged.verify(path, against: descriptor)
        let index = try JSONCoding.decode(Index.self, from: Data(try staged.bytes(path)), what: "\(staged.source): index \(descriptor.digest)")
        let host = Platform.host
        let candidates = index.manifests.filter { $0.mediaType.isManifest || $0.mediaType.isIndex }
        guard let chosen = candidates.first(where: { $0.platform?.os == host.os && $0.platform?.architecture == host.architecture })
                ?? candidates.first(where: { $0.platform == nil }) else {
            let platforms = candidates.compactMap { $0.platform?.description }.joined(separator: ", ")
            throw StrataError(.invalidArchive, "\(staged.source): no image for \(host) in index \(descriptor.digest) (it has: \(platforms))")
        }
        return try pickManifest(chosen, staged: staged, depth: depth + 1)
    }

    /// Names an OCI layout gives a manifest: the full image name (containerd, Docker, skopeo), or a
    /// ref name that is itself a full reference. A bare tag such as `latest` names no repository.
    static func names(from annotations: [String: String]) -> [Reference] {
        if let full = annotations[AnnotationKey.imageName], let ref = try? Reference(parsing: full), ref.digest == nil { return [ref] }
        if let name = annotations[AnnotationKey.refName], name.contains("/") || name.contains(":"),
           let ref = try? Reference(parsing: name), ref.digest == nil { return [ref] }
        return []
    }

    static func blobPath(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// Reads a layer through: its diff ID, Docker's size for it, and the length of its tar — and
    /// on the way, proof that it decompresses and is a well-formed tar.
    /// Reads a staged layer through and checks it against the diff ID its config expects.
    private static func layer(_ descriptor: Descriptor, at path: String, index: Int, expected: Digest,
                              in staged: StagedArchive) throws -> Layer {
        let measured = try measureLayer(staged.reader(path), compression: descriptor.mediaType.layerCompression ?? .none,
                                        digest: descriptor.digest, path: path, source: staged.source)
        try check(diffID: measured.diffID, expected: expected, layer: index, path: path, source: staged.source)
        return Layer(descriptor: descriptor, diffID: measured.diffID, size: measured.contentSize, tarSize: measured.tarSize)
    }

    /// An uncompressed layer's diff ID is its (already verified) blob digest: it is only parsed, not hashed again.
    public static func measureLayer(_ reader: ByteReader, compression: Compression, digest: Digest, path: String, source: String)
        throws -> (diffID: Digest, contentSize: Int64, tarSize: Int64) {
        if compression == .none {
            let counting = CountingReader(reader)
            do {
                let stats = try LayerStats.measure(counting)
                try counting.copy(to: NullWriter())
                return (digest, stats.contentSize, counting.count)
            } catch let error as StrataError {
                throw StrataError(error.code, "\(source): layer \(path): \(error.message)")
            }
        }
        let digesting = DigestingReader(try Codecs.decompressing(reader, as: compression))
        do {
            let stats = try LayerStats.measure(digesting)
            try digesting.copy(to: NullWriter())
            return (digesting.digest(), stats.contentSize, digesting.count)
        } catch let error as StrataError {
            throw StrataError(error.code, "\(source): layer \(path): \(error.message)")
        }
    }

    /// A docker-archive `RepoTags` entry: a name with a tag, and no digest (as `docker load` demands).
    static func tag(_ string: String, source: String) throws -> Reference {
        let ref: Reference
        do { ref = try Reference(parsing: string) } catch let error as StrataError {
            throw StrataError(.invalidReference, "\(source): manifest.json: invalid tag: \(error.message)")
        }
        guard ref.digest == nil, ref.tag != nil else {
            throw StrataError(.invalidReference, "\(source): manifest.json: invalid tag \"\(string)\": RepoTags entries must be NAME:TAG")
        }
        return ref
    }

    private static func check(diffID: Digest, expected: Digest, layer: Int, path: String, source: String) throws {
        guard diffID == expected else {
            throw StrataError(.digestMismatch,
                "\(source): layer \(layer + 1) (\(path)) does not match the image config: diff ID expected \(expected), got \(diffID)")
        }
    }
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
