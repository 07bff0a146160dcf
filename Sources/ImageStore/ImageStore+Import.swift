import Foundation
import ImageSpec
import Archive
import ContentStore

extension ImageStore {
    public struct ImportOptions: Sendable {
        public var reference: Reference?
        public var changes: [ConfigChange] = []
        public var message: String?
        public var platform: Platform = .host
        public init() {}
    }

    /// `strata import`: a root filesystem (a directory, or a tar — plain, gzip or zstd — or `-`
    /// for stdin) becomes a one-layer image, like `docker import`.
    public func importImage(from source: String, options: ImportOptions = ImportOptions()) throws -> Image {
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

        let created = TreeArchiver.sourceDateEpoch.map { Date(timeIntervalSince1970: Double($0)) } ?? Date()
        var config = ImageConfig(architecture: options.platform.architecture, os: options.platform.os,
                                 diffIDs: [layerDigest], created: created)
        config.variant = options.platform.variant
        var container = ContainerConfig()
        for change in options.changes { try change.apply(to: &container) }
        if !container.json.isEmpty { config.config = container }
        // As `docker import`: the message, or where the image came from, is both comment and history.
        let comment = options.message ?? "Imported from \(source)"
        config.history = [History(created: created, createdBy: "", comment: comment)]
        config.comment = comment

        return try commitImage(config: config, layers: [layer], tags: options.reference.map { [$0] } ?? [])
    }

    /// Writes a config and an OCI manifest over layers already in the store, and records the image
    /// (commit, build). The caller holds the ingest lock.
    public func commitImage(config: ImageConfig, layers: [Layer], tags: [Reference], parent: Digest? = nil) throws -> Image {
        let configBytes = try config.encoded()
        let configDigest = try content.ingest(bytes: configBytes)
        let manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                                layers: layers.map(\.descriptor))
        let manifestBytes = Array(try JSONCoding.encoder.encode(manifest))
        let manifestDigest = try content.ingest(bytes: manifestBytes)
        return try record(NewImage(manifestDigest: manifestDigest, manifestMediaType: .ociManifest, config: config,
                                   configDigest: configDigest, layers: layers, parent: parent), tags: tags).image
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
