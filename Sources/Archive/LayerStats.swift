import ImageSpec

/// What a layer holds, measured as Docker measures a layer's size: the bytes of its regular
/// files plus the length of its symlink targets (hard links and directories count nothing).
public struct LayerStats: Sendable, Equatable {
    public var entries = 0
    public var contentSize: Int64 = 0
    /// The length of the uncompressed tar stream (set when a whole blob was read).
    public var tarSize: Int64 = 0

    public init() {}

    public mutating func add(_ header: TarHeader) {
        entries += 1
        switch header.kind {
        case .regular: contentSize += header.size
        case .symlink: contentSize += Int64(header.linkName.count)
        default: break
        }
    }

    /// Reads a whole (uncompressed) tar stream, measuring it; the stream is checked as it goes.
    public static func measure(_ reader: ByteReader) throws -> LayerStats {
        var stats = LayerStats()
        let tar = TarReader(reader)
        while let header = try tar.next() { stats.add(header) }
        return stats
    }
}
