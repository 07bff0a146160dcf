import Archive
import Foundation
import ImageSpec
import NIOCore
import Registry

/// What a transfer reports as it goes, for progress lines or bars.
public enum TransferEvent: Sendable {
    /// The layers about to move, lowest first, with their diff IDs.
    case plan(layers: [Descriptor], diffIDs: [Digest])
    case layer(Int, LayerState)
}

public enum LayerState: Sendable, Equatable {
    /// Already at the destination.
    case present
    /// Queued behind the parallel transfers.
    case waiting
    case started
    case progress(done: Int64, total: Int64)
    /// All bytes moved; the digest is being checked.
    case verifying
    /// All bytes moved and checked (a pull still finishes unpacking).
    case transferred
    case mounted(from: String)
    case complete
}

public struct CopyOptions: Sendable {
    /// The platform to take from an index (default: this host's).
    public var platform: Platform?
    /// Layers moving at once.
    public var parallelism: Int
    /// Re-compress layers to this before writing them (push --compression-format).
    public var compression: Compression?
    /// Compress uncompressed layers with this (a push, as Docker's: registries serve compressed layers).
    public var compressPlainLayers: Compression?
    /// A layer's re-compressed form from an earlier transfer (its digest, with the compression),
    /// so the destination can be asked for it before any compressing.
    public var knownVariant: (@Sendable (Digest, Compression) -> Descriptor?)?
    /// Report layers as present when the destination already holds the whole image.
    public var reportHeldLayers = false

    public init(platform: Platform? = nil, parallelism: Int = CopyOptions.defaultParallelism, compression: Compression? = nil) {
        self.platform = platform
        self.parallelism = max(1, parallelism)
        self.compression = compression
    }

    /// `STRATA_MAX_CONCURRENT_TRANSFERS`, else 3 (Docker's default for downloads).
    public static var defaultParallelism: Int {
        ProcessInfo.processInfo.environment["STRATA_MAX_CONCURRENT_TRANSFERS"].flatMap(Int.init).map { max(1, $0) } ?? 3
    }
}

public struct CopyResult: Sendable {
    /// The plan, unless the destination held the image already and the source is an index.
    public var plan: ImagePlan?
    /// The digest of what the reference named (an index's, when it was one).
    public var rootDigest: Digest
    /// The digest the destination knows the image manifest by.
    public var manifestDigest: Digest
    public var manifestSize: Int
    /// Whether the destination held the image already: nothing moved.
    public var held: Bool
}

/// The one transfer pipeline: choose the manifest, skip what the destination has, move the
/// rest in parallel, then the config and the manifest last — so a destination never names an
/// image whose blobs are not all there.
public enum Copier {
    public static func copy(from source: ImageSource, to destination: ImageDestination, options: CopyOptions = CopyOptions(),
                            events: @escaping @Sendable (TransferEvent) -> Void = { _ in }) async throws -> CopyResult {
        let root = try await source.rootManifest()
        if options.compression == nil, let held = try await destination.holds(root: root) {
            var plan: ImagePlan?
            if root.mediaType.isManifest, options.reportHeldLayers {
                let parsed = try Manifest.decode(root.bytes, what: "manifest \(root.digest)")
                let configBytes = try await source.blobBytes(parsed.config)
                let config = try ImageConfig.decode(configBytes, what: "config \(parsed.config.digest)")
                plan = ImagePlan(root: root, manifest: root, parsed: parsed, configBytes: configBytes, config: config)
                events(.plan(layers: parsed.layers, diffIDs: config.rootfs.diffIDs))
                for i in parsed.layers.indices { events(.layer(i, .present)) }
            }
            return CopyResult(plan: plan, rootDigest: held.digest, manifestDigest: held.digest, manifestSize: Int(held.size), held: true)
        }
        var plan = try await makePlan(source: source, root: root, platform: options.platform)
        try await destination.begin(plan)
        do {
            plan = try await moveLayers(plan, from: source, to: destination, options: options, events: events)
            let configStatus = try await destination.status(of: plan.parsed.config)
            if configStatus != .present {
                let configBytes = plan.configBytes
                _ = try await destination.write(plan.parsed.config, layer: nil, status: configStatus,
                                                content: .stream({ consume in try await consume(ByteBuffer(bytes: configBytes)) }),
                                                progress: { _ in })
            }
            let digest = try await destination.finish(plan)
            return CopyResult(plan: plan, rootDigest: plan.root.digest == plan.manifest.digest ? digest : plan.root.digest,
                              manifestDigest: digest, manifestSize: plan.manifest.bytes.count, held: false)
        } catch {
            destination.abort()
            throw error
        }
    }

