import Foundation
import ImageSpec
import Archive
import ContentStore

extension ImageStore {
    public struct ImportOptions: Sendable {
        public var reference: Reference?
        /// `--change`: applied to the new image's config (Dockerfile's `ImageConfig.apply(changes:)`).
        public var change: (@Sendable (inout ImageConfig) throws -> Void)?
        public var message: String?
        public var platform: Platform = .host
        public init() {}
    }

    /// `strata import`: a root filesystem (a directory, or a tar — plain, gzip or zstd — or `-`
    /// for stdin) becomes a one-layer image, like `docker import`.
    public func importImage(from source: String, options: ImportOptions = ImportOptions()) throws -> Image {
        let created = TreeArchiver.sourceDateEpoch.map { Date(timeIntervalSince1970: Double($0)) } ?? Date()
        var config = ImageConfig(architecture: options.platform.architecture, os: options.platform.os)
        config.variant = options.platform.variant
        // Changes first: a bad one fails before anything is stored.
        if let change = options.change {
            try change(&config)
            if config.config.json.isEmpty { config.json["config"] = nil }
        }

        let lock = try ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let ingest = try content.ingest()
        let layerDigest: Digest
        let tarSize: Int64
        let stats: LayerStats
        do {
            if source != "-", FileSystem.isDirectory(source) {
                let tar = TarWriter(ingest)
                stats = try TreeArchiver().archive(directory: source, into: tar)
                try tar.finish()
            } else {
                let file: FileReader = source == "-" ? FileReader(fd: 0, path: "standard input") : try FileReader(path: source)
                stats = try Self.copyValidatedTar(from: file, to: ingest, name: source == "-" ? "standard input" : source)
            }
            (layerDigest, tarSize) = try ingest.commit()
        } catch {
            ingest.abort()
            throw error
        }
        let layer = Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: layerDigest, size: tarSize),
                          diffID: layerDigest, size: stats.contentSize, tarSize: tarSize)
        // As `docker import`: the message, or where the image came from, is both comment and history.
        let step = Step(created: created, createdBy: "", comment: options.message ?? "Imported from \(source)")
        return try commitStep(step, config: config, layer: layer, parent: nil, tags: options.reference.map { [$0] } ?? [])
    }

    /// Decompresses (gzip or zstd, sniffed) and copies a tar into `sink`, checking as it goes that it
    /// is a well-formed tar — so a corrupt or truncated archive is refused before it is stored.
    static func copyValidatedTar(from source: ByteReader, to sink: ByteWriter, name: String) throws -> LayerStats {
        let (reader, _) = try Codecs.decompressing(source)
        let tee = TeeReader(reader, into: sink)
        do {
            let stats = try LayerStats.measure(tee)
            // Whatever follows the end-of-archive blocks belongs to the blob too.
            try tee.drain()
            if stats.entries == 0, tee.count == 0 {
                throw StrataError(.invalidArchive, "\(name) is empty: expected a tar archive or a directory")
            }
            return stats
        } catch let error as StrataError {
            throw StrataError(error.code, "\(name): \(error.message)")
        }
    }
}

/// Passes reads through while copying every byte into a writer.
final class TeeReader: ByteReader {
    private let base: ByteReader
    private let sink: ByteWriter
    private(set) var count: Int64 = 0

    init(_ base: ByteReader, into sink: ByteWriter) {
        self.base = base
        self.sink = sink
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 {
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
        }
        return n
    }

    func drain() throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while try read(into: buffer) > 0 {}
    }
}
