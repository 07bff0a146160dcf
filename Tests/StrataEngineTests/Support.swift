import Foundation
import StrataEngine

/// A fresh directory under the system's temp directory.
func temporaryDirectory(_ name: String = "engine") -> String {
    let path = NSTemporaryDirectory() + "strata-\(name)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Builds an uncompressed layer tar in memory.
struct Layer {
    private let out = MemoryWriter()
    private let tar: TarWriter
    init() { tar = TarWriter(out) }

    func file(_ name: String, _ content: String, mode: UInt32 = 0o644, time: Int64 = 1_700_000_000) throws -> Layer {
        let bytes = Array(content.utf8)
        try tar.append(TarHeader(name: BytePath(name), mode: mode, size: Int64(bytes.count), modificationTime: time), body: MemoryReader(bytes))
        return self
    }

    func dir(_ name: String, mode: UInt32 = 0o755) throws -> Layer {
        try tar.append(.directory(BytePath(name), mode: mode), body: nil)
        return self
    }

    func symlink(_ name: String, _ target: String) throws -> Layer {
        try tar.append(.symlink(BytePath(name), target: BytePath(target)), body: nil)
        return self
    }

    /// A whiteout: `name` is deleted from the layers below.
    func whiteout(_ name: String) throws -> Layer {
        let slash = name.lastIndex(of: "/")
        let path = slash.map { "\(name[..<$0])/.wh.\(name[name.index(after: $0)...])" } ?? ".wh.\(name)"
        try tar.append(TarHeader(name: BytePath(path)), body: nil)
        return self
    }

    func bytes() throws -> [UInt8] {
        try tar.finish()
        return out.bytes
    }
}

extension ImageStore {
    /// An image of these layers (uncompressed), tagged.
    @discardableResult
    func makeImage(_ layers: [[UInt8]], tag: String) throws -> ImageStore.Image {
        var recorded: [ImageStore.Layer] = []
        for bytes in layers {
            let digest = try content.ingest(bytes: bytes)
            let stats = try LayerStats.measure(MemoryReader(bytes))
            recorded.append(ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: digest, size: Int64(bytes.count)),
                                             diffID: digest, size: stats.contentSize, tarSize: Int64(bytes.count)))
        }
        let config = ImageConfig(architecture: Platform.host.architecture, os: Platform.host.os, diffIDs: recorded.map(\.diffID))
        let lock = try ingestLock()
        defer { withExtendedLifetime(lock) {} }
        return try commitImage(config: config, layers: recorded, tags: [try Reference(parsing: tag)])
    }
}
