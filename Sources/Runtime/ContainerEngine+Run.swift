import Archive
import CLinux
import Foundation
import Host
import ImageSpec
import ImageStore
import Snapshots

extension ContainerEngine {
    /// Where a running container's output goes besides its log.
    public struct Attachment: Sendable {
        public var stdout: Int32?
        public var stderr: Int32?
        public var stdin: Int32?
        public init(stdout: Int32? = 1, stderr: Int32? = 2, stdin: Int32? = nil) {
            self.stdout = stdout
            self.stderr = stderr
            self.stdin = stdin
        }
        public static let none = Attachment(stdout: nil, stderr: nil, stdin: nil)
    }

    /// How the process that waits for a container serves its attach clients.
    public struct MonitorOptions: Sendable {
        /// Start the container only once a client is attached (`run -i`, `start -a -i`).
        public var waitForClient = false
        /// The container's stdin ends when its client's does (Docker's StdinOnce).
        public var stdinOnce = false
        public init(waitForClient: Bool = false, stdinOnce: Bool = false) {
            self.waitForClient = waitForClient
            self.stdinOnce = stdinOnce
        }
    }

    /// Runs a created (or exited) container to completion in this process: mounts its root
    /// filesystem, writes the bundle, runs the OCI runtime, copies output to the log (and the
    /// attachment, and `strata attach` clients), records the exit code, and unmounts. Returns the
    /// container's exit code.
    public func execute(_ input: String, attach: Attachment, monitor: MonitorOptions = .init()) throws -> Int32 {
        var c = try lookup(input)
        try Self.requireTerminal(attach, tty: c.spec.tty == true)
        let runtimePath = try runtime.executable()
        // Claim the container before touching anything: of two processes starting it, the loser
        // leaves the winner's mount, bundle and runtime state alone.
        let claimed = try Trace.measure(.claim) { try db.write { () -> Int in
            // Claimed: running, with no start time until the runtime has the process going, and
            // no exit of a run before.
            try db.execute("UPDATE containers SET state = 'running', pid = ?, started = NULL, exit_code = NULL, finished = NULL WHERE id = ? AND state != 'running'",
                           [.integer(Int64(getpid())), .text(c.id)])
            return try db.query("SELECT changes()").first.flatMap { $0.int(0) }.map(Int.init) ?? 0
        } }
        guard claimed == 1 else { throw StrataError(.conflict, "container \(c.shortID) is already running") }
        /// Undoes the claim when the container never started: it is as it was.
        func unclaim() {
            try? db.execute("UPDATE containers SET state = ?, pid = 0, started = ?, exit_code = ?, finished = ? WHERE id = ? AND pid = ?",
                            [.text(c.state.rawValue), c.started.map { .real($0.timeIntervalSince1970) } ?? .null,
                             c.exitCode.map { .integer(Int64($0)) } ?? .null, c.finished.map { .real($0.timeIntervalSince1970) } ?? .null,
                             .text(c.id), .integer(Int64(getpid()))])
        }
        let server: AttachServer
        do {
            server = try AttachServer(containerID: c.id, stdinOnce: monitor.stdinOnce)
            if monitor.waitForClient { try server.waitForClient(timeout: 30) }
        } catch {
            unclaim()
            throw error
        }
        // The client learns how it went: the exit status, or what stopped the container running.
        do {
            let status = try execute(c, attach: attach, server: server, runtimePath: runtimePath, unclaim: unclaim)
            c = try lookup(c.id)
            if c.spec.autoRemove { _ = Trace.measure(.remove) { try? remove(c.id, force: true, removeVolumes: true) } }
            server.finish(.exit(status))
            return status
        } catch {
            server.finish(.failure(error as? StrataError ?? StrataError(.runtimeFailed, "\(error)", cause: error)))
            throw error
        }
    }

