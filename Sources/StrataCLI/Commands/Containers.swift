import ArgumentParser
import Foundation
import StrataEngine

/// Options `run` and `create` share.
struct ContainerOptions: ParsableArguments {
    @Option(name: .long, help: "Assign a name to the container.") var name: String?
    @Option(name: .shortAndLong, help: "Set environment variables (KEY=VALUE, or KEY to pass this process's value).") var env: [String] = []
    @Option(name: .shortAndLong, help: "Working directory inside the container.") var workdir: String?
    @Option(name: .shortAndLong, help: "Username or UID (format: <name|uid>[:<group|gid>]).") var user: String?
    @Option(help: "Overwrite the default ENTRYPOINT of the image.") var entrypoint: String?
    @Option(help: "Network: bridge (default), host, none, or a network's name.") var network: String = "bridge"
    @Option(help: "Add a custom host-to-IP mapping (NAME:IP).") var addHost: [String] = []
    @Option(help: "Set custom DNS servers.") var dns: [String] = []
    @Option(name: .shortAndLong, help: "Publish a container's port to the host: [IP:][HOSTPORT:]PORT[/udp].") var publish: [String] = []
    @Flag(name: .customShort("P"), help: "Publish every port the image exposes to a free host port.") var publishAll = false
    @Option(name: [.customShort("h"), .long], help: "Container host name.") var hostname: String?
    @Option(help: "Pull the image before running: missing (default), always or never.") var pull: String = "missing"
    @Flag(name: .shortAndLong, help: "Keep STDIN open and pass it to the container.") var interactive = false
    @Flag(name: .shortAndLong, help: "Allocate a pseudo-TTY.") var tty = false
    @Option(name: .shortAndLong, help: "Bind mount a volume: [SOURCE:]TARGET[:ro] (SOURCE a host path or a volume name).") var volume: [String] = []
    @Option(help: "Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly].") var mount: [String] = []
    @Option(help: "Mount a tmpfs directory: PATH[:OPTIONS].") var tmpfs: [String] = []
    @Option(name: .shortAndLong, help: "Memory limit (e.g. 32m, 1g).") var memory: String?
    @Option(help: "Memory plus swap limit (e.g. 64m; -1 for unlimited swap).") var memorySwap: String?
    @Option(help: "Number of CPUs (e.g. 1.5).") var cpus: String?
    @Option(help: "Tune the container's pids limit (-1 for unlimited).") var pidsLimit: Int64?
    @Option(help: "Ulimit options (NAME=SOFT[:HARD], e.g. nofile=1024:2048).") var ulimit: [String] = []
    @Option(help: "Add Linux capabilities (e.g. NET_ADMIN, or ALL).") var capAdd: [String] = []
    @Option(help: "Drop Linux capabilities (e.g. CHOWN, or ALL).") var capDrop: [String] = []
    @Flag(help: "Give extended privileges to this container.") var privileged = false
    @Flag(help: "Mount the container's root filesystem as read only.") var readOnly = false
    @Option(help: "Security options: no-new-privileges, seccomp=unconfined, seccomp=FILE (a profile in Docker's format).") var securityOpt: [String] = []
    @Argument(help: "The image.") var image: String
    @Argument(parsing: .captureForPassthrough, help: "Command and arguments (default: the image's).") var command: [String] = []

    var pullPolicy: PullPolicy {
        get throws {
            guard let policy = PullPolicy(rawValue: pull) else {
                throw StrataError(.invalidArgument, "invalid pull policy \"\(pull)\": missing, always or never")
            }
            return policy
        }
    }

    func createOptions(autoRemove: Bool) throws -> ContainerEngine.CreateOptions {
        var o = ContainerEngine.CreateOptions(image: image)
        o.name = name
        o.command = command
        o.entrypoint = entrypoint
        o.env = env
        o.workingDir = workdir
        o.user = user
        o.hostname = hostname
        if let net = ContainerSpec.Network(rawValue: network) {
            o.network = net
        } else {
            (o.network, o.networkName) = (.bridge, network)
        }
        o.extraHosts = addHost
        o.dns = dns
        o.autoRemove = autoRemove
        o.tty = tty
        o.interactive = interactive
        o.volumes = try volume.map(VolumeMount.parse(volume:)) + mount.map(VolumeMount.parse(mount:)) + tmpfs.map(VolumeMount.parse(tmpfs:))
        o.hostConfig = try hostConfig()
        o.ports = try publish.map(PortMapping.parse)
        o.publishAll = publishAll
        return o
    }

