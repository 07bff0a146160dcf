import Dockerfile
import Foundation

extension Engine {
    /// `strata create`: the container's record and read/write layer over the image, pulled
    /// first as `pull` says.
    public func createContainer(_ options: ContainerEngine.CreateOptions, pull: PullPolicy = .missing,
                                events: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> Container {
        let containers = try self.containers
        // Shared from the pull (or lookup) to the record: a prune meanwhile waits, so the image
        // pulled for this container is still there when the container is made.
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        _ = try await image(options.image, pull: pull, events: events)
        return try containers.create(options)
    }

    /// `strata run` without `-d`: creates the container, runs it attached in this process, and
    /// returns its exit code. With `autoRemove` the container goes afterwards, whatever happened.
    public func runContainer(_ options: ContainerEngine.CreateOptions, pull: PullPolicy = .missing,
                             attach: ContainerEngine.Attachment = .init(),
                             events: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> Int32 {
        let container = try await createContainer(options, pull: pull, events: events)
        do {
            return try containers.execute(container.id, attach: attach)
        } catch {
            if options.autoRemove { _ = try? containers.remove(container.id, force: true, removeVolumes: true) }
            throw error
        }
    }

    /// `strata run -d`: creates the container and starts it in the background, watched by a
    /// monitor process that outlives this one.
    public func runDetached(_ options: ContainerEngine.CreateOptions, pull: PullPolicy = .missing,
                            events: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> Container {
        let container = try await createContainer(options, pull: pull, events: events)
        return try startContainer(container.id)
    }

    /// `strata run -i`: creates the container and starts it under a monitor with this process
    /// attached (`attach`'s input and output), so the user can detach and attach again. Returns
    /// its exit code, or nil when the user detached.
    public func runInteractive(_ options: ContainerEngine.CreateOptions, pull: PullPolicy = .missing,
                               attach: ContainerEngine.AttachOptions = .init(),
                               events: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> Int32? {
        let container = try await createContainer(options, pull: pull, events: events)
        do {
            return try containers.startAndAttach(container.id, executable: monitorExecutable, attach)
        } catch {
            if options.autoRemove { _ = try? containers.remove(container.id, force: true, removeVolumes: true) }
            throw error
        }
    }

    /// `strata start -a -i`: as `runInteractive`, for a created or exited container.
    public func startInteractive(_ name: String, attach: ContainerEngine.AttachOptions = .init()) throws -> Int32? {
        try containers.startAndAttach(name, executable: monitorExecutable, attach)
    }

    /// `strata attach`: joins a running container's input and output; its exit code, or nil when
    /// the user detached.
    public func attachContainer(_ name: String, _ options: ContainerEngine.AttachOptions = .init()) throws -> Int32? {
        try containers.attach(name, options)
    }

    /// `strata start -a`: runs a created or exited container attached; returns its exit code.
    public func startAttached(_ name: String, attach: ContainerEngine.Attachment = .init()) throws -> Int32 {
        try containers.execute(name, attach: attach)
    }

    /// `strata exec`: a command in a running container; returns its exit code.
    public func execContainer(_ name: String, _ options: ContainerEngine.ExecOptions,
                              attach: ContainerEngine.Attachment = .init()) throws -> Int32 {
        try containers.exec(name, options, attach: attach)
    }

    /// `strata start`: starts a container in the background (already running is fine, as Docker's).
    @discardableResult
    public func startContainer(_ name: String) throws -> Container {
        try containers.startDetached(name, executable: monitorExecutable)
    }

    /// The process that waits for a detached container: this program when it is `strata`.
    var monitorExecutable: String {
        options.monitorExecutable
            ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
    }

    /// `strata container-monitor`: waits for a detached container (what `startContainer` spawns).
    public func monitorContainer(_ name: String, options: ContainerEngine.MonitorOptions = .init()) throws {
        _ = try containers.execute(name, attach: .none, monitor: options)
    }

    /// `strata stop`: the container's stop signal, then SIGKILL after `timeout` seconds.
    @discardableResult
    public func stopContainer(_ name: String, timeout: Double = 10) throws -> Container {
        try containers.stop(name, timeout: timeout)
    }

    /// `strata kill`: a signal (SIGKILL by default) to a running container.
    @discardableResult
    public func killContainer(_ name: String, signal: String = "KILL") throws -> Container {
        try containers.kill(name, signal: signal)
    }

    /// `strata rm`: the record and the read/write layer go; the image stays, and so do volumes
    /// but for the container's anonymous ones with `removeVolumes` (`rm -v`).
    @discardableResult
    public func removeContainer(_ name: String, force: Bool = false, removeVolumes: Bool = false) throws -> Container {
        try containers.remove(name, force: force, removeVolumes: removeVolumes)
    }

    /// `strata ps -a`: every container, newest first.
    public func listContainers() throws -> [Container] {
        try containers.list()
    }

    /// `strata logs`: the recorded output, each stream to its own descriptor; `follow` keeps
    /// reading while the container runs.
    public func logs(_ name: String, follow: Bool = false, stdout: Int32 = 1, stderr: Int32 = 2) throws {
        try containers.logs(name, follow: follow, stdout: stdout, stderr: stderr)
    }

    /// `strata diff`: what the container changed, as Docker lists it.
    public func diff(_ name: String) throws -> [Change] {
        try containers.diff(name)
    }

    /// `strata commit`: the container's changes as a new image on top of its own.
    public func commit(_ name: String, options: ContainerEngine.CommitOptions = .init()) throws -> ImageStore.Image {
        try containers.commit(name, options: options)
    }

    /// `commit -c` and `import -c` lines (`CMD ["sh"]`, `ENV A=1`…) as one change of an image's
    /// config: parsed by the Dockerfile parser and applied as the builder applies its steps.
    /// Nil when there are none.
    public static func configChange(_ lines: [String]) throws -> (@Sendable (inout ImageConfig) throws -> Void)? {
        guard !lines.isEmpty else { return nil }
        let changes = try Dockerfile.parseChanges(lines)
        return { try $0.apply(changes: changes) }
    }

    /// `strata export`: the container's root filesystem as a tar.
    public func export(_ name: String, to writer: ByteWriter) throws {
        try containers.export(name, to: writer)
    }
}

extension Engine {
    /// `strata container inspect`: Docker's JSON for a container.
    public func inspectContainer(_ name: String) throws -> OrderedJSON {
        let containers = try self.containers
        return try ContainerInspector(engine: containers).inspect(try containers.lookup(name))
    }

    /// `strata inspect NAME`: a container's JSON when a container has that name or ID, else an
    /// image's, as Docker looks (containers first); Docker's "No such object" when neither does.
    public func inspectAny(_ name: String) throws -> OrderedJSON {
        if hasSnapshots {
            do { return try inspectContainer(name) } catch let error as StrataError where error.code == .containerUnknown {}
        }
        do { return try inspect(name) } catch let error as StrataError where error.code == .imageUnknown {
            throw StrataError(.imageUnknown, "No such object: \(name)", cause: error)
        }
    }
}

extension Engine {
    /// `strata port`: a running container's published ports.
    public func ports(_ name: String) throws -> [PortMapping] {
        try containers.ports(name)
    }

    /// The published ports of a container already looked up (`ps`).
    public func containerPorts(_ c: Container) -> [PortMapping] {
        (try? containers.endpoint(of: c))??.ports ?? []
    }
}
