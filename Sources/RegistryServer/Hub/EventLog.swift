import Foundation
import ImageSpec

/// The audit trail: one JSON object per line in `events.jsonl`, only ever appended to. Each event
/// is a single `write(2)` on a descriptor opened `O_APPEND`, so the server and the account
/// commands (separate processes) never interleave within a line. Changes of state (a push, a
/// delete, a token made) are synced before the request that made them is answered; pulls, which
/// change nothing and come by the thousand, are not.
public final class EventLog: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Times as RFC 3339 text, so the file reads (and greps) as it is.
    public static var encoder: JSONEncoder {
        let encoder = JSONCoding.encoder
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 time: \(text)"))
            }
            return date
        }
        return decoder
    }

    public func append(_ event: RegistryEvent) throws {
        var bytes = Array(try Self.encoder.encode(event))
        bytes.append(UInt8(ascii: "\n"))
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StrataError.posix("cannot open the event log \(path)", errno: errno) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw StrataError.posix("cannot append to the event log \(path)", errno: errno) }
        if event.action != .pull { _ = fdatasync(fd) }
    }

    /// The events from byte `offset` on, and the offset after the last whole line (a line still
    /// being written is left for the next read).
    public func read(from offset: Int64 = 0) throws -> (events: [RegistryEvent], next: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return ([], 0) }
            throw StrataError.posix("cannot open the event log \(path)", errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var position = offset
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
            position += Int64(n)
        }
        guard let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) else { return ([], offset) }
        let decoder = Self.decoder
        let events = bytes[...lastNewline].split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(RegistryEvent.self, from: Data($0)) }
        return (events, offset + Int64(lastNewline) + 1)
    }
}