    func hostConfig() throws -> HostConfig {
        var h = HostConfig()
        h.memory = try memory.map { try HostConfig.parseBytes($0, flag: "--memory") }
        if let memorySwap { h.memorySwap = memorySwap == "-1" ? -1 : try HostConfig.parseBytes(memorySwap, flag: "--memory-swap") }
        h.nanoCPUs = try cpus.map(HostConfig.parseCPUs)
        h.pidsLimit = pidsLimit
        h.ulimits = try ulimit.map(HostConfig.parseUlimit)
        h.capAdd = try capAdd.map(HostConfig.capability)
        h.capDrop = try capDrop.map(HostConfig.capability)
        h.privileged = privileged
        h.readOnlyRootfs = readOnly
        for option in securityOpt { try h.apply(securityOption: option) }
        return h
    }
}

/// `run` and `start -a` exit as `docker run` does when the container could not run: 127 for a
/// command the image lacks, 126 for one it cannot execute, 125 for any other failure of Strata's.
func runExitCode(_ error: Error) -> Error {
    guard let e = error as? StrataError else { return error }
    warn("Error: \(e.message)")
    switch e.code {
    case .commandNotFound: return ExitCode(127)
    case .commandNotExecutable: return ExitCode(126)
    default: return ExitCode(125)
    }
}

/// Docker's way with several containers: each one done prints its name, a failure does not stop
/// the others, and the failures are reported together with a non-zero exit.
func forEachContainer(_ names: [String], _ action: (String) throws -> Void) throws {
    var failures: [String] = []
    for name in names {
        do {
            try action(name)
            emit(name + "\n")
        } catch let e as StrataError {
            failures.append(e.message)
        }
    }
    if !failures.isEmpty { throw StrataError(.conflict, failures.joined(separator: "\nError: ")) }
}

/// `strata run`.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Create and run a new container from an image.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Remove the container when it exits.") var rm = false
    @Flag(name: .shortAndLong, help: "Run in the background and print the container ID.") var detach = false
    @Option(help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q).") var detachKeys: String?
    @OptionGroup var options: ContainerOptions

    func run() async throws {
        let engine = try global.engine()
        // Pull progress goes to stderr, so the container's output stays its own.
        let pullEvents = PullRenderer(toStandardError: true).handle
        let create: ContainerEngine.CreateOptions
        let policy: PullPolicy
        let keys: DetachKeys
        do {
            create = try options.createOptions(autoRemove: rm)
            policy = try options.pullPolicy
            keys = try parseDetachKeys(detachKeys)
        } catch { throw runExitCode(error) }
        let attach = ContainerEngine.Attachment(stdin: options.interactive ? 0 : nil)
        // Before anything is created, as Docker's client does (and its exit code, 1).
        if !detach { try ContainerEngine.requireTerminal(attach, tty: options.tty) }
        if detach {
            let container: Container
            do { container = try await engine.runDetached(create, pull: policy, events: pullEvents) } catch { throw runExitCode(error) }
            emit(container.id + "\n")
            return
        }
        // With stdin, under a monitor: the detach keys leave it running, and `attach` joins it again.
        let status: Int32?
        do {
            status = options.interactive
                ? try await engine.runInteractive(create, pull: policy, attach: .init(stdin: 0, detachKeys: keys), events: pullEvents)
                : try await engine.runContainer(create, pull: policy, attach: attach, events: pullEvents)
        } catch { throw runExitCode(error) }
        if let status, status != 0 { throw ExitCode(status) }
    }
}

/// `strata create`.
struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a new container.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var options: ContainerOptions

    func run() async throws {
        let engine = try global.engine()
        let container = try await engine.createContainer(try options.createOptions(autoRemove: false), pull: try options.pullPolicy,
                                                         events: PullRenderer(toStandardError: true).handle)
        emit(container.id + "\n")
    }
}

/// `strata start`.
struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start one or more stopped containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Attach STDOUT/STDERR and wait for the container to exit.") var attach = false
    @Flag(name: .shortAndLong, help: "Attach the container's STDIN.") var interactive = false
    @Option(help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q).") var detachKeys: String?
    @Argument(help: "Containers.") var containers: [String]

    func run() async throws {
        let engine = try global.engine()
        if attach {
            guard containers.count == 1 else { throw ValidationError("you cannot start and attach multiple containers at once") }
            let status: Int32?
            do {
                status = interactive
                    ? try engine.startInteractive(containers[0], attach: .init(stdin: 0, detachKeys: try parseDetachKeys(detachKeys)))
                    : try engine.startAttached(containers[0])
            } catch { throw runExitCode(error) }
            if let status, status != 0 { throw ExitCode(status) }
            return
        }
        for name in containers {
            do { try engine.startContainer(name) } catch { throw runExitCode(error) }
            emit(name + "\n")
        }
    }
}