    /// Resolves an index to the wanted platform's manifest and reads the config.
    static func makePlan(source: ImageSource, root: ManifestBlob, platform: Platform?) async throws -> ImagePlan {
        var manifest = root
        var depth = 0
        while manifest.mediaType.isIndex {
            guard depth < 4 else { throw StrataError(.invalidArchive, "\(source.name): indexes nested too deep") }
            let index = try JSONCoding.decode(Index.self, from: Data(manifest.bytes), what: "\(source.name): index \(manifest.digest)")
            manifest = try await source.manifest(try PlatformMatcher.choose(from: index, wanted: platform, source: source.name))
            depth += 1
        }
        guard manifest.mediaType.isManifest else {
            if manifest.mediaType.rawValue.contains("manifest.v1") {
                throw StrataError(.unsupportedMediaType,
                    "\(source.name): Docker schema 1 manifests are not supported (deprecated since 2019); re-push the image with a current tool")
            }
            throw StrataError(.unsupportedMediaType, "\(source.name): \(manifest.digest) has media type \"\(manifest.mediaType)\", not an image manifest")
        }
        let parsed = try Manifest.decode(manifest.bytes, what: "\(source.name): manifest \(manifest.digest)")
        guard parsed.config.mediaType.isConfig else {
            throw StrataError(.unsupportedMediaType,
                "\(source.name): manifest \(manifest.digest) is not a container image (its config is \"\(parsed.config.mediaType)\")")
        }
        let configBytes = try await source.blobBytes(parsed.config)
        let config = try ImageConfig.decode(configBytes, what: "\(source.name): config \(parsed.config.digest)")
        guard config.rootfs.diffIDs.count == parsed.layers.count else {
            throw StrataError(.invalidArchive,
                "\(source.name): config names \(config.rootfs.diffIDs.count) layers but manifest \(manifest.digest) has \(parsed.layers.count)")
        }
        var plan = ImagePlan(root: root, manifest: manifest, parsed: parsed, configBytes: configBytes, config: config)
        for layer in parsed.layers { plan.uncompressedSizes[layer.digest] = source.uncompressedSize(of: layer) }
        return plan
    }

    /// Moves every layer the destination lacks, `parallelism` at a time; returns the plan with
    /// the manifest rewritten if layers were re-compressed.
    static func moveLayers(_ plan: ImagePlan, from source: ImageSource, to destination: ImageDestination,
                           options: CopyOptions, events: @escaping @Sendable (TransferEvent) -> Void) async throws -> ImagePlan {
        let layers = plan.parsed.layers
        events(.plan(layers: layers, diffIDs: plan.diffIDs))
        // Ask about every layer at once: on a registry each question is a round trip.
        let statuses = try await withThrowingTaskGroup(of: (Int, BlobStatus).self) { group in
            for (i, layer) in layers.enumerated() where targetCompression(layer, options) == nil {
                group.addTask { (i, try await destination.status(of: layer)) }
            }
            var result = [BlobStatus](repeating: .missing, count: layers.count)
            for try await (i, status) in group { result[i] = status }
            return result
        }
        var pending: [Int] = []
        for i in layers.indices {
            if statuses[i] == .present { events(.layer(i, .present)) } else { pending.append(i) }
        }
        for (n, i) in pending.enumerated() where n >= min(options.parallelism, destination.maxConcurrentWrites ?? options.parallelism) {
            events(.layer(i, .waiting))
        }

        var written = layers
        let parallelism = min(options.parallelism, destination.maxConcurrentWrites ?? options.parallelism)
        try await withThrowingTaskGroup(of: (Int, Descriptor).self) { group in
            var next = 0
            func start() {
                guard next < pending.count else { return }
                let i = pending[next]
                next += 1
                group.addTask {
                    try await moveLayer(i, layers[i], status: statuses[i], from: source, to: destination, options: options, events: events)
                }
            }
            for _ in 0..<parallelism { start() }
            for try await (i, descriptor) in group {
                written[i] = descriptor
                start()
            }
        }
        guard written != layers else { return plan }
        // Re-compressed layers: the same config, a new manifest naming the new blobs.
        var manifest = plan.parsed
        manifest.layers = written
        manifest.mediaType = .ociManifest
        manifest.config.mediaType = .ociConfig
        let bytes = Array(try JSONCoding.encoder.encode(manifest))
        var result = plan
        result.parsed = manifest
        result.manifest = ManifestBlob(bytes: bytes, mediaType: .ociManifest, digest: Digest.sha256(of: bytes))
        if result.root.mediaType.isManifest { result.root = result.manifest }
        return result
    }

