import Foundation
import ImageSpec

/// A container's output in Docker's json-file format: one JSON object per line,
/// `{"log":"…\n","stream":"stdout","time":"…"}`, so `logs` can give each stream back to its own fd.
final class ContainerLogWriter {
    private let writer: FileWriter
    private var partial: [String: [UInt8]] = [:]

    init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw StrataError.posix("cannot open log \(path)", errno: errno) }
        writer = FileWriter(fd: fd, path: path, owned: true)
    }

    /// Records a chunk of a stream; complete lines are written at once, a trailing partial line waits.
    func append(_ bytes: UnsafeRawBufferPointer, stream: String) {
        var pending = partial[stream, default: []]
        pending.append(contentsOf: bytes)
        var start = 0
        for i in pending.indices where pending[i] == 0x0a {
            record(Array(pending[start...i]), stream: stream)
            start = i + 1
        }
        partial[stream] = Array(pending[start...])
        try? writer.flush()
    }

    func close() {
        for (stream, rest) in partial where !rest.isEmpty { record(rest, stream: stream) }
        partial.removeAll()
        try? writer.flush()
    }

    private func record(_ line: [UInt8], stream: String) {
        var out = #"{"log":"#
        out += JSONCoding.quote(String(decoding: line, as: UTF8.self), escapeHTML: false)
        out += #","stream":"\#(stream)","time":"\#(RFC3339.format(Date()))"}"# + "\n"
        try? writer.write(Array(out.utf8))
    }
}

/// One record of a container log.
struct LogRecord: Decodable {
    var log: String
    var stream: String
}