/// `strata exec`.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command in a running container.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Keep STDIN open and pass it to the command.") var interactive = false
    @Flag(name: .shortAndLong, help: "Allocate a pseudo-TTY.") var tty = false
    @Flag(name: .shortAndLong, help: "Detached mode: run the command in the background.") var detach = false
    @Option(name: .shortAndLong, help: "Set environment variables (KEY=VALUE, or KEY to pass this process's value).") var env: [String] = []
    @Option(name: .shortAndLong, help: "Username or UID (format: <name|uid>[:<group|gid>]).") var user: String?
    @Option(name: .shortAndLong, help: "Working directory inside the container.") var workdir: String?
    @Argument(help: "The container.") var container: String
    @Argument(parsing: .captureForPassthrough, help: "Command and arguments.") var command: [String] = []

    func run() async throws {
        let engine = try global.engine()
        var options = ContainerEngine.ExecOptions(command: command)
        options.env = env
        options.user = user
        options.workingDir = workdir
        options.tty = tty
        options.detach = detach
        let attach = ContainerEngine.Attachment(stdin: interactive ? 0 : nil)
        if !detach { try ContainerEngine.requireTerminal(attach, tty: tty) }
        let status: Int32
        do { status = try engine.execContainer(container, options, attach: attach) } catch { throw runExitCode(error) }
        if status != 0 { throw ExitCode(status) }
    }
}

/// `strata port`.
struct Port: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "port", abstract: "List port mappings or a specific mapping for the container.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The container.") var container: String
    @Argument(help: "PRIVATE_PORT[/PROTO]: just this one.") var port: String?

    func run() async throws {
        var ports = try global.engine().ports(container)
        if let port {
            let parts = port.split(separator: "/")
            ports = ports.filter { "\($0.containerPort)" == parts.first && (parts.count < 2 || $0.proto == parts[1]) }
            guard !ports.isEmpty else { throw StrataError(.invalidArgument, "No public port '\(port)\(parts.count < 2 ? "/tcp" : "")' published for \(container)") }
            return emit(ports.map { "\($0.hostIP.isEmpty ? "0.0.0.0" : $0.hostIP):\($0.hostPort)\n" }.joined())
        }
        emit(ports.map { $0.portLine + "\n" }.joined())
    }
}

/// `strata stop`.
struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop one or more running containers.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Seconds to wait before killing.") var time: Double = 10
    @Argument(help: "Containers.") var containers: [String]

    func run() async throws {
        let engine = try global.engine()
        try forEachContainer(containers) { try engine.stopContainer($0, timeout: time) }
    }
}

/// `strata kill`.
struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Kill one or more running containers.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Signal to send.") var signal: String = "KILL"
    @Argument(help: "Containers.") var containers: [String]

    func run() async throws {
        let engine = try global.engine()
        try forEachContainer(containers) { try engine.killContainer($0, signal: signal) }
    }
}

/// `strata rm`.
struct Rm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Force the removal of a running container (SIGKILL).") var force = false
    @Flag(name: .shortAndLong, help: "Remove anonymous volumes associated with the container.") var volumes = false
    @Argument(help: "Containers.") var containers: [String]

    func run() async throws {
        let engine = try global.engine()
        try forEachContainer(containers) { try engine.removeContainer($0, force: force, removeVolumes: volumes) }
    }
}

extension Container {
    /// Docker's STATUS column: `Created`, `Up 2 minutes`, `Exited (0) 3 seconds ago`.
    func status(now: Date) -> String {
        switch state {
        case .created: return "Created"
        case .running: return "Up " + Units.humanDuration(since: started ?? created, now: now)
        case .exited: return "Exited (\(exitCode ?? 255)) " + Units.ago(finished, now: now)
        }
    }

    /// Docker's COMMAND column: quoted, cut to 20 characters with an ellipsis unless `--no-trunc`.
    func quotedCommand(truncated: Bool = true) -> String {
        "\"" + (truncated ? Units.ellipsis(command, 20) : command) + "\""
    }
}