    /// The compression a layer is to be re-compressed to, if any.
    static func targetCompression(_ layer: Descriptor, _ options: CopyOptions) -> Compression? {
        guard let have = layer.mediaType.layerCompression else { return nil }
        if let wanted = options.compression { return have == wanted ? nil : wanted }
        return have == .none ? options.compressPlainLayers : nil
    }

    private static func moveLayer(_ i: Int, _ layer: Descriptor, status: BlobStatus, from source: ImageSource, to destination: ImageDestination,
                                  options: CopyOptions, events: @escaping @Sendable (TransferEvent) -> Void) async throws -> (Int, Descriptor) {
        events(.layer(i, .started))
        var descriptor = layer
        var content = try await source.blob(layer)
        var status = status
        var spooled: String?
        defer { if let spooled { unlink(spooled) } }
        if let wanted = targetCompression(layer, options) {
            // Compressed for an earlier push: the destination may have that blob, or can mount it.
            if let known = options.knownVariant?(layer.digest, wanted) {
                let knownStatus = try await destination.status(of: known)
                if knownStatus == .present {
                    events(.layer(i, .present))
                    return (i, known)
                }
                if case .mountable = knownStatus {
                    let outcome = try await destination.write(known, layer: i, status: knownStatus,
                                                              content: Transcoder.stream(content, layer: layer, to: wanted), progress: { _ in })
                    report(outcome, layer: i, events: events)
                    return (i, known)
                }
            }
            // Compress while uploading, where the destination can take a stream.
            if let path = content.localFile {
                let total = layer.size
                let source = content
                let produced = try await destination.writeProduced(layer: i, mediaType: .layer(wanted)) { sink in
                    let reader = ProgressReader(try FileReader(path: path), report: { done in
                        events(.layer(i, done >= total ? .verifying : .progress(done: done, total: total)))
                    })
                    do { try Transcoder.transcode(reader, layer: layer, to: wanted, into: sink) } catch { throw source.diagnose(error) }
                }
                if let produced {
                    report(.written, layer: i, events: events)
                    return (i, produced)
                }
            }
            let (path, transcoded) = try await Transcoder.transcode(content, layer: layer, to: wanted)
            spooled = path
            descriptor = transcoded
            content = .file(path)
            status = try await destination.status(of: descriptor)
            if status == .present {
                events(.layer(i, .present))
                return (i, descriptor)
            }
        }
        let total = descriptor.size
        let outcome = try await destination.write(descriptor, layer: i, status: status, content: content) { done in
            events(.layer(i, done >= total ? .verifying : .progress(done: done, total: total)))
        }
        report(outcome, layer: i, events: events)
        return (i, descriptor)
    }

    /// The last events of a layer written: mounted, or transferred and complete.
    private static func report(_ outcome: BlobStatus, layer i: Int, events: @Sendable (TransferEvent) -> Void) {
        if case .mounted(let from) = outcome {
            events(.layer(i, .mounted(from: from)))
        } else {
            events(.layer(i, .transferred))
            events(.layer(i, .complete))
        }
    }
}

/// Chooses an index entry by platform, as Docker and containerd match them.
public enum PlatformMatcher {
    public static func choose(from index: Index, wanted: Platform?, source: String) throws -> Descriptor {
        let target = wanted ?? Platform.host
        let candidates = index.manifests.filter { $0.mediaType.isManifest || $0.mediaType.isIndex }
        func matches(_ p: Platform?) -> Bool {
            guard let p else { return false }
            guard p.os == target.os, p.architecture == target.architecture else { return false }
            guard let variant = target.variant else { return true }
            return p.variant == nil || p.variant == variant
        }
        // An exact variant beats a missing one.
        if let exact = candidates.first(where: { matches($0.platform) && $0.platform?.variant == target.variant }) { return exact }
        if let match = candidates.first(where: { matches($0.platform) }) { return match }
        if wanted == nil, candidates.count == 1, candidates[0].platform == nil { return candidates[0] }
        let available = candidates.compactMap { $0.platform?.description }
        throw StrataError(.platformNotFound,
            "no matching manifest for \(target) in the manifest list entries of \(source)"
            + (available.isEmpty ? "" : " (it has: \(available.joined(separator: ", ")))"))
    }
}
