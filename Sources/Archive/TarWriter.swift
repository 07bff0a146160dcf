import ImageSpec

/// Writes a ustar stream, adding a PAX extended header only for what ustar cannot hold.
/// Output depends on the headers and bodies alone (no clock, no pid), so layers are reproducible.
public final class TarWriter {
    private let sink: ByteWriter
    /// Headers, bodies and padding are staged here so small entries cost one sink write, not three.
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private var finished = false

    public init(_ sink: ByteWriter, bufferSize: Int = 256 << 10) {
        self.sink = sink
        buffer = .allocate(byteCount: max(bufferSize, 4096), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Appends an entry whose body is exactly `header.size` bytes of `body` (nil when empty).
    /// A body of the wrong length throws `.sizeMismatch` and leaves the archive unusable.
    public func append(_ header: TarHeader, body: ByteReader?) throws {
        guard !finished else { throw StrataError(.invalidArgument, "tar writer already finished") }
        try emit(try Self.encode(header))
        guard let body else {
            if header.size > 0 { throw StrataError(.invalidArgument, "no body given for \"\(header.name)\" of \(header.size) bytes") }
            return
        }
        var left = header.size
        while left > 0 {
            if used == buffer.count { try flush() }
            let room = Int(min(Int64(buffer.count - used), left))
            let n = try body.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[used..<used + room]))
            if n == 0 {
                throw StrataError(.sizeMismatch, "body of \"\(header.name)\" is shorter than its size (expected \(header.size) bytes, got \(header.size - left))")
            }
            used += n
            left -= Int64(n)
        }
        // Probe into the free space past `used`: anything read there means the body is too long.
        if used == buffer.count { try flush() }
        if try body.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[used...])) != 0 {
            throw StrataError(.sizeMismatch, "body of \"\(header.name)\" is longer than its size of \(header.size) bytes")
        }
        try emitZeros(Self.padding(header.size))
    }

    /// Appends an entry with an in-memory body; `header.size` is set from it.
    public func append(_ header: TarHeader, data: [UInt8]) throws {
        var header = header
        header.size = Int64(data.count)
        try append(header, body: data.isEmpty ? nil : MemoryReader(data))
    }

    /// Writes the end-of-archive marker (two zero blocks) and finishes the sink.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        try emitZeros(2 * TarField.blockSize)
        try flush()
        try sink.finish()
    }

    // MARK: Output staging

    private func flush() throws {
        if used > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<used])) }
        used = 0
    }

    private func emit(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            if used == buffer.count { try flush() }
            let n = min(buffer.count - used, bytes.count - offset)
            bytes.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: buffer[used..<used + n])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n]))
            }
            used += n
            offset += n
        }
    }

    private func emitZeros(_ count: Int) throws {
        var left = count
        while left > 0 {
            if used == buffer.count { try flush() }
            let n = min(buffer.count - used, left)
            UnsafeMutableRawBufferPointer(rebasing: buffer[used..<used + n]).initializeMemory(as: UInt8.self, repeating: 0)
            used += n
            left -= n
        }
    }

    private static func padding(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }

    // MARK: Encoding

    /// The header blocks of an entry: a PAX 'x' header with its records when needed, then the ustar block.
    static func encode(_ header: TarHeader) throws -> [UInt8] {
        var name = header.name
        if header.kind == .directory && name.last != UInt8(ascii: "/") { name = name + "/" }
        func reject(_ why: String) -> StrataError { StrataError(.invalidArgument, "cannot write tar entry \"\(name)\": \(why)") }
        guard !name.isEmpty else { throw reject("empty name") }
        guard header.size >= 0 else { throw reject("negative size") }
        guard header.kind.hasBody || header.size == 0 else { throw reject("only regular files have a body") }
        guard header.uid >= 0, header.gid >= 0 else { throw reject("negative uid or gid") }
        let nanos = header.modificationNanoseconds
        guard nanos.magnitude < 1_000_000_000,
              nanos == 0 || header.modificationTime == 0 || (nanos < 0) == (header.modificationTime < 0)
        else { throw reject("modificationNanoseconds out of range") }
        if name.contains(0) || header.linkName.contains(0) || header.userName.utf8.contains(0) || header.groupName.utf8.contains(0) {
            throw reject("NUL byte in a name")
        }
        // A PAX key ends at its first "=", so keys may not contain one.
        for key in Array(header.xattrs.keys) + Array(header.paxRecords.keys) where key.isEmpty || key.contains("=") || key.utf8.contains(0) {
            throw reject("bad PAX key \"\(key)\"")
        }

        var pax: [String: [UInt8]] = [:]
        var block = HeaderBlock()

        let nameBytes = name.bytes
        if let (prefix, rest) = splitName(nameBytes) {
            block.set(rest, TarField.name)
            block.set(prefix, TarField.prefix)
        } else {
            pax["path"] = nameBytes
            block.set(nameBytes.filter { $0 < 0x80 }.prefix(100), TarField.name)
        }
        block.setNumber(Int64(header.mode & 0o7777), TarField.mode)
        if !block.setNumber(Int64(header.uid), TarField.uid) { pax["uid"] = Array(String(header.uid).utf8) }
        if !block.setNumber(Int64(header.gid), TarField.gid) { pax["gid"] = Array(String(header.gid).utf8) }
        if !block.setNumber(header.size, TarField.size) { pax["size"] = Array(String(header.size).utf8) }
        if !block.setNumber(header.modificationTime, TarField.mtime) || nanos != 0 {
            pax["mtime"] = Array(formatTime(header.modificationTime, nanos).utf8)
        }
        block.bytes[TarField.typeflag] = header.kind.rawValue
        for (key, bytes, field) in [("linkpath", header.linkName.bytes, TarField.linkName),
                                    ("uname", Array(header.userName.utf8), TarField.userName),
                                    ("gname", Array(header.groupName.utf8), TarField.groupName)] {
            // uname/gname keep a NUL terminator; linkname may fill its field.
            let limit = key == "linkpath" ? field.1 : field.1 - 1
            if bytes.count <= limit && bytes.allSatisfy({ $0 < 0x80 }) {
                block.set(bytes, field)
            } else {
                pax[key] = bytes
                block.set(bytes.filter { $0 < 0x80 }.prefix(limit), field)
            }
        }
        if header.kind == .characterDevice || header.kind == .blockDevice {
            block.setNumber(Int64(header.deviceMajor), TarField.devMajor)
            block.setNumber(Int64(header.deviceMinor), TarField.devMinor)
        }
        for (key, value) in header.xattrs { pax["SCHILY.xattr." + key] = value }
        // Fields above win over stale copies of their keys in paxRecords.
        for (key, value) in header.paxRecords where pax[key] == nil && !isStructuredKey(key) {
            pax[key] = Array(value.utf8)
        }

        guard !pax.isEmpty else { return block.finalized() }
        // PAX text is UTF-8 unless the header says otherwise: a name that is not (a Latin-1 file
        // name, say) goes in as its bytes under hdrcharset=BINARY, as GNU tar writes it. Go's
        // reader (Docker, umoci) takes the bytes either way.
        if !name.isUTF8 || !header.linkName.isUTF8 { pax["hdrcharset"] = Array("BINARY".utf8) }
        var records: [UInt8] = []
        for key in pax.keys.sorted() { records += paxRecord(key, pax[key]!) }
        var paxBlock = HeaderBlock()
        let base = name.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? []
        paxBlock.set((Array("PaxHeaders/".utf8) + base).prefix(100), TarField.name)
        paxBlock.setNumber(0o644, TarField.mode)
        paxBlock.setNumber(0, TarField.uid)
        paxBlock.setNumber(0, TarField.gid)
        paxBlock.setNumber(Int64(records.count), TarField.size)
        paxBlock.setNumber(0, TarField.mtime)
        paxBlock.bytes[TarField.typeflag] = UInt8(ascii: "x")
        return paxBlock.finalized() + records + [UInt8](repeating: 0, count: padding(Int64(records.count))) + block.finalized()
    }

    /// Keys that mirror TarHeader fields; the reader never leaves them in paxRecords.
    private static func isStructuredKey(_ key: String) -> Bool {
        ["path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "hdrcharset"].contains(key)
            || key.hasPrefix("SCHILY.xattr.") || key.hasPrefix("GNU.sparse.")
    }

    /// Splits an ASCII path into ustar prefix (≤155) and name (≤100), cutting at a "/"; nil if impossible.
    static func splitName(_ b: [UInt8]) -> (prefix: ArraySlice<UInt8>, name: ArraySlice<UInt8>)? {
        guard b.allSatisfy({ $0 < 0x80 }) else { return nil }
        if b.count <= 100 { return ([], b[...]) }
        // The cut must leave a non-empty name and a non-empty prefix (a leading "/" would be lost).
        var i = max(1, b.count - 101)
        while i <= min(b.count - 2, 155) {
            if b[i] == UInt8(ascii: "/") { return (b[..<i], b[(i + 1)...]) }
            i += 1
        }
        return nil
    }

    /// One "LEN KEY=VALUE\n" record, LEN counting its own digits.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let base = key.utf8.count + value.count + 3
        var length = base + String(base).count
        if String(length).count > String(base).count { length += 1 }
        return Array("\(length) \(key)=".utf8) + value + [0x0A]
    }

    /// PAX time: seconds, and the fraction without trailing zeros when there is one.
    static func formatTime(_ seconds: Int64, _ nanos: Int32) -> String {
        guard nanos != 0 else { return String(seconds) }
        let sign = seconds < 0 || nanos < 0 ? "-" : ""
        var fraction = String(nanos.magnitude)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(sign)\(seconds.magnitude).\(fraction)"
    }
}