/// `strata ps`.
struct Ps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Show all containers (default shows just running).") var all = false
    @Flag(name: .shortAndLong, help: "Only display container IDs.") var quiet = false
    @Flag(help: "Don't truncate output.") var noTrunc = false
    @Option(help: "Output: table (default), json, or a Go template.") var format: String?

    func run() async throws {
        let engine = try global.engine()
        let containers = try engine.listContainers().filter { all || $0.state == .running }
        let now = Date()
        func id(_ c: Container) -> String { noTrunc ? c.id : c.shortID }
        if quiet {
            emit(containers.map { id($0) + "\n" }.joined())
            return
        }
        func status(_ c: Container) -> String { c.status(now: now) }
        func ports(_ c: Container) -> String {
            (c.state == .running ? engine.containerPorts(c) : []).map(\.psColumn).joined(separator: ", ")
        }
        func command(_ c: Container) -> String { c.quotedCommand(truncated: !noTrunc) }
        let json = containers.map { c -> JSONValue in
            .object(["ID": .string(id(c)), "Image": .string(c.imageName), "Command": .string(command(c)),
                     "CreatedAt": .string(Units.createdAt(c.created)), "RunningFor": .string(Units.ago(c.created, now: now)),
                     "Status": .string(status(c)), "State": .string(c.state.rawValue), "Ports": .string(ports(c)),
                     "Names": .string(c.name)])
        }
        let headers = ["ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
                       "CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "State": "STATE"]
        emit(try OutputFormat(format).render(json, headers: headers) {
            var table = Table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"])
            for c in containers {
                table.append([id(c), c.imageName, command(c), Units.ago(c.created, now: now), status(c), ports(c), c.name])
            }
            return table.render()
        })
    }
}

/// `strata logs`.
struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Fetch the logs of a container.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Follow log output.") var follow = false
    @Argument(help: "The container.") var container: String

    func run() async throws {
        try global.engine().logs(container, follow: follow)
    }
}

/// `strata diff`.
struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Inspect changes to files or directories on a container's filesystem.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The container.") var container: String

    func run() async throws {
        // Each path's own bytes, as Docker prints them: a file name need not be UTF-8.
        FileHandle.standardOutput.write(Data(try global.engine().diff(container).flatMap(\.line)))
    }
}

/// `strata commit`.
struct Commit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commit", abstract: "Create a new image from a container's changes.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Commit message.") var message: String?
    @Option(name: .shortAndLong, help: "Author (e.g. \"Jane Doe <jane@example.com>\").") var author: String?
    @Option(name: .shortAndLong, help: "Apply a Dockerfile instruction to the created image.") var change: [String] = []
    @Argument(help: "The container.") var container: String
    @Argument(help: "REPOSITORY[:TAG]") var reference: String?

    func run() async throws {
        var options = ContainerEngine.CommitOptions()
        options.reference = try reference.map { try Reference(parsing: $0) }
        options.message = message
        options.author = author
        options.change = try Engine.configChange(change)
        emit(try global.engine().commit(container, options: options).id.description + "\n")
    }
}

/// `strata export`.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export a container's filesystem as a tar archive.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Write to a file, instead of STDOUT.") var output: String?
    @Argument(help: "The container.") var container: String

    func run() async throws {
        try global.engine().export(container, to: try outputTarget(output))
    }
}

/// Waits for a detached container (started by `run -d` / `start`); not for people to call.
struct ContainerMonitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "container-monitor", shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Flag var waitForClient = false
    @Flag var stdinOnce = false
    @Argument var container: String

    func run() async throws {
        try global.engine().monitorContainer(container, options: .init(waitForClient: waitForClient, stdinOnce: stdinOnce))
    }
}

/// `strata attach`.
struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attach", abstract: "Attach local standard input, output, and error streams to a running container.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Override the key sequence for detaching a container.") var detachKeys: String?
    @Flag(help: "Do not attach STDIN.") var noStdin = false
    @Argument(help: "The container.") var container: String

    func run() async throws {
        let options = ContainerEngine.AttachOptions(stdin: noStdin ? nil : 0, detachKeys: try parseDetachKeys(detachKeys))
        if let status = try global.engine().attachContainer(container, options), status != 0 { throw ExitCode(status) }
    }
}

/// `--detach-keys`, Docker's default when not given.
func parseDetachKeys(_ text: String?) throws -> DetachKeys {
    guard let text, !text.isEmpty else { return .standard }
    return try DetachKeys.parse(text)
}
