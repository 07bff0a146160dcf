import ImageSpec

/// Reads a tar stream entry by entry (ustar, PAX, GNU and v7), never holding an entry's body:
/// `next()` returns the header, then `readBody` (or `bodyReader`) streams the body; whatever
/// the caller leaves unread is skipped by the following `next()`.
public final class TarReader {
    private let source: ByteReader
    /// The one read buffer; unread bytes are `buffer[start..<end]`.
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var sourceDone = false
    /// Stream offset of `buffer[start]`, for error messages.
    private var position: Int64 = 0

    private var entryName = BytePath()
    private var entrySize: Int64 = 0
    private var bodyRemaining: Int64 = 0
    private var paddingRemaining = 0
    private var inEntry = false
    private var finished = false
    private var sawHeader = false
    private var globalRecords: [String: [UInt8]] = [:]

    /// Caps one PAX or GNU long-name body, which is read into memory.
    private static let metadataLimit: Int64 = 16 << 20

    public init(_ source: ByteReader, bufferSize: Int = 256 << 10) {
        self.source = source
        buffer = .allocate(byteCount: max(bufferSize, 4096), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The next entry's header, or nil at the end of the archive.
    public func next() throws -> TarHeader? {
        if finished { return nil }
        if inEntry {
            let left = bodyRemaining
            let skipped = try skip(left)
            bodyRemaining -= skipped
            if skipped < left { throw truncatedBody() }
            if try skip(Int64(paddingRemaining)) < Int64(paddingRemaining) {
                throw invalid("truncated padding after \(quoted(entryName)) (archive ends at offset \(position))")
            }
            inEntry = false
        }

        var records: [String: [UInt8]] = [:]
        var longName: BytePath?
        var longLink: BytePath?
        var pendingMetadata = false
        while true {
            let available = try fill(TarField.blockSize)
            if available == 0 {
                if pendingMetadata { throw invalid("archive ends after an extended header\(after)") }
                finished = true
                return nil
            }
            if available < TarField.blockSize {
                if !sawHeader { throw invalid("not a tar archive (only \(available) bytes)") }
                throw invalid("truncated header at offset \(position)\(after)")
            }
            let block = UnsafeRawBufferPointer(rebasing: buffer[start..<start + TarField.blockSize])

            switch verifyChecksum(block) {
            case .zero:
                consume(TarField.blockSize)
                if pendingMetadata { throw invalid("end-of-archive block after an extended header\(after)") }
                try expectSecondZeroBlock()
                finished = true
                return nil
            case .bad:
                if !sawHeader { throw invalid("not a tar archive\(Self.guessFormat(block))") }
                throw invalid("bad header checksum at offset \(position)\(after)")
            case .ok:
                break
            }
            sawHeader = true

            var header = try parse(block)
            let typeflag = block[TarField.typeflag]
            consume(TarField.blockSize)
            switch typeflag {
            case UInt8(ascii: "x"):
                pendingMetadata = true
                try parsePAX(try readMetadata(header), into: &records, for: header.name)
            case UInt8(ascii: "g"):
                try parsePAX(try readMetadata(header), into: &globalRecords, for: header.name)
                globalRecords = globalRecords.filter { !$0.value.isEmpty }
            case UInt8(ascii: "L"):
                pendingMetadata = true
                longName = Self.path(try readMetadata(header))
            case UInt8(ascii: "K"):
                pendingMetadata = true
                longLink = Self.path(try readMetadata(header))
            default:
                header.name = longName ?? header.name
                header.linkName = longLink ?? header.linkName
                // Per-entry records override global ones; an empty value cancels the global one.
                var merged = globalRecords
                for (key, value) in records { merged[key] = value.isEmpty ? nil : value }
                if !merged.isEmpty { try apply(merged, to: &header) }
                if typeflag == 0 && header.name.last == UInt8(ascii: "/") { header.kind = .directory }  // v7 directories
                if header.size < 0 { throw invalid("negative size \(header.size) for \(quoted(header.name))") }
                if !header.kind.hasBody { header.size = 0 }

                entryName = header.name
                entrySize = header.size
                bodyRemaining = header.size
                paddingRemaining = Int((512 - header.size % 512) % 512)
                inEntry = true
                return header
            }
        }
    }

    /// Reads the current entry's body; returns 0 at its end.
    public func readBody(into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        guard bodyRemaining > 0, !destination.isEmpty else { return 0 }
        let wanted = Int(min(Int64(destination.count), bodyRemaining))
        let n = try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: destination[0..<wanted]))
        if n == 0 { throw truncatedBody() }
        bodyRemaining -= Int64(n)
        return n
    }