    /// The claimed container's run, from its mount to its recorded exit.
    private func execute(_ c: Container, attach: Attachment, server: AttachServer, runtimePath: String,
                         unclaim: () -> Void) throws -> Int32 {
        let dir = directory(c.id)
        let use: Snapshotter.MountUse
        do {
            use = try Trace.measure(.mount) { try snapshots.use(dir, over: try self.layers(of: c)) }
            try Trace.measure(.network) {
                disconnect(c)  // what a crash left
                if c.spec.network == .bridge { _ = try connect(c) }
            }
            try Trace.measure(.bundle) {
                let spec = try runtimeSpec(c, rootfs: use.rootfs, directory: dir)
                try populateVolumes(c, rootfs: use.rootfs)
                // Written afresh at every start: no crash needs it kept.
                try FileSystem.writeAtomically("\(dir)/config.json", Array(try JSONCoding.encoder.encode(spec)), durable: false)
            }
        } catch {
            disconnect(c)
            unclaim()
            throw error
        }
        defer { use.release() }
        Trace.measure(.runtime) { runtime.delete(c.id, force: true) }  // a stale state from a crash would block the name

        let status: Int32
        do {
            let log = try? ContainerLogWriter(path: "\(dir)/container.log")
            defer { log?.close() }
            // An interrupted build or command ends its container rather than waiting for it.
            let runtime = self.runtime, id = c.id
            status = try attached(runtimePath, ["run", "--bundle", dir], id: c.id, terminal: c.spec.tty == true, attach: attach, log: log,
                                  server: server, interactive: c.spec.openStdin == true,
                                  started: { try Trace.measure(.record) { try db.execute("UPDATE containers SET started = ? WHERE id = ?",
                                                                                        [.real(Date().timeIntervalSince1970), .text(c.id)]) } },
                                  interrupted: { runtime.kill(id, signal: "KILL") })
        } catch {
            runtime.delete(c.id, force: true)
            disconnect(c)
            unclaim()
            throw error
        }
        Trace.measure(.runtime) { runtime.delete(c.id, force: true) }
        Trace.measure(.network) { disconnect(c) }
        Trace.measure(.unmount) { use.release() }
        try Trace.measure(.record) {
            try db.execute("UPDATE containers SET state = 'exited', exit_code = ?, finished = ? WHERE id = ?",
                           [.integer(Int64(status)), .real(Date().timeIntervalSince1970), .text(c.id)])
        }
        return status
    }

