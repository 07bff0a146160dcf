import ImageSpec

/// One message on a container's attach socket. It is framed as Docker frames its attach streams
/// (a byte naming the stream, three zero bytes, the payload's length as a big-endian UInt32),
/// with Strata's control messages beside the three streams.
struct AttachFrame: Sendable, Equatable {
    enum Kind: UInt8, Sendable {
        case stdin = 0, stdout = 1, stderr = 2
        /// The client's input ended (`echo hi | strata run -i …`).
        case closeStdin = 0x10
        /// The client's terminal has a new size: rows and columns, UInt16 each.
        case resize = 0x11
        /// The container ended with this status (Int32): the last message.
        case exit = 0x12
        /// The container could not run: the error's code, a newline, its message.
        case failure = 0x13
    }

    /// A bound on one payload: a client cannot make the monitor hold more than this for it.
    static let maximumPayload = 1 << 20

    var kind: Kind
    var payload: [UInt8]

    init(_ kind: Kind, _ payload: [UInt8] = []) {
        self.kind = kind
        self.payload = payload
    }

    static func resize(rows: UInt16, columns: UInt16) -> AttachFrame {
        AttachFrame(.resize, [UInt8(rows >> 8), UInt8(rows & 0xff), UInt8(columns >> 8), UInt8(columns & 0xff)])
    }

    static func exit(_ status: Int32) -> AttachFrame {
        AttachFrame(.exit, withUnsafeBytes(of: UInt32(bitPattern: status).bigEndian, Array.init))
    }

    static func failure(_ error: StrataError) -> AttachFrame {
        AttachFrame(.failure, Array("\(error.code.rawValue)\n\(error.message)".utf8))
    }

    var encoded: [UInt8] {
        let length = UInt32(payload.count)
        return [kind.rawValue, 0, 0, 0, UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff),
                UInt8(length & 0xff)] + payload
    }

    var size: (rows: UInt16, columns: UInt16)? {
        guard kind == .resize, payload.count == 4 else { return nil }
        return (UInt16(payload[0]) << 8 | UInt16(payload[1]), UInt16(payload[2]) << 8 | UInt16(payload[3]))
    }

    var status: Int32? {
        guard kind == .exit, payload.count == 4 else { return nil }
        return Int32(bitPattern: payload.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    var error: StrataError? {
        guard kind == .failure else { return nil }
        let text = String(decoding: payload, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let code = StrataError.Code(rawValue: String(parts[0])) ?? .runtimeFailed
        return StrataError(code, parts.count > 1 ? String(parts[1]) : text)
    }

    /// Collects bytes as they are read from a socket and gives back whole frames.
    struct Reader: Sendable {
        private var buffer: [UInt8] = []

        mutating func append(_ bytes: UnsafeRawBufferPointer) { buffer.append(contentsOf: bytes) }

        /// The next whole frame, nil until one has arrived; an error for bytes that are not frames.
        mutating func next() throws -> AttachFrame? {
            guard buffer.count >= 8 else { return nil }
            guard let kind = Kind(rawValue: buffer[0]), buffer[1] == 0, buffer[2] == 0, buffer[3] == 0 else {
                throw StrataError(.io, "the attach stream is corrupt (a frame of unknown kind \(buffer[0]))")
            }
            let length = buffer[4..<8].reduce(0) { $0 << 8 | Int($1) }
            guard length <= AttachFrame.maximumPayload else {
                throw StrataError(.io, "the attach stream is corrupt (a frame of \(length) bytes)")
            }
            guard buffer.count >= 8 + length else { return nil }
            let frame = AttachFrame(kind, Array(buffer[8..<(8 + length)]))
            buffer.removeFirst(8 + length)
            return frame
        }
    }
}
