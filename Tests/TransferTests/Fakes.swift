import Archive
import Foundation
import ImageSpec
import NIOCore
import Registry
import RegistryTestSupport
import Transfer

/// An image source in memory: the image's blobs, offered as streams of 4 KB chunks (or as
/// files), a layer that can be made to fail halfway, and a record of what was asked for.
final class MemorySource: ImageSource, @unchecked Sendable {
    let name = "memory"
    let image: TestImage
    /// This layer's stream throws after half its bytes.
    var failingLayer: Int?
    /// Layers are offered as files (what the store offers a push), else as streams (a download).
    var asFiles = false
    private let lock = NSLock()
    private var asked: [Digest] = []
    private var files: [String] = []

    init(_ image: TestImage) { self.image = image }

    /// The blobs handed out as content, in order.
    var blobsAsked: [Digest] { lock.withLock { asked } }

    func rootManifest() async throws -> ManifestBlob {
        ManifestBlob(bytes: image.manifestBytes, mediaType: image.manifestMediaType, digest: image.manifestDigest)
    }

    func manifest(_ descriptor: Descriptor) async throws -> ManifestBlob {
        guard descriptor.digest == image.manifestDigest else { throw StrataError(.manifestUnknown, "no manifest \(descriptor.digest)") }
        return try await rootManifest()
    }

    func blobBytes(_ descriptor: Descriptor) async throws -> [UInt8] {
        guard let bytes = image.blob(descriptor.digest) else { throw StrataError(.blobUnknown, "no blob \(descriptor.digest)") }
        return bytes
    }

