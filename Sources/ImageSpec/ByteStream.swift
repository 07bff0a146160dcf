/// The two small protocols every source and sink of bytes shares: files, sockets, hashers,
/// codecs and tar streams are chained through them, so data is streamed and never held whole.
public protocol ByteReader: AnyObject {
    /// Reads up to `buffer.count` bytes; returns 0 only at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

public protocol ByteWriter: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes whatever the writer buffers (a codec's trailer, say). Does not close the underlying sink.
    func finish() throws
}

extension ByteWriter {
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

extension ByteReader {
    /// Reads the whole stream into memory: only for small things (manifests, configs).
    public func readAll(limit: Int = 64 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw StrataError(.invalidArgument, "stream larger than \(limit) bytes") }
        }
    }

    /// Copies this stream into `writer` and returns the byte count.
    @discardableResult
    public func copy(to writer: ByteWriter, bufferSize: Int = 1 << 20) throws -> Int64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            try Interruption.check()
            let n = try read(into: buffer)
            if n == 0 { return total }
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
    }
}

/// Reads from an in-memory byte array.
public final class MemoryReader: ByteReader {
    private let bytes: [UInt8]
    private var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n <= 0 { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<offset + n]))
        }
        offset += n
        return n
    }
}

/// Collects written bytes in memory.
public final class MemoryWriter: ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ b: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: b) }
    public func finish() throws {}
}

/// Discards what it is given, counting it.
public final class NullWriter: ByteWriter {
    public private(set) var count: Int64 = 0
    public init() {}
    public func write(_ b: UnsafeRawBufferPointer) throws { count += Int64(b.count) }
    public func finish() throws {}
}

/// Passes reads through, counting bytes.
public final class CountingReader: ByteReader {
    private let base: ByteReader
    public private(set) var count: Int64 = 0
    public init(_ base: ByteReader) { self.base = base }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        count += Int64(n)
        return n
    }
}

/// Passes reads through while feeding a digester and counting bytes.
public final class DigestingReader: ByteReader {
    private let base: ByteReader
    public private(set) var digester: Digester
    public private(set) var count: Int64 = 0
    public init(_ base: ByteReader, algorithm: DigestAlgorithm = .sha256) {
        self.base = base
        self.digester = Digester(algorithm)
    }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 {
            digester.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
        }
        return n
    }
    public func digest() -> Digest { digester.finalize() }
}

/// Passes writes through while feeding a digester and counting bytes.
public final class DigestingWriter: ByteWriter {
    private let base: ByteWriter
    public private(set) var digester: Digester
    public private(set) var count: Int64 = 0
    public init(_ base: ByteWriter, algorithm: DigestAlgorithm = .sha256) {
        self.base = base
        self.digester = Digester(algorithm)
    }
    public func write(_ b: UnsafeRawBufferPointer) throws {
        digester.update(b)
        count += Int64(b.count)
        try base.write(b)
    }
    public func finish() throws { try base.finish() }
    public func digest() -> Digest { digester.finalize() }
}
