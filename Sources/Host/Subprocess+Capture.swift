import Foundation
import ImageSpec
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What a program printed and how it ended.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// Its stderr, trimmed: what goes into an error message.
    public var stderrText: String { String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// A program that exited non-zero: the cause of the `StrataError` its caller throws.
public struct ProcessFailure: Error, Sendable, CustomStringConvertible {
    public var program: String
    public var arguments: [String]
    public var status: Int32
    public var stderr: String

    public var description: String {
        "\(program) exited \(status)" + (stderr.isEmpty ? "" : ": \(stderr)")
    }
}

extension Subprocess {
    static let logger = Logger(label: "strata.process")

    /// Runs a program to completion, feeding it `input` on stdin, and returns its exit status,
    /// stdout and stderr. Throws only when it cannot be started.
    public static func capture(_ path: String, _ arguments: [String], input: [UInt8] = [],
                               environment: [String]? = nil) throws -> ProcessOutput {
        let program = try resolve(path)
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        // Children close every descriptor above 2 (closefrom), so these need no O_CLOEXEC.
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw StrataError.posix("cannot make pipes for \(program)", errno: errno)
        }
        let pid: pid_t
        do {
            pid = try spawn(program, arguments, environment: environment, stdin: inPipe[0], stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            (inPipe + outPipe + errPipe).forEach { close($0) }
            throw error
        }
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        // stdin is written from another thread, so a program that answers before it has read
        // everything cannot deadlock us.
        let writer = inPipe[1]
        let fed = DispatchSemaphore(value: 0)
        Thread {
            // A program that exits without reading all of its input (a credential helper with
            // nothing to say) makes the write fail with EPIPE instead of killing this process:
            // SIGPIPE is blocked on this thread, which ends with the signal pending and dropped.
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            _ = input.withUnsafeBytes { FileWriter.writeAll(writer, $0) }
            close(writer)
            fed.signal()
        }.start()
        let (out, err) = drain(outPipe[0], errPipe[0])
        fed.wait()
        let status = wait(pid)
        let result = ProcessOutput(status: status, stdout: out, stderr: err)
        if status != 0 { logger.debug("\(program) exited \(status): \(result.stderrText)") }
        return result
    }

    /// Runs a program and requires it to succeed: a non-zero exit throws `processFailed` with
    /// its stderr in the message, and a `ProcessFailure` as the cause.
    @discardableResult
    public static func check(_ path: String, _ arguments: [String], input: [UInt8] = [], what: String,
                             code: StrataError.Code = .processFailed) throws -> ProcessOutput {
        let output = try capture(path, arguments, input: input)
        guard output.status == 0 else {
            let failure = ProcessFailure(program: path, arguments: arguments, status: output.status, stderr: output.stderrText)
            throw StrataError(code, "\(what): \(failure)", cause: failure)
        }
        return output
    }

    /// An absolute path as it is; a bare name found on `$PATH`, as a shell would.
    public static func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        throw StrataError(.processFailed, "\(name): executable file not found in $PATH",
                          cause: POSIXError(.ENOENT))
    }

    /// Reads both pipes to their end.
    private static func drain(_ out: Int32, _ err: Int32) -> ([UInt8], [UInt8]) {
        var buffers: [Int32: [UInt8]] = [out: [], err: []]
        var open = [out, err]
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for p in fds where p.revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 {
                    close(p.fd)
                    open.removeAll { $0 == p.fd }
                } else {
                    buffers[p.fd]!.append(contentsOf: chunk[0..<n])
                }
            }
        }
        return (buffers[out]!, buffers[err]!)
    }
}