    /// Runs `runtime COMMAND… ID` (`run --bundle` or `exec --process`) and joins its input and
    /// output to `attach` (and `log`) until it ends; returns its exit status, which runc makes the
    /// process's (128+N for a signal). The process gets `attach.stdin` itself (the user's terminal
    /// or a pipe, `-i`) or /dev/null. When the process has a terminal, runc in the foreground makes
    /// the pseudo-terminal and relays it: it puts the user's terminal (our stdin) in raw mode and
    /// restores it, passes on the window size at start and on every SIGWINCH, and writes the
    /// terminal's output to our pipe, so the log has it too. With `-t` but no terminal here (a CI
    /// job, `-t` without `-i`), runc is given a pseudo-terminal of ours to stand in for the user's.
    func attached(_ runtimePath: String, _ command: [String], id: String, terminal: Bool, attach: Attachment,
                  log: ContainerLogWriter?, server: AttachServer? = nil, interactive: Bool = false,
                  started: () throws -> Void = {}, interrupted: @escaping () -> Void) throws -> Int32 {
        try Self.requireTerminal(attach, tty: terminal)
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw StrataError.posix("cannot create a pipe", errno: errno) }
        var closeAfterSpawn = [outPipe[1], errPipe[1]], closeAtEnd: [Int32] = []
        defer { closeAtEnd.forEach { close($0) } }
        let stdin: Int32
        var serverInput: Int32?
        if let attached = attach.stdin {
            stdin = attached
        } else if terminal {
            let (controller, terminal) = try Self.openPseudoTerminal()
            (stdin, closeAtEnd, serverInput) = (terminal, [controller], controller)
            closeAfterSpawn.append(terminal)
        } else if server != nil, interactive {
            // `-i` with nobody attached yet: stdin stays open for `strata attach` to write to.
            var inPipe: [Int32] = [0, 0]
            guard pipe(&inPipe) == 0 else { throw StrataError.posix("cannot create a pipe", errno: errno) }
            (stdin, serverInput) = (inPipe[0], inPipe[1])
            closeAfterSpawn.append(inPipe[0])
        } else {
            stdin = open("/dev/null", O_RDONLY | O_CLOEXEC)
            closeAfterSpawn.append(stdin)
        }
        let pid: pid_t
        do {
            pid = try Trace.measure(.runtime) {
                try Subprocess.spawn(runtimePath, runtime.arguments(command + [id]), stdin: stdin, stdout: outPipe[1], stderr: errPipe[1])
            }
            try started()
        } catch {
            (closeAfterSpawn + [outPipe[0], errPipe[0]]).forEach { close($0) }
            throw error
        }
        closeAfterSpawn.forEach { close($0) }
        if let server, let serverInput {
            // runc relays the pseudo-terminal's size to the container's when told of a change.
            server.connectInput(serverInput, owned: !terminal) { rows, columns in
                guard terminal else { return }
                strata_set_window_size(serverInput, rows, columns)
                Glibc.kill(pid, SIGWINCH)
            }
        }
        // Ctrl-C reaches the runtime (same process group), which passes it to the container; this
        // process stays to record how the container ended.
        let previousInterrupt = signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, previousInterrupt) }
        return Trace.measure(.wait) {
            Self.pump([(outPipe[0], "stdout", attach.stdout), (errPipe[0], "stderr", attach.stderr)], log: log, server: server,
                      interrupted: interrupted)
            return Subprocess.wait(pid)
        }
    }

    /// Copies container output to the log and the attached descriptors until both pipes close.
    static func pump(_ streams: [(fd: Int32, name: String, copy: Int32?)], log: ContainerLogWriter?,
                     server: AttachServer? = nil, interrupted: () -> Void = {}) {
        var open = streams
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        var told = false
        while !open.isEmpty {
            if !told, Interruption.signal != nil {
                told = true
                interrupted()
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) } + (server?.descriptors ?? [])
            let ready = poll(&fds, nfds_t(fds.count), 250)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }
            server?.handle(Array(fds[open.count...]))
            var closed: [Int32] = []
            for (i, p) in fds.prefix(open.count).enumerated() where p.revents != 0 {
                let n = read(p.fd, buffer.baseAddress, buffer.count)
                if n <= 0 {
                    closed.append(p.fd)
                    continue
                }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                log?.append(chunk, stream: open[i].name)
                if let target = open[i].copy { FileWriter.writeAll(target, chunk) }
                server?.broadcast(open[i].name == "stdout" ? .stdout : .stderr, chunk)
            }
            for fd in closed { close(fd) }
            open.removeAll { closed.contains($0.fd) }
        }
    }

    /// Docker's rule: `-i` with `-t` joins the user's terminal to the container's, so the input
    /// must be one.
    public static func requireTerminal(_ attach: Attachment, tty: Bool) throws {
        if tty, let stdin = attach.stdin, isatty(stdin) == 0 {
            throw StrataError(.invalidArgument, "the input device is not a TTY")
        }
    }

    /// A new pseudo-terminal: its controlling side and its terminal.
    static func openPseudoTerminal() throws -> (controller: Int32, terminal: Int32) {
        var terminal: Int32 = -1
        let controller = strata_open_pty(&terminal)
        guard controller >= 0 else { throw StrataError.posix("cannot open a pseudo-terminal", errno: errno) }
        return (controller, terminal)
    }

    /// `run -d` and `start` without `-a`: a `strata` process in its own session waits for the
    /// container (so it outlives this one), and this returns once it has started.
    public func startDetached(_ input: String, executable: String) throws -> Container {
        let c = try lookup(input)
        guard c.state != .running else { return c }  // as docker start: already running is fine
        let monitor = try spawnMonitor(c, executable: executable)
        // Until the monitor has the container running, or has ended.
        var current = c
        while true {
            current = try lookup(c.id)
            if current.state == .running, current.started != nil { return current }
            if current.state == .exited, current.finished != c.finished { return current }
            if monitor.ended {
                current = try lookup(c.id)
                if current.state != .created { return current }
                throw monitor.failure()
            }
            usleep(5_000)
        }
    }

    /// A monitor process for the container: `strata container-monitor`, in its own session, its
    /// errors in `monitor.log`. What would make the start fail (user, command) is checked here
    /// first, so that error is this process's.
    func spawnMonitor(_ c: Container, executable: String, options: MonitorOptions = .init()) throws -> Monitor {
        _ = try runtime.executable()
        let dir = directory(c.id)
        do {
            let use = try snapshots.use(dir, over: try layers(of: c))
            defer { use.release() }
            _ = try runtimeSpec(c, rootfs: use.rootfs, directory: dir)
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let logPath = "\(dir)/monitor.log"
        unlink(logPath)
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        defer { if logFD >= 0 { close(logFD) } }
        // The monitor runs the container with this engine's runtime, not the default one.
        let runtimeOption = runtime.requested.map { ["--runtime", $0] } ?? []
        let flags = (options.waitForClient ? ["--wait-for-client"] : []) + (options.stdinOnce ? ["--stdin-once"] : [])
        let pid = try Subprocess.spawn(executable, ["container-monitor", "--root", store.root] + runtimeOption + flags + [c.id],
                                       stdin: null, stdout: null, stderr: logFD >= 0 ? logFD : null, newSession: true)
        return Monitor(pid: pid, logPath: logPath)
    }

    /// A container's monitor process, as this process spawned it.
    struct Monitor {
        let pid: pid_t
        let logPath: String

        /// Whether it has ended (it is this process's child, so it is reaped here).
        var ended: Bool {
            var status: Int32 = 0
            return waitpid(pid, &status, WNOHANG) == pid
        }

        /// Why it ended before the container ran: the error it logged.
        func failure() -> StrataError {
            let message = (try? FileSystem.readFile(logPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
            return StrataError(.io, text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : "the container did not start: \(text)")
        }
    }

    /// `strata stop`: the stop signal, then SIGKILL after `timeout` seconds.
    public func stop(_ input: String, timeout: Double) throws -> Container {
        let c = try lookup(input)
        guard c.state == .running else { return c }
        runtime.kill(c.id, signal: c.spec.stopSignal.hasPrefix("SIG") ? String(c.spec.stopSignal.dropFirst(3)) : c.spec.stopSignal)
        var after = try waitForExit(c, timeout: timeout)
        if after.state == .running {
            runtime.kill(c.id, signal: "KILL")
            after = try waitForExit(c, timeout: 10)
        }
        return after
    }

    /// `strata kill`: a signal (SIGKILL by default) to a running container.
    public func kill(_ input: String, signal: String) throws -> Container {
        let c = try lookup(input)
        guard c.state == .running else {
            throw StrataError(.containerNotRunning, "Cannot kill container: \(c.shortID): container is not running")
        }
        runtime.kill(c.id, signal: signal.hasPrefix("SIG") ? String(signal.dropFirst(3)) : signal)
        return c
    }

    /// The bundle's `config.json` for a container.
    func runtimeSpec(_ c: Container, rootfs: String, directory: String) throws -> RuntimeSpec {
        let root = try RootedDirectory(path: rootfs)
        let user = try Users.resolve(c.spec.user, rootfs: root)
        var env = c.spec.env
        if !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) { env.append("HOSTNAME=\(c.spec.hostname)") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=\(user.home)") }
        if c.spec.tty == true, !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }  // as Docker's -t
        try checkExecutable(c.spec.args[0], env: env, root: root)

        // The host's limits are the ceiling: this machine lacks CAP_SYS_RESOURCE, so asking for
        // more than the hard limit (as podman's defaults do) fails with "error setting rlimit".
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let nofile = min(UInt64(limit.rlim_max), 1_048_576)

        var mounts = RuntimeSpec.defaultMounts
        // The container's own names and the host's DNS, bind-mounted read-only, on every network
        // (with `none` too: `localhost` must resolve), in the words of Docker's /etc/hosts. Made
        // afresh at every start, as the bundle is, so never synced.
        try FileSystem.writeAtomically("\(directory)/hostname", Array("\(c.spec.hostname)\n".utf8), durable: false)
        let endpoint = c.spec.network == .bridge ? self.endpoint(of: c) : nil
        try FileSystem.writeAtomically("\(directory)/hosts", Array(hostsContent(c, endpoint: endpoint).utf8), durable: false)
        let resolv = c.spec.dns.map { Array($0.map { "nameserver \($0)\n" }.joined().utf8) }
            ?? (try? FileSystem.readFile("/etc/resolv.conf")) ?? Array("nameserver 127.0.0.1\n".utf8)
        try FileSystem.writeAtomically("\(directory)/resolv.conf", resolv, durable: false)
        for name in ["hostname", "hosts", "resolv.conf"] {
            mounts.append(RuntimeSpec.Mount(destination: "/etc/\(name)", type: "bind", source: "\(directory)/\(name)",
                                            options: ["rbind", "ro"]))
        }
        mounts += c.spec.mounts ?? []
        mounts += try runtimeMounts(c)
        var namespaces = ["pid", "ipc", "uts", "mount"].map { RuntimeSpec.Namespace(type: $0) }
        switch c.spec.network {
        case .none: namespaces.append(RuntimeSpec.Namespace(type: "network"))
        case .bridge: namespaces.append(RuntimeSpec.Namespace(type: "network", path: endpoint?.netns))
        case .host: break
        }
        let host = c.spec.hostConfig ?? HostConfig()
        let bounding = host.capabilities(default: RuntimeSpec.defaultCapabilities)
        let caps = user.user.uid == 0 ? bounding : []
        var rlimits = [RuntimeSpec.Rlimit(type: "RLIMIT_NOFILE", hard: nofile, soft: nofile)]
        for ulimit in host.ulimits {
            let type = "RLIMIT_" + ulimit.name.uppercased()
            rlimits.removeAll { $0.type == type }
            rlimits.append(RuntimeSpec.Rlimit(type: type, hard: ulimit.hard, soft: ulimit.soft))
        }
        var resources = RuntimeSpec.Resources(devices: host.privileged ? [RuntimeSpec.DeviceRule(allow: true, type: nil, major: nil, minor: nil, access: "rwm")] : RuntimeSpec.deviceRules)
        if let memory = host.memory {
            // Docker's default swap is as much again as the memory, where the kernel accounts swap.
            let swapAccounted = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0
            resources.memory = RuntimeSpec.Memory(limit: memory, swap: host.memorySwap ?? (swapAccounted ? memory * 2 : nil))
        }
        if let nano = host.nanoCPUs { resources.cpu = RuntimeSpec.CPU(quota: nano / 10_000, period: 100_000) }
        if let pids = host.pidsLimit, pids > 0 { resources.pids = RuntimeSpec.Pids(limit: pids) }
        if host.privileged {
            // Privileged: /sys writable, and no kernel interface hidden or read-only.
            mounts = mounts.map { m in
                var m = m
                if m.destination == "/sys" { m.options = m.options?.filter { $0 != "ro" } }
                return m
            }
        }
        // The container's seccomp profile (Docker's default unless one was given), for the capabilities
        // it has; none when privileged or asked for (`seccomp=unconfined`).
        let profile = try host.seccompProfile.map { try SeccompProfile.decode(docker: Array($0.utf8)) } ?? .dockerDefault
        let seccomp = host.privileged || host.seccompUnconfined ? nil : profile.runtimeSpec(for: bounding)
        return RuntimeSpec(
            process: RuntimeSpec.ProcessSpec(terminal: c.spec.tty ?? false, user: user.user, args: c.spec.args, env: env, cwd: c.spec.workingDir,
                                             capabilities: RuntimeSpec.Capabilities(bounding: bounding, effective: caps, permitted: caps),
                                             rlimits: rlimits, noNewPrivileges: host.noNewPrivileges ? true : nil),
            root: RuntimeSpec.Root(path: rootfs, readonly: host.readOnlyRootfs),
            hostname: c.spec.hostname,
            mounts: mounts,
            linux: RuntimeSpec.Linux(namespaces: namespaces, maskedPaths: host.privileged ? [] : RuntimeSpec.maskedPaths,
                                     readonlyPaths: host.privileged ? [] : RuntimeSpec.readonlyPaths,
                                     resources: resources, cgroupsPath: "/strata/\(c.id)", seccomp: seccomp))
    }

    /// Docker's /etc/hosts, with the container's host name on its bridge address, or on a
    /// loopback address when it has none of its own (`host`, `none`).
    static func hostsFile(hostname: String, address: String? = nil) -> String {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
            + "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\(address ?? "127.0.1.1")\t\(hostname)\n"
    }

    /// Docker's error for a command the image does not have, before the runtime is involved.
    func checkExecutable(_ command: String, env: [String], root: RootedDirectory) throws {
        if command.contains("/") {
            guard root.isExecutable(command) else {
                if (try? root.readFile(command, limit: 1 << 30)) != nil {
                    throw StrataError(.commandNotExecutable, "exec: \"\(command)\": permission denied", cause: POSIXError(.EACCES))
                }
                throw StrataError(.commandNotFound, "exec: \"\(command)\": stat \(command): no such file or directory", cause: POSIXError(.ENOENT))
            }
            return
        }
        let path = env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") where root.isExecutable("\(dir)/\(command)") { return }
        throw StrataError(.commandNotFound, "exec: \"\(command)\": executable file not found in $PATH", cause: POSIXError(.ENOENT))
    }

    /// `strata logs`: the recorded output, each stream to its own descriptor; `follow` keeps
    /// reading while the container runs.
    public func logs(_ input: String, follow: Bool, stdout: Int32 = 1, stderr: Int32 = 2) throws {
        let c = try lookup(input)
        let path = "\(directory(c.id))/container.log"
        var offset: UInt64 = 0
        var partial = Data()
        while true {
            // Read after checking: output written before the container stopped is never missed.
            let running = follow ? try lookup(c.id).state == .running : false
            if let handle = FileHandle(forReadingAtPath: path) {
                try handle.seek(toOffset: offset)
                let data = handle.readDataToEndOfFile()
                try? handle.close()
                offset += UInt64(data.count)
                partial.append(data)
                while let newline = partial.firstIndex(of: 0x0a) {
                    let line = partial[partial.startIndex..<newline]
                    partial = Data(partial[(newline + 1)...])
                    guard let record = try? JSONDecoder().decode(LogRecord.self, from: line) else { continue }
                    let bytes = Array(record.log.utf8)
                    _ = bytes.withUnsafeBytes { write(record.stream == "stderr" ? stderr : stdout, $0.baseAddress, $0.count) }
                }
            }
            guard running else { return }
            usleep(100_000)
        }
    }
}
