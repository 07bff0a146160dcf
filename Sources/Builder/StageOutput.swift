import CLinux
import Foundation
import ImageSpec
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// A RUN's output while its stage is built alongside others: read from two pipes a line at a
/// time and reported as the stage's, so lines of different stages never mix mid-line.
final class StageOutput {
    /// What the container's output is copied to: the pipes' write ends.
    let attachment: ContainerEngine.Attachment
    private var writeEnds: [Int32]
    private let readers = DispatchGroup()
    /// A line longer than this is reported in pieces of this size.
    static let longestLine = 64 << 10

    init(line: @escaping @Sendable (String, _ standardError: Bool) -> Void) throws {
        var ends: [(read: Int32, write: Int32)] = []
        for _ in 0..<2 {
            var fds: [Int32] = [-1, -1]
            guard strata_pipe_cloexec(&fds) == 0 else {
                let code = errno
                for end in ends { close(end.read); close(end.write) }
                throw StrataError.posix("cannot make a pipe for a RUN step's output", errno: code)
            }
            ends.append((fds[0], fds[1]))
        }
        attachment = ContainerEngine.Attachment(stdout: ends[0].write, stderr: ends[1].write)
        writeEnds = ends.map(\.write)
        for (stream, end) in ends.enumerated() {
            readers.enter()
            let fd = end.read, group = readers
            let thread = Thread {
                Self.readLines(fd) { line($0, stream == 1) }
                close(fd)
                group.leave()
            }
            thread.name = "strata-build-output"
            thread.start()
        }
    }

    /// Ends the output: closes the write ends and returns once every line has been reported.
    func finish() {
        for fd in writeEnds { close(fd) }
        writeEnds = []
        readers.wait()
    }

    deinit { finish() }

    /// Reads `fd` to its end, handing over each line without its newline (and a last one without).
    static func readLines(_ fd: Int32, _ line: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            pending += buffer[0..<n]
            var start = 0
            while start < pending.count {
                let window = start..<min(pending.count, start + longestLine)
                if let newline = pending[window].firstIndex(of: UInt8(ascii: "\n")) {
                    line(String(decoding: pending[start..<newline], as: UTF8.self))
                    start = newline + 1
                } else if window.count == longestLine {
                    line(String(decoding: pending[window], as: UTF8.self))
                    start = window.upperBound
                } else {
                    break
                }
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
    }
}