    func blob(_ descriptor: Descriptor) async throws -> BlobContent {
        lock.withLock { asked.append(descriptor.digest) }
        guard let bytes = image.blob(descriptor.digest) else { throw StrataError(.blobUnknown, "no blob \(descriptor.digest)") }
        let index = image.layers.firstIndex { $0.digest == descriptor.digest }
        if asFiles, index != failingLayer {
            let path = NSTemporaryDirectory() + "strata-memory-source-\(UUID().uuidString)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            lock.withLock { files.append(path) }
            return .file(path)
        }
        let fails = index != nil && index == failingLayer
        return .stream { consume in
            var offset = 0
            while offset < bytes.count {
                if fails, offset >= bytes.count / 2 { throw StrataError(.io, "layer \(index!): the source broke off") }
                let end = min(offset + 4096, bytes.count)
                try await consume(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
        }
    }

    func close() {
        for path in lock.withLock({ files }) { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// A destination in memory: blobs it has (verified against their digests), what happened in
/// order, and how many writes ran at once.
final class MemoryDestination: ImageDestination, @unchecked Sendable {
    enum Step: Equatable {
        case begin
        case wrote(layer: Int?, Digest)
        case produced(layer: Int, Digest)
        case finish(Digest)
        case abort
    }

    let name = "memory destination"
    /// Blobs there before the transfer.
    let present: Set<Digest>
    /// Whether it takes a layer as it is compressed (`writeProduced`), as a registry does.
    let takesStreams: Bool
    /// How long each write takes.
    let writeDelay: UInt64
    private let lock = NSLock()
    private var stored: [Digest: [UInt8]] = [:]
    private var staged: Set<Digest> = []
    private var steps: [Step] = []
    private var running = 0
    private var mostRunning = 0
    private(set) var manifest: [UInt8]?

    init(present: Set<Digest> = [], takesStreams: Bool = false, writeDelay: Double = 0) {
        self.present = present
        self.takesStreams = takesStreams
        self.writeDelay = UInt64(writeDelay * 1e9)
    }

    var log: [Step] { lock.withLock { steps } }
    var blobs: [Digest: [UInt8]] { lock.withLock { stored } }
    var mostWritesAtOnce: Int { lock.withLock { mostRunning } }

    func begin(_ plan: ImagePlan) async throws { lock.withLock { steps.append(.begin) } }

    func status(of blob: Descriptor) async throws -> BlobStatus {
        lock.withLock { present.contains(blob.digest) || stored[blob.digest] != nil } ? .present : .missing
    }

    func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
               progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus {
        lock.withLock {
            running += 1
            mostRunning = max(mostRunning, running)
        }
        defer { lock.withLock { running -= 1 } }
        var bytes: [UInt8] = []
        switch content {
        case .file, .stored, .staged: bytes = Array(try Data(contentsOf: URL(fileURLWithPath: content.localFile!)))
        case .stream(let produce): try await produce { bytes.append(contentsOf: $0.readableBytesView) }
        }
        if writeDelay > 0 { try await Task.sleep(nanoseconds: writeDelay) }
        let digest = Digest.sha256(of: bytes)
        guard digest == blob.digest, Int64(bytes.count) == blob.size else {
            throw StrataError(.digestMismatch, "blob digest mismatch: expected \(blob.digest), got \(digest)")
        }
        progress(Int64(bytes.count))
        lock.withLock {
            stored[digest] = bytes
            staged.insert(digest)
            steps.append(.wrote(layer: layer, digest))
        }
        return .written
    }

    func writeProduced(layer: Int, mediaType: MediaType, produce: @escaping @Sendable (ByteWriter) throws -> Void) async throws -> Descriptor? {
        guard takesStreams else { return nil }
        let sink = MemoryWriter()
        try produce(sink)
        let digest = Digest.sha256(of: sink.bytes)
        lock.withLock {
            stored[digest] = sink.bytes
            staged.insert(digest)
            steps.append(.produced(layer: layer, digest))
        }
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(sink.bytes.count))
    }

    func finish(_ plan: ImagePlan) async throws -> Digest {
        lock.withLock {
            manifest = plan.manifest.bytes
            staged.removeAll()
            steps.append(.finish(plan.manifest.digest))
        }
        return plan.manifest.digest
    }

    /// Forgets what this transfer wrote.
    func abort() {
        lock.withLock {
            for digest in staged { stored.removeValue(forKey: digest) }
            staged.removeAll()
            steps.append(.abort)
        }
    }
}

/// Events of a transfer, collected.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var all: [TransferEvent] = []

    func record(_ event: TransferEvent) { lock.withLock { all.append(event) } }
    var events: [TransferEvent] { lock.withLock { all } }

    /// The states layer `i` went through, in order.
    func states(_ i: Int) -> [LayerState] {
        events.compactMap { if case .layer(i, let state) = $0 { return state } else { return nil } }
    }
}

/// A tar of a few small files, and the same gzip-compressed.
enum Layers {
    static func tar(_ files: [String: String]) throws -> [UInt8] {
        let sink = MemoryWriter()
        let tar = TarWriter(sink)
        for (name, content) in files.sorted(by: { $0.key < $1.key }) {
            try tar.append(TarHeader(name: BytePath(name), size: Int64(content.utf8.count)), data: Array(content.utf8))
        }
        try tar.finish()
        return sink.bytes
    }

    static func compressed(_ bytes: [UInt8], as compression: Compression) throws -> [UInt8] {
        let sink = MemoryWriter()
        let writer = try Codecs.compressing(sink, as: compression)
        try writer.write(bytes)
        try writer.finish()
        return sink.bytes
    }

    static func decompressed(_ bytes: [UInt8], from compression: Compression) throws -> [UInt8] {
        try Codecs.decompressing(MemoryReader(bytes), as: compression).readAll()
    }

    /// An image of gzip layers with the right diff IDs.
    static func gzipImage(_ count: Int) throws -> (TestImage, tars: [[UInt8]]) {
        let tars = try (0..<count).map { try tar(["layer-\($0).txt": String(repeating: "layer \($0) ", count: 500 + $0)]) }
        let image = try TestImage(layers: try tars.map { (try compressed($0, as: .gzip), MediaType.ociLayerGzip) },
                                  diffIDs: tars.map { Digest.sha256(of: $0) })
        return (image, tars)
    }
}
