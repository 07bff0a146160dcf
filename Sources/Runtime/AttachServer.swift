import CLinux
import Foundation
import ImageSpec

/// The running container's end of `strata attach`: a Unix socket held by the process that waits
/// for the container (its monitor, or `strata run` in the foreground). A client gets what the
/// container writes from the moment it joins. Its input goes to the container's stdin when the
/// container was created with `-i`; its window size goes to the container's terminal with `-t`.
/// The socket is in the abstract namespace, so it goes with its process, and only a client of
/// this process's user is served.
final class AttachServer {
    private let listener: Int32
    private var clients: [(fd: Int32, reader: AttachFrame.Reader)] = []
    /// Where clients' input goes (the stdin pipe, or the terminal's controlling side); -1: nowhere.
    private var input: Int32 = -1
    private var ownsInput = false
    private var pending: [UInt8] = []
    private var readBuffer = [UInt8](repeating: 0, count: 32 << 10)
    private var closeInputWhenWritten = false
    private var resize: (UInt16, UInt16) -> Void = { _, _ in }
    /// `run -i` attached: the container's stdin ends with its client's (Docker's StdinOnce).
    private let stdinOnce: Bool

    static func socketName(_ containerID: String) -> String { "strata/attach/\(containerID)" }

    init(containerID: String, stdinOnce: Bool) throws {
        listener = strata_abstract_socket(Self.socketName(containerID), 1)
        guard listener >= 0 else {
            throw StrataError.posix("cannot listen for attach clients of container \(containerID.prefix(12))", errno: errno)
        }
        self.stdinOnce = stdinOnce
    }

    deinit {
        close(listener)
        clients.forEach { close($0.fd) }
        if ownsInput, input >= 0 { close(input) }
    }

    /// Waits for the first client: `run -i` and `start -a -i` start the container only once their
    /// client is there, so it misses none of the output.
    func waitForClient(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while clients.isEmpty {
            var fd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fd, 1, 100)
            if ready > 0 { accept() }
            if clients.isEmpty, Date() > deadline {
                throw StrataError(.io, "no client attached to the container within \(Int(timeout)) seconds")
            }
        }
    }

    /// Clients' input goes to `fd` from now on; `resize` applies a client's window size.
    func connectInput(_ fd: Int32, owned: Bool, resize: @escaping (UInt16, UInt16) -> Void = { _, _ in }) {
        input = fd
        ownsInput = owned
        self.resize = resize
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// What to poll for: new clients, clients' frames (while the container takes its input), and
    /// room for pending input.
    var descriptors: [pollfd] {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        let reading = pending.count < AttachFrame.maximumPayload
        fds += clients.map { pollfd(fd: $0.fd, events: reading ? Int16(POLLIN) : 0, revents: 0) }
        if input >= 0, !pending.isEmpty { fds.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
        return fds
    }

    /// Handles what `poll` found ready among `descriptors`.
    func handle(_ ready: [pollfd]) {
        for p in ready where p.revents != 0 {
            if p.fd == listener {
                accept()
            } else if p.fd == input {
                flushInput()
            } else if let index = clients.firstIndex(where: { $0.fd == p.fd }) {
                read(from: index)
            }
        }
    }

    /// Sends the container's output to every client; a client that cannot take it is dropped.
    func broadcast(_ kind: AttachFrame.Kind, _ bytes: UnsafeRawBufferPointer) {
        guard !clients.isEmpty else { return }
        let frame = AttachFrame(kind, Array(bytes)).encoded
        for client in clients where !send(frame, to: client.fd) { drop(client.fd) }
    }

    /// The last message, to every client, and the end of the socket.
    func finish(_ frame: AttachFrame) {
        let bytes = frame.encoded
        for client in clients {
            _ = send(bytes, to: client.fd)
            drop(client.fd)
        }
    }

    private func accept() {
        let fd = strata_accept(listener)
        guard fd >= 0 else { return }
        guard strata_peer_uid(fd) == Int64(geteuid()) else {
            close(fd)
            return
        }
        // A client that stops reading (a suspended terminal) is dropped, not waited for.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        clients.append((fd, AttachFrame.Reader()))
    }

    private func read(from index: Int) {
        let fd = clients[index].fd
        let n = readBuffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else {
            if n == 0 || errno != EINTR { drop(fd) }
            return
        }
        readBuffer.withUnsafeBytes { clients[index].reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        do {
            while let frame = try clients[index].reader.next() {
                switch frame.kind {
                case .stdin where input >= 0:
                    pending += frame.payload
                case .closeStdin where stdinOnce && ownsInput:
                    closeInputWhenWritten = true
                case .resize:
                    if let size = frame.size { resize(size.rows, size.columns) }
                default:
                    break
                }
            }
        } catch {
            drop(fd)
        }
        flushInput()
    }

    /// Writes what clients typed as the container takes it; closes the input after the last byte
    /// once a `run -i` client's input ended.
    private func flushInput() {
        while input >= 0, !pending.isEmpty {
            let n = pending.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            if n > 0 {
                pending.removeFirst(n)
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN {
                return
            } else {
                // The container closed its stdin: what it did not read is gone, as with a pipe.
                pending = []
                closeInputWhenWritten = true
            }
        }
        if closeInputWhenWritten, pending.isEmpty, input >= 0 {
            if ownsInput { close(input) }
            input = -1
        }
    }

    private func send(_ bytes: [UInt8], to fd: Int32) -> Bool {
        bytes.withUnsafeBytes { FileWriter.writeAll(fd, $0, toSocket: true) } == 0
    }

    private func drop(_ fd: Int32) {
        guard let index = clients.firstIndex(where: { $0.fd == fd }) else { return }
        close(fd)
        clients.remove(at: index)
    }
}
