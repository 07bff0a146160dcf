import CLinux
import Foundation
import Host
import ImageSpec

extension ContainerEngine {
    /// How `strata attach` (and `run -i`, `start -a -i`) joins a container.
    public struct AttachOptions: Sendable {
        /// The input to pass on; nil with `--no-stdin`. Only a container created with `-i` takes it.
        public var stdin: Int32?
        public var stdout: Int32
        public var stderr: Int32
        public var detachKeys: DetachKeys
        public init(stdin: Int32? = 0, stdout: Int32 = 1, stderr: Int32 = 2, detachKeys: DetachKeys = .standard) {
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.detachKeys = detachKeys
        }
    }

    /// `strata attach`: the running container's output comes here and this input goes to it, until
    /// the container ends (its exit code) or the user types the detach keys (nil: it runs on).
    public func attach(_ input: String, _ options: AttachOptions) throws -> Int32? {
        let c = try lookup(input)
        guard c.state == .running else {
            throw StrataError(.containerNotRunning, "You cannot attach to a stopped container, start it first")
        }
        try Self.requireTerminal(Attachment(stdin: c.spec.openStdin == true ? options.stdin : nil), tty: c.spec.tty == true)
        let socket = strata_abstract_socket(AttachServer.socketName(c.id), 0)
        guard socket >= 0 else {
            throw StrataError(.containerNotRunning, "cannot attach to container \(c.shortID): nothing is serving its input and output",
                              cause: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
        }
        return try relay(c, socket: socket, options)
    }

    /// `run -i` and `start -a -i`: the container runs under a monitor, as with `-d`, so the user
    /// can detach from it and attach again; the monitor starts it once this process is attached,
    /// so none of its output is missed. Returns as `attach` does.
    public func startAndAttach(_ input: String, executable: String, _ options: AttachOptions) throws -> Int32? {
        let c = try lookup(input)
        if c.state == .running { return try attach(c.id, options) }  // as docker start -a
        try Self.requireTerminal(Attachment(stdin: c.spec.openStdin == true ? options.stdin : nil), tty: c.spec.tty == true)
        let monitor = try spawnMonitor(c, executable: executable, options: MonitorOptions(waitForClient: true, stdinOnce: true))
        // Connected once the monitor listens; if it ends first, its log says why.
        let name = AttachServer.socketName(c.id)
        var socket = strata_abstract_socket(name, 0)
        while socket < 0 {
            if monitor.ended { throw monitor.failure() }
            usleep(2_000)
            socket = strata_abstract_socket(name, 0)
        }
        return try relay(c, socket: socket, options)
    }

    /// Joins this process's input and output to the container's through its attach socket. With
    /// `-t`, the user's terminal is raw (every key goes as typed) and its size follows the window;
    /// without, signals sent to this process go to the container, as Docker's `--sig-proxy`.
    private func relay(_ c: Container, socket: Int32, _ options: AttachOptions) throws -> Int32? {
        defer { close(socket) }
        let tty = c.spec.tty == true
        let input = c.spec.openStdin == true ? options.stdin : nil
        let terminal = try input.flatMap { tty ? try RawTerminal($0) : nil }
        defer { terminal?.restore() }
        let signals: [Int32] = [SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]
        let signalReader = strata_watch_signals(signals, Int32(signals.count))
        defer { strata_unwatch_signals(signals, Int32(signals.count), signalReader) }

        func send(_ frame: AttachFrame) {
            // A monitor gone shows as the end of the socket, read below.
            _ = frame.encoded.withUnsafeBytes { FileWriter.writeAll(socket, $0) }
        }
        func sendWindowSize() {
            var rows: UInt16 = 0, columns: UInt16 = 0
            for fd in [input ?? 0, options.stdout] where strata_window_size(fd, &rows, &columns) == 0 && rows > 0 {
                return send(.resize(rows: rows, columns: columns))
            }
        }
        if tty { sendWindowSize() }

        var matcher = DetachKeys.Matcher(options.detachKeys)
        var frames = AttachFrame.Reader()
        var inputOpen = input != nil
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: signalReader, events: Int16(POLLIN), revents: 0)]
            if inputOpen, let input { fds.append(pollfd(fd: input, events: Int16(POLLIN), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                throw StrataError.posix("cannot wait for container \(c.shortID)", errno: errno)
            }
            if fds[1].revents != 0 {
                let n = read(signalReader, buffer.baseAddress, buffer.count)
                for number in n > 0 ? Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) : [] {
                    if Int32(number) == SIGWINCH {
                        if tty { sendWindowSize() }
                    } else {
                        runtime.kill(c.id, signal: "\(number)")
                    }
                }
            }
            if fds.count > 2, fds[2].revents != 0, let input {
                let n = read(input, buffer.baseAddress, buffer.count)
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                if n <= 0 {
                    inputOpen = false
                    send(AttachFrame(.closeStdin))
                } else {
                    let (pass, detach) = matcher.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    if !pass.isEmpty { send(AttachFrame(.stdin, pass)) }
                    if detach { return nil }
                }
            }
            if fds[0].revents != 0 {
                let n = read(socket, buffer.baseAddress, buffer.count)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                frames.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                while let frame = try frames.next() {
                    switch frame.kind {
                    case .stdout: _ = frame.payload.withUnsafeBytes { FileWriter.writeAll(options.stdout, $0) }
                    case .stderr: _ = frame.payload.withUnsafeBytes { FileWriter.writeAll(options.stderr, $0) }
                    case .exit: return frame.status ?? 0
                    case .failure: throw frame.error ?? StrataError(.runtimeFailed, "container \(c.shortID) could not run")
                    default: break
                    }
                }
            }
        }
        // The monitor went without saying how the container ended: its record says.
        let after = try lookup(c.id)
        if after.state == .exited, let code = after.exitCode { return code }
        throw StrataError(.runtimeFailed, "lost the connection to container \(c.shortID) (its monitor ended)")
    }
}

/// The user's terminal in raw mode for an attached session, put back as it was on every way out.
struct RawTerminal {
    let fd: Int32
    let saved: termios

    /// Nil when `fd` is not a terminal.
    init?(_ fd: Int32) throws {
        var attributes = termios()
        guard isatty(fd) != 0, tcgetattr(fd, &attributes) == 0 else { return nil }
        saved = attributes
        self.fd = fd
        cfmakeraw(&attributes)
        // Output stays cooked, as runc leaves it: runc turns off the container terminal's own \n to
        // \r\n translation, for the user's terminal to do.
        attributes.c_oflag = saved.c_oflag
        guard tcsetattr(fd, TCSANOW, &attributes) == 0 else {
            throw StrataError.posix("cannot put the terminal in raw mode", errno: errno)
        }
    }

    func restore() {
        var attributes = saved
        tcsetattr(fd, TCSANOW, &attributes)
    }
}