    /// The current entry's body as a stream, for chaining into writers, hashers and the like.
    public var bodyReader: ByteReader { BodyReader(self) }

    private final class BodyReader: ByteReader {
        let tar: TarReader
        init(_ tar: TarReader) { self.tar = tar }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try tar.readBody(into: buffer) }
    }

    // MARK: Header parsing

    private enum Checksum { case ok, bad, zero }

    /// Accepts both the unsigned sum (POSIX) and the signed one some old tars wrote.
    private func verifyChecksum(_ b: UnsafeRawBufferPointer) -> Checksum {
        var unsigned = 0, signed = 0
        for byte in b {
            unsigned &+= Int(byte)
            signed &+= Int(Int8(bitPattern: byte))
        }
        if unsigned == 0 { return .zero }
        let (off, len) = TarField.checksum
        for byte in b[off..<off + len] {
            unsigned -= Int(byte)
            signed -= Int(Int8(bitPattern: byte))
        }
        // The checksum is computed with its own field read as spaces.
        unsigned += len * 0x20
        signed += len * 0x20
        guard let stored = Self.number(b, TarField.checksum) else { return .bad }
        return stored == unsigned || stored == signed ? .ok : .bad
    }

    /// Decodes the ustar fields of a block whose checksum is good.
    private func parse(_ b: UnsafeRawBufferPointer) throws -> TarHeader {
        // Names are taken as bytes, whatever their encoding (GNU tar writes a file system's bytes).
        var name = BytePath(Self.field(b, TarField.name))
        // Only POSIX ustar has a prefix; old GNU keeps atime/ctime there.
        let magic = UnsafeRawBufferPointer(rebasing: b[257..<265])
        if magic.elementsEqual("ustar\u{0}00".utf8) {
            let isStar = b[508..<512].elementsEqual("tar\u{0}".utf8)
            let prefix = Self.field(b, (TarField.prefix.0, isStar ? 131 : TarField.prefix.1))
            if !prefix.isEmpty { name = BytePath(prefix).appending(name) }
        }

        func field(_ f: (Int, Int), _ what: String) throws -> Int64 {
            guard let n = Self.number(b, f) else { throw invalid("bad \(what) field for \(quoted(name))") }
            return n
        }
        let kind: TarHeader.Kind
        switch b[TarField.typeflag] {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"), UInt8(ascii: "x"), UInt8(ascii: "g"),
             UInt8(ascii: "L"), UInt8(ascii: "K"):
            kind = .regular
        case let flag:
            guard let k = TarHeader.Kind(rawValue: flag) else {
                let shown = flag >= 0x20 && flag < 0x7F ? "'\(Character(Unicode.Scalar(flag)))'" : "\(flag)"
                throw invalid("unsupported entry type \(shown) for \(quoted(name))")
            }
            kind = k
        }
        return TarHeader(
            name: name, kind: kind,
            mode: UInt32(truncatingIfNeeded: try field(TarField.mode, "mode")) & 0o7777,
            uid: Int(try field(TarField.uid, "uid")), gid: Int(try field(TarField.gid, "gid")),
            userName: Self.string(b, TarField.userName), groupName: Self.string(b, TarField.groupName),
            size: try field(TarField.size, "size"),
            modificationTime: try field(TarField.mtime, "mtime"),
            linkName: BytePath(Self.field(b, TarField.linkName)),
            deviceMajor: UInt32(truncatingIfNeeded: try field(TarField.devMajor, "devmajor")),
            deviceMinor: UInt32(truncatingIfNeeded: try field(TarField.devMinor, "devminor")))
    }

    /// The bytes of a NUL-terminated (or full) field.
    private static func field(_ b: UnsafeRawBufferPointer, _ f: (Int, Int)) -> UnsafeRawBufferPointer {
        var n = 0
        while n < f.1 && b[f.0 + n] != 0 { n += 1 }
        return UnsafeRawBufferPointer(rebasing: b[f.0..<f.0 + n])
    }

    /// The text of a NUL-terminated (or full) field (user and group names).
    private static func string(_ b: UnsafeRawBufferPointer, _ f: (Int, Int)) -> String {
        String(decoding: field(b, f), as: UTF8.self)
    }

    /// An octal field (padded with spaces or NULs) or a GNU base-256 one; nil if malformed.
    static func number(_ b: UnsafeRawBufferPointer, _ f: (Int, Int)) -> Int64? {
        let (off, len) = f
        if b[off] & 0x80 != 0 {
            // Base-256, two's complement, with the top bit of the first byte as the marker.
            let invert: UInt8 = b[off] & 0x40 != 0 ? 0xFF : 0
            var x: UInt64 = 0
            for i in 0..<len {
                var c = b[off + i] ^ invert
                if i == 0 { c &= 0x7F }
                if x >> 56 != 0 { return nil }
                x = x << 8 | UInt64(c)
            }
            if x >> 63 != 0 { return nil }
            return invert == 0 ? Int64(x) : ~Int64(x)
        }
        var i = off, e = off + len
        while i < e && (b[i] == 0x20 || b[i] == 0) { i += 1 }
        while e > i && (b[e - 1] == 0x20 || b[e - 1] == 0) { e -= 1 }
        var x: Int64 = 0
        while i < e {
            let digit = b[i] &- 0x30
            if digit > 7 || x >> 60 != 0 { return nil }
            x = x << 3 | Int64(digit)
            i += 1
        }
        return x
    }

    /// A GNU long name or link: the bytes up to the first NUL.
    private static func path(_ bytes: [UInt8]) -> BytePath {
        BytePath(bytes: bytes.prefix { $0 != 0 })
    }

    /// Says what a first block that is not tar looks like, since that is the usual mistake.
    private static func guessFormat(_ b: UnsafeRawBufferPointer) -> String {
        if b[0] == 0x1F && b[1] == 0x8B { return " (it looks gzip-compressed)" }
        if b[0..<4].elementsEqual([0x28, 0xB5, 0x2F, 0xFD]) { return " (it looks zstd-compressed)" }
        return " (bad header checksum)"
    }

    // MARK: PAX

    /// Parses "LEN KEY=VALUE\n" records into `records`.
    private func parsePAX(_ data: [UInt8], into records: inout [String: [UInt8]], for name: BytePath) throws {
        func malformed() -> StrataError { invalid("malformed PAX record in \(quoted(name))") }
        var i = 0
        while i < data.count {
            var j = i, length = 0
            while j < data.count, data[j] != 0x20 {
                let digit = Int(data[j] &- 0x30)
                guard digit <= 9, length < 1 << 40 else { throw malformed() }
                length = length * 10 + digit
                j += 1
            }
            let recordEnd = i + length
            guard j > i, j < recordEnd, recordEnd <= data.count, data[recordEnd - 1] == 0x0A,
                  let equals = data[(j + 1)..<(recordEnd - 1)].firstIndex(of: UInt8(ascii: "="))
            else { throw malformed() }
            let key = String(decoding: data[(j + 1)..<equals], as: UTF8.self)
            guard !key.isEmpty else { throw malformed() }
            records[key] = Array(data[(equals + 1)..<(recordEnd - 1)])
            i = recordEnd
        }
    }

    private func apply(_ records: [String: [UInt8]], to header: inout TarHeader) throws {
        let name = header.name
        func text(_ v: [UInt8]) -> String { String(decoding: v, as: UTF8.self) }
        func integer(_ v: [UInt8], _ key: String) throws -> Int64 {
            guard let n = Self.decimal(v[...]) else { throw invalid("bad PAX \(key) \(quoted(text(v))) for \(quoted(name))") }
            return n
        }
        for (key, value) in records {
            switch key {
            // Defined as UTF-8, but archives carry raw bytes here too (Go's writer does, GNU tar's
            // with hdrcharset=BINARY): the bytes are kept either way.
            case "path": header.name = BytePath(bytes: value)
            case "linkpath": header.linkName = BytePath(bytes: value)
            case "hdrcharset": break  // says how to read the values above; they are kept as bytes anyway
            case "size": header.size = try integer(value, key)
            case "uid": header.uid = Int(try integer(value, key))
            case "gid": header.gid = Int(try integer(value, key))
            case "uname": header.userName = text(value)
            case "gname": header.groupName = text(value)
            case "mtime":
                guard let t = Self.paxTime(value) else { throw invalid("bad PAX mtime \(quoted(text(value))) for \(quoted(name))") }
                (header.modificationTime, header.modificationNanoseconds) = t
            case _ where key.hasPrefix("SCHILY.xattr."):
                header.xattrs[String(key.dropFirst("SCHILY.xattr.".count))] = value
            case _ where key.hasPrefix("GNU.sparse."):
                throw invalid("GNU sparse files are not supported (\(quoted(name)))")
            default:
                header.paxRecords[key] = text(value)
            }
        }
    }

    /// A non-negative decimal without sign or spaces; nil on overflow or junk.
    private static func decimal(_ v: ArraySlice<UInt8>) -> Int64? {
        guard !v.isEmpty else { return nil }
        var x: Int64 = 0
        for byte in v {
            let digit = byte &- 0x30
            guard digit <= 9 else { return nil }
            let (times10, o1) = x.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(digit))
            if o1 || o2 { return nil }
            x = sum
        }
        return x
    }

    /// "[-]SECONDS[.FRACTION]", the fraction cut to nanoseconds; both parts carry the sign.
    private static func paxTime(_ v: [UInt8]) -> (Int64, Int32)? {
        let negative = v.first == UInt8(ascii: "-")
        let body = v.dropFirst(negative ? 1 : 0)
        let dot = body.firstIndex(of: UInt8(ascii: ".")) ?? body.endIndex
        guard let seconds = decimal(body[..<dot]) else { return nil }
        var nanos: Int32 = 0, scale: Int32 = 100_000_000
        for byte in body[dot...].dropFirst() {
            let digit = byte &- 0x30
            guard digit <= 9 else { return nil }
            nanos += Int32(digit) * scale
            scale /= 10
        }
        return negative ? (-seconds, -nanos) : (seconds, nanos)
    }

    // MARK: Buffered input

    /// Buffers at least `count` bytes unless the source ends first; returns what is buffered.
    private func fill(_ count: Int) throws -> Int {
        if end - start >= count { return end - start }
        if start > 0 {
            if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        while end - start < count && !sourceDone {
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if n == 0 { sourceDone = true } else { end += n }
        }
        return end - start
    }

    private func consume(_ n: Int) {
        start += n
        position += Int64(n)
    }

    /// Reads up to `destination.count` bytes; 0 only when the source has ended.
    private func readRaw(into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        if start == end {
            start = 0
            end = 0
            if sourceDone { return 0 }
            // Large reads bypass the buffer rather than copying through it.
            if destination.count >= buffer.count {
                let n = try source.read(into: destination)
                if n == 0 { sourceDone = true }
                position += Int64(n)
                return n
            }
            if try fill(1) == 0 { return 0 }
        }
        let n = min(destination.count, end - start)
        destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<start + n]))
        consume(n)
        return n
    }

    /// Discards up to `count` bytes; returns how many there were.
    private func skip(_ count: Int64) throws -> Int64 {
        var left = count
        while left > 0 {
            if start == end {
                start = 0
                end = 0
                if sourceDone { break }
                if try fill(1) == 0 { break }
            }
            let n = Int(min(Int64(end - start), left))
            consume(n)
            left -= Int64(n)
        }
        return count - left
    }

    /// Reads a PAX or GNU long-name body (and its padding) into memory.
    private func readMetadata(_ header: TarHeader) throws -> [UInt8] {
        guard header.size >= 0, header.size <= Self.metadataLimit else {
            throw invalid("extended header \(quoted(header.name)) has an unreasonable size \(header.size)")
        }
        var data = [UInt8](repeating: 0, count: Int(header.size))
        var got = 0
        try data.withUnsafeMutableBytes { out in
            while got < out.count {
                let n = try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: out[got...]))
                if n == 0 { break }
                got += n
            }
        }
        let padding = Int64((512 - data.count % 512) % 512)
        guard got == data.count, try skip(padding) == padding else {
            throw invalid("truncated extended header \(quoted(header.name)) (expected \(data.count) bytes, got \(got))")
        }
        return data
    }

    /// After one zero block, the archive must end: a second zero block, a clean EOF, or zero padding.
    private func expectSecondZeroBlock() throws {
        let available = try fill(TarField.blockSize)
        let block = UnsafeRawBufferPointer(rebasing: buffer[start..<start + min(available, TarField.blockSize)])
        guard block.allSatisfy({ $0 == 0 }) else {
            throw invalid("data after the end-of-archive block at offset \(position)")
        }
        consume(block.count)
    }

    // MARK: Errors

    private func invalid(_ message: String) -> StrataError {
        StrataError(.invalidArchive, "invalid tar: " + message)
    }

    private func truncatedBody() -> StrataError {
        invalid("truncated body of \(quoted(entryName)) (expected \(entrySize) bytes, got \(entrySize - bodyRemaining))")
    }

    /// Names the last good entry, to locate a problem in a big layer.
    private var after: String { entryName.isEmpty ? "" : " (after \(quoted(entryName)))" }

    private func quoted(_ s: String) -> String { "\"\(s)\"" }
    private func quoted(_ path: BytePath) -> String { "\"\(path)\"" }
}
