import CCodecs
import ImageSpec

/// A reader that lets the first bytes of a stream be looked at before they are consumed
/// (to sniff gzip or zstd magic without losing anything).
public final class PeekableReader: ByteReader {
    private let base: ByteReader
    private var pending: [UInt8] = []

    public init(_ base: ByteReader) { self.base = base }

    public func peek(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        while pending.count < count {
            let n = try chunk.withUnsafeMutableBytes { try base.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(count - pending.count)])) }
            if n == 0 { break }
            pending.append(contentsOf: chunk[0..<n])
        }
        return Array(pending.prefix(count))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !pending.isEmpty {
            let n = min(buffer.count, pending.count)
            pending.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            pending.removeFirst(n)
            return n
        }
        return try base.read(into: buffer)
    }
}

public enum Codecs {
    /// Wraps `source` in the decompressor its magic bytes call for.
    public static func decompressing(_ source: ByteReader) throws -> (reader: ByteReader, compression: Compression) {
        let peekable = PeekableReader(source)
        let compression = Compression.detect(try peekable.peek(4))
        switch compression {
        case .none: return (peekable, .none)
        case .gzip: return (GzipReader(peekable), .gzip)
        case .zstd: return (try ZstdReader(peekable), .zstd)
        }
    }

    /// A reader for `source` whose compression is declared (by a media type) rather than sniffed.
    public static func decompressing(_ source: ByteReader, as compression: Compression) throws -> ByteReader {
        switch compression {
        case .none: return source
        case .gzip: return GzipReader(source)
        case .zstd: return try ZstdReader(source)
        }
    }

    /// A writer that compresses into `sink`.
    public static func compressing(_ sink: ByteWriter, as compression: Compression) throws -> ByteWriter {
        switch compression {
        case .none: return sink
        case .gzip: return try GzipWriter(sink)
        case .zstd: return try ZstdWriter(sink)
        }
    }
}

private let codecBufferSize = 256 << 10

/// gzip decompression with ISA-L's igzip: several times faster than zlib's inflate,
/// which is the CPU hot spot of every pull and load. Handles multi-member streams.
public final class GzipReader: ByteReader {
    private let source: ByteReader
    private let state: UnsafeMutablePointer<inflate_state>
    private let input: UnsafeMutableRawBufferPointer
    private var sourceDone = false
    private var finished = false

    public init(_ source: ByteReader) {
        self.source = source
        state = .allocate(capacity: 1)
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
        input = .allocate(byteCount: codecBufferSize, alignment: 64)
    }

    deinit {
        state.deallocate()
        input.deallocate()
    }

    private func refill() throws {
        let n = try source.read(into: input)
        if n == 0 { sourceDone = true }
        state.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_in = UInt32(n)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        state.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
        var produced: Int { buffer.count - Int(state.pointee.avail_out) }
        while state.pointee.avail_out > 0 {
            if state.pointee.block_state == ISAL_BLOCK_FINISH {
                // One gzip member ended: another may follow; zero padding after the last is tolerated.
                if try !startNextMember() { finished = true; break }
            }
            if state.pointee.avail_in == 0 {
                // Hand back what we have rather than block on the source for more.
                if produced > 0 { break }
                if !sourceDone { try refill() }
            }
            let before = produced
            let ret = isal_inflate(state)
            if ret < 0 { throw Self.error(ret) }
            if produced == before, state.pointee.avail_in == 0, sourceDone,
               state.pointee.block_state != ISAL_BLOCK_FINISH {
                throw StrataError(.invalidArchive, "gzip stream is truncated (unexpected end of data)")
            }
        }
        return produced
    }

    private func startNextMember() throws -> Bool {
        while true {
            if state.pointee.avail_in == 0 {
                if sourceDone { return false }
                try refill()
                continue
            }
            let p = state.pointee.next_in!
            if p[0] == 0 {
                state.pointee.next_in = p + 1
                state.pointee.avail_in -= 1
                continue
            }
            if p[0] == 0x1f {
                let next_in = state.pointee.next_in, avail_in = state.pointee.avail_in
                isal_inflate_reset(state)
                state.pointee.crc_flag = UInt32(ISAL_GZIP)
                state.pointee.next_in = next_in
                state.pointee.avail_in = avail_in
                return true
            }
            throw StrataError(.invalidArchive, "gzip stream has trailing garbage after its end")
        }
    }