/// A 512-byte ustar header under construction.
private struct HeaderBlock {
    var bytes = [UInt8](repeating: 0, count: TarField.blockSize)

    init() {
        set(Array("ustar\u{0}00".utf8), (TarField.magic.0, 8))
    }

    mutating func set<C: Collection<UInt8>>(_ value: C, _ field: (Int, Int)) {
        for (i, byte) in value.prefix(field.1).enumerated() { bytes[field.0 + i] = byte }
    }

    /// Writes octal digits and a NUL; if the value does not fit, writes GNU base-256 when that fits
    /// (for readers without PAX) and returns false so the caller adds the PAX record.
    @discardableResult
    mutating func setNumber(_ value: Int64, _ field: (Int, Int)) -> Bool {
        let (offset, length) = field
        let digits = length - 1
        if value >= 0 && value < Int64(1) << (3 * digits) {
            var v = value
            for i in stride(from: offset + digits - 1, through: offset, by: -1) {
                bytes[i] = UInt8(ascii: "0") + UInt8(v & 7)
                v >>= 3
            }
            return true
        }
        let signBit = 8 * digits - 1
        if value >> signBit == 0 || value >> signBit == -1 {
            bytes[offset] = value < 0 ? 0xFF : 0x80
            for k in 0..<digits { bytes[offset + length - 1 - k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
        }
        return false
    }

    /// The block with its checksum: the unsigned sum with the checksum field counted as spaces.
    func finalized() -> [UInt8] {
        var out = bytes
        let (offset, length) = TarField.checksum
        for i in offset..<offset + length { out[i] = 0x20 }
        var sum = out.reduce(0) { $0 + Int($1) }
        for i in stride(from: offset + 5, through: offset, by: -1) {
            out[i] = UInt8(ascii: "0") + UInt8(sum & 7)
            sum >>= 3
        }
        out[offset + 6] = 0
        return out
    }
}