    static func error(_ code: Int32) -> StrataError {
        let what: String
        switch code {
        case ISAL_INCORRECT_CHECKSUM: what = "CRC check failed (data is corrupt)"
        case ISAL_INVALID_WRAPPER: what = "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: what = "unsupported compression method"
        default: what = "invalid deflate data (code \(code))"
        }
        return StrataError(.invalidArchive, "gzip stream is corrupt: \(what)")
    }
}

/// gzip compression with ISA-L at its fastest useful level (1): layer compression must keep
/// pace with the disk and the network, trading some ratio against zlib -6 for several times the speed.
public final class GzipWriter: ByteWriter {
    private let sink: ByteWriter
    private let stream: UnsafeMutablePointer<isal_zstream>
    private let levelBuffer: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer

    public init(_ sink: ByteWriter) throws {
        self.sink = sink
        stream = .allocate(capacity: 1)
        isal_deflate_init(stream)
        levelBuffer = .allocate(byteCount: Int(strata_isal_level1_buffer_size()), alignment: 64)
        output = .allocate(byteCount: codecBufferSize, alignment: 64)
        stream.pointee.level = 1
        stream.pointee.level_buf = levelBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.level_buf_size = UInt32(levelBuffer.count)
        stream.pointee.gzip_flag = UInt16(IGZIP_GZIP)
    }

    deinit {
        stream.deallocate()
        levelBuffer.deallocate()
        output.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(bytes.count)
        repeat { try step() } while stream.pointee.avail_in > 0
    }

    public func finish() throws {
        stream.pointee.end_of_stream = 1
        stream.pointee.avail_in = 0
        repeat { try step() } while stream.pointee.internal_state.state != ZSTATE_END
        try sink.finish()
    }

    private func step() throws {
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(output.count)
        let ret = isal_deflate(stream)
        guard ret == COMP_OK else { throw StrataError(.io, "gzip compression failed (code \(ret))") }
        let n = output.count - Int(stream.pointee.avail_out)
        if n > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[0..<n])) }
    }
}

/// zstd decompression (libzstd streaming API).
public final class ZstdReader: ByteReader {
    private let source: ByteReader
    private let context: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var sourceDone = false
    private var lastResult = 0

    public init(_ source: ByteReader) throws {
        self.source = source
        guard let ctx = ZSTD_createDCtx() else { throw StrataError(.io, "zstd: out of memory") }
        context = ctx
        input = .allocate(byteCount: ZSTD_DStreamInSize(), alignment: 64)
    }

    deinit {
        ZSTD_freeDCtx(context)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        while out.pos == 0 {
            if inBuffer.pos == inBuffer.size {
                if sourceDone { break }
                let n = try source.read(into: input)
                if n == 0 { sourceDone = true; continue }
                inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: n, pos: 0)
            }
            let ret = ZSTD_decompressStream(context, &out, &inBuffer)
            if ZSTD_isError(ret) != 0 {
                throw StrataError(.invalidArchive, "zstd stream is corrupt: \(String(cString: ZSTD_getErrorName(ret)))")
            }
            lastResult = ret
        }
        if out.pos == 0, sourceDone, lastResult != 0 {
            throw StrataError(.invalidArchive, "zstd stream is truncated (unexpected end of data)")
        }
        return out.pos
    }
}

/// zstd compression (level 3, libzstd's default: fast and a better ratio than gzip).
public final class ZstdWriter: ByteWriter {
    private let sink: ByteWriter
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer

    public init(_ sink: ByteWriter, level: Int32 = 3) throws {
        self.sink = sink
        guard let ctx = ZSTD_createCCtx() else { throw StrataError(.io, "zstd: out of memory") }
        context = ctx
        ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1)
        output = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 64)
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size { _ = try step(&input, ZSTD_e_continue) }
    }

    public func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
        try sink.finish()
    }

    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let remaining = ZSTD_compressStream2(context, &out, &input, mode)
        if ZSTD_isError(remaining) != 0 {
            throw StrataError(.io, "zstd compression failed: \(String(cString: ZSTD_getErrorName(remaining)))")
        }
        if out.pos > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[0..<out.pos])) }
        return remaining
    }
}
