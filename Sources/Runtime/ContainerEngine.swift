import Archive
import Foundation
import ImageSpec
import ImageStore
import Metadata
import Snapshots

/// Containers without a daemon: each is a row in the store's database, a directory with its
/// read/write layer, and — while it runs — a `strata` process waiting on the OCI runtime.
public final class ContainerEngine {
    public let store: ImageStore
    public let snapshots: Snapshotter
    public let runtime: OCIRuntime
    public let volumes: VolumeStore
    public let networks: NetworkStore
    var db: Database { store.database }

    /// `driver` and `runtime` override the defaults (`STRATA_STORAGE_DRIVER`, `STRATA_RUNTIME`, then detection).
    /// The driver chosen first is kept in the store, so every container of a store uses one driver.
    public init(store: ImageStore, driver: StorageDriver? = nil, runtime: String? = nil) throws {
        self.store = store
        let chosen = try StorageDriver.choose(forStore: store.root, requested: driver)
        snapshots = try Snapshotter(storeRoot: store.root, content: store.content, driver: chosen)
        self.runtime = try OCIRuntime(requested: runtime ?? ProcessInfo.processInfo.environment["STRATA_RUNTIME"],
                                      stateRoot: "\(store.root)/runtime")
        volumes = try VolumeStore(root: "\(store.root)/volumes")
        networks = try NetworkStore(root: "\(store.root)/networks")
        try FileSystem.createDirectory(containersRoot, mode: 0o700)
    }

    var containersRoot: String { "\(store.root)/containers" }
    /// The container's directory: its layer, bundle, log and the files mounted into it.
    public func directory(_ id: String) -> String { "\(containersRoot)/\(id)" }

    // MARK: records

    static let columns = "id, name, image_id, image_name, created, driver, config, state, pid, exit_code, started, finished"

    static func container(_ row: Row) throws -> Container {
        let spec = try JSONCoding.decode(ContainerSpec.self, from: Data((row.string(6) ?? "{}").utf8), what: "container record")
        return Container(id: row.string(0) ?? "", name: row.string(1) ?? "", imageID: try Digest(parsing: row.string(2) ?? ""),
                         imageName: row.string(3) ?? "", created: Date(timeIntervalSince1970: row.double(4) ?? 0),
                         driver: row.string(5) ?? "", spec: spec, state: Container.State(rawValue: row.string(7) ?? "") ?? .created,
                         pid: Int32(row.int(8) ?? 0), exitCode: row.int(9).map { Int32($0) },
                         started: row.double(10).map(Date.init(timeIntervalSince1970:)),
                         finished: row.double(11).map(Date.init(timeIntervalSince1970:)))
    }

    /// Every container, newest first, with the state of those whose waiting process died brought up to date.
    public func list() throws -> [Container] {
        try db.query("SELECT \(Self.columns) FROM containers ORDER BY created DESC").map(Self.container).map(refresh)
    }

    /// Finds a container by name, full ID or unique ID prefix.
    public func lookup(_ input: String) throws -> Container {
        let name = input.hasPrefix("/") ? String(input.dropFirst()) : input
        if let row = try db.query("SELECT \(Self.columns) FROM containers WHERE name = ? OR id = ?", [.text(name), .text(name)]).first {
            return try refresh(Self.container(row))
        }
        if !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) {
            let rows = try db.query("SELECT \(Self.columns) FROM containers WHERE id >= ? AND id < ? LIMIT 2", [.text(name), .text(name + "g")])
            if rows.count > 1 { throw StrataError(.ambiguous, "multiple containers match \"\(name)\": give more characters") }
            if let row = rows.first { return try refresh(Self.container(row)) }
        }
        throw StrataError(.containerUnknown, "No such container: \(input)")
    }

    /// A container recorded as running whose waiting process is gone (killed with it, or the
    /// machine restarted) is stopped for real and marked exited.
    func refresh(_ c: Container) throws -> Container {
        guard c.state == .running, c.pid > 0, Glibc.kill(c.pid, 0) != 0, errno == ESRCH else { return c }
        runtime.delete(c.id, force: true)
        disconnect(c)
        snapshots.unmount(directory(c.id))
        try db.execute("UPDATE containers SET state = 'exited', exit_code = COALESCE(exit_code, 255), finished = ? WHERE id = ? AND state = 'running'",
                       [.real(Date().timeIntervalSince1970), .text(c.id)])
        var updated = c
        updated.state = .exited
        updated.exitCode = c.exitCode ?? 255
        return updated
    }

    // MARK: create

    public struct CreateOptions: Sendable {
        public var image: String
        public var name: String?
        public var command: [String] = []
        public var entrypoint: String?
        public var env: [String] = []
        public var workingDir: String?
        public var user: String?
        public var hostname: String?
        public var network: ContainerSpec.Network = .bridge
        public var autoRemove = false
        /// Extra mounts (a build's `RUN --mount`).
        public var mounts: [RuntimeSpec.Mount] = []
        /// `-t`: a pseudo-terminal; `-i`: stdin kept open for whoever attaches.
        public var tty = false
        public var interactive = false
        /// `-v`, `--mount`, `--tmpfs`; the image's `VOLUME`s not among them get anonymous volumes.
        public var volumes: [VolumeMount] = []
        public var hostConfig = HostConfig()
        /// `-p`; `-P` (`publishAll`) adds every port the image exposes, on a host port chosen at start.
        public var ports: [PortMapping] = []
        public var publishAll = false
        /// A user-defined network for `network: .bridge` (`--network NAME`); `--add-host NAME:IP`; `--dns IP`.
        public var networkName: String?
        public var extraHosts: [String] = []
        public var dns: [String] = []

        public init(image: String) { self.image = image }
    }

    /// `strata create`: the container's record and read/write layer over the image's unpacked layers.
    public func create(_ options: CreateOptions) throws -> Container {
        try Trace.measure(.create) { try creating(options) }
    }

    private func creating(_ options: CreateOptions) throws -> Container {
        // Shared from the lookup to the record: the image cannot be collected in between (a
        // prune that got there first makes it "No such image", never a missing blob).
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let image = try store.resolve(options.image)
        let config = try store.config(of: image).config.config
        let layers = try store.layers(of: image)
        if let name = options.name, !ContainerNames.isValid(name) {
            throw StrataError(.invalidArgument, "Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }

        // Docker's rules: --entrypoint replaces the image's and drops its CMD; arguments replace CMD.
        let entrypoint = options.entrypoint.map { $0.isEmpty ? [] : [$0] } ?? (config.entrypoint ?? [])
        let cmd = !options.command.isEmpty ? options.command : (options.entrypoint != nil ? [] : (config.cmd ?? []))
        let args = entrypoint + cmd
        guard !args.isEmpty else {
            throw StrataError(.invalidArgument, "no command specified: the image has no CMD or ENTRYPOINT; give one after the image name")
        }
        var env = config.env ?? []
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0) }
        Self.apply(environment: options.env, to: &env)
        let requested = try Self.mounts(options.volumes, imageVolumes: config.volumes ?? [])
        try options.hostConfig.validate()
        var ports = options.ports
        if options.publishAll {
            for exposed in (config.exposedPorts ?? []).sorted() {
                let parts = exposed.split(separator: "/")
                guard let port = parts.first.flatMap({ UInt16($0) }), port > 0 else { continue }
                let proto = parts.count == 2 ? String(parts[1]) : "tcp"
                if !ports.contains(where: { $0.containerPort == port && $0.proto == proto }) {
                    ports.append(PortMapping(hostPort: 0, containerPort: port, proto: proto))
                }
            }
        }
        if let name = options.networkName {
            guard options.network == .bridge, try networks.network(name) != nil else {
                throw StrataError(.networkUnknown, "network \(name) not found")
            }
        }
        for entry in options.extraHosts {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            var address = in_addr()
            guard parts.count == 2, !parts[0].isEmpty, inet_pton(AF_INET, parts[1], &address) == 1 else {
                throw StrataError(.invalidArgument, "invalid argument \"\(entry)\" for \"--add-host\" flag: NAME:IPv4")
            }
        }
        for server in options.dns {
            var address = in_addr()
            guard inet_pton(AF_INET, server, &address) == 1 else {
                throw StrataError(.invalidArgument, "invalid argument \"\(server)\" for \"--dns\" flag: \(server) is not an IPv4 address")
            }
        }
        if !ports.isEmpty, options.network != .bridge {
            throw StrataError(.invalidArgument, "published ports need the bridge network, not --network \(options.network.rawValue)")
        }
        let id = RandomID.make()
        var spec = ContainerSpec(args: args, env: env, workingDir: options.workingDir ?? (config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"),
                                 user: options.user ?? config.user ?? "", hostname: options.hostname ?? String(id.prefix(12)),
                                 network: options.network, autoRemove: options.autoRemove, stopSignal: config.stopSignal ?? "SIGTERM",
                                 mounts: options.mounts.isEmpty ? nil : options.mounts,
                                 tty: options.tty ? true : nil, openStdin: options.interactive ? true : nil,
                                 entrypoint: entrypoint, cmd: cmd, labels: config.labels,
                                 networkName: options.networkName.flatMap { $0 == "bridge" ? nil : try? networks.network($0)?.name },
                                 extraHosts: options.extraHosts.isEmpty ? nil : options.extraHosts,
                                 dns: options.dns.isEmpty ? nil : options.dns, ports: ports.isEmpty ? nil : ports,
                                 hostConfig: options.hostConfig == HostConfig() ? nil : options.hostConfig)

        let prepared = try snapshots.prepare(layers)
        let dir = directory(id)
        var madeVolumes: [String] = []
        do {
            try FileSystem.createDirectory(dir, mode: 0o700)
            try snapshots.createContainerLayer(in: dir, over: prepared)
            try db.write {
                var name = options.name ?? ContainerNames.random()
                if options.name == nil {
                    while !(try db.query("SELECT 1 FROM containers WHERE name = ?", [.text(name)]).isEmpty) { name = ContainerNames.random() }
                }
                if let other = try db.query("SELECT id FROM containers WHERE name = ?", [.text(name)]).first?.string(0) {
                    throw StrataError(.conflict,
                        "Conflict. The container name \"/\(name)\" is already in use by container \"\(other)\". You have to remove (or rename) that container to be able to reuse that name.")
                }
                // In the same transaction as the record: a `volume rm` checks for users in one too,
                // so it never removes a volume a container is being made with.
                spec.volumes = try requested.map { mount in
                    guard mount.kind == .volume else { return mount }
                    var named = mount
                    let made = try volumes.create(mount.anonymous ? nil : mount.source, anonymous: mount.anonymous)
                    if made.created { madeVolumes.append(made.volume.name) }
                    named.source = made.volume.name
                    return named
                }
                if spec.volumes?.isEmpty == true { spec.volumes = nil }
                let specJSON = String(decoding: try JSONCoding.encoder.encode(spec), as: UTF8.self)
                try db.execute("INSERT INTO containers (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, 'created', 0, NULL, NULL, NULL)",
                               [.text(id), .text(name), .text(image.id.description), .text(options.image),
                                .real(Date().timeIntervalSince1970), .text(snapshots.kind.rawValue), .text(specJSON)])
            }
        } catch {
            snapshots.removeContainerLayer(dir)
            for name in madeVolumes { try? volumes.remove(name) }
            throw error
        }
        return try lookup(id)
    }

    /// `-e` items over an environment, as Docker's: `KEY=VALUE` replaces KEY; a bare `KEY` takes
    /// this process's value, or removes KEY when this process has none.
    static func apply(environment items: [String], to env: inout [String]) {
        for item in items {
            let key = item.split(separator: "=", maxSplits: 1).first.map(String.init) ?? item
            let value = item.contains("=") ? item : ProcessInfo.processInfo.environment[key].map { "\(key)=\($0)" }
            env.removeAll { $0.hasPrefix(key + "=") }
            if let value { env.append(value) }
        }
    }

    /// The mounts a container is made with: the user's, checked (one mount per target, bind
    /// sources that exist), then an anonymous volume for each of the image's `VOLUME`s that
    /// none of them covers.
    static func mounts(_ requested: [VolumeMount], imageVolumes: [String]) throws -> [VolumeMount] {
        var targets = Set<String>()
        for mount in requested {
            guard targets.insert(mount.cleanTarget).inserted else {
                throw StrataError(.invalidArgument, "Duplicate mount point: \(mount.target)")
            }
            if mount.kind == .bind { try checkBindSource(mount.source) }
        }
        var all = requested
        for path in imageVolumes.sorted() {
            let mount = VolumeMount(kind: .volume, source: "", target: path, anonymous: true)
            guard path.hasPrefix("/"), targets.insert(mount.cleanTarget).inserted else { continue }
            all.append(mount)
        }
        return all
    }

    /// Docker's words for a bind mount whose source is not there (when created, and again when started).
    static func checkBindSource(_ path: String) throws {
        guard access(path, F_OK) == 0 else {
            throw StrataError(.invalidArgument, "invalid mount config for type \"bind\": bind source path does not exist: \(path)")
        }
    }

    /// The image's snapshots for a container (already unpacked when it was created).
    func layers(of c: Container) throws -> [Snapshot] {
        guard let image = try store.image(id: c.imageID) else {
            throw StrataError(.imageUnknown, "the image of container \(c.shortID) (\(c.imageID.short)) is gone from the store")
        }
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        return try snapshots.prepare(try store.layers(of: image))
    }

    // MARK: remove

    /// `strata rm`: the record and the read/write layer go; the image, its blobs and snapshots
    /// stay, and so do volumes, but for the container's anonymous ones with `removeVolumes`
    /// (`rm -v`, `run --rm`).
    public func remove(_ input: String, force: Bool, removeVolumes: Bool = false) throws -> Container {
        var c = try lookup(input)
        if c.state == .running {
            guard force else {
                throw StrataError(.conflict,
                    "You cannot remove a running container \(c.id). Stop the container before attempting removal or force remove")
            }
            // Killed until it is gone: a container only just claimed may not have a process yet.
            let deadline = Date().addingTimeInterval(10)
            while c.state == .running, Date() < deadline {
                runtime.kill(c.id, signal: "KILL")
                c = try waitForExit(c, timeout: 0.2)
            }
        }
        // The row goes first, and only if nobody started the container meanwhile.
        let deleted = try db.write { () -> Int in
            try db.execute("DELETE FROM containers WHERE id = ? AND state != 'running'", [.text(c.id)])
            return try db.query("SELECT changes()").first.flatMap { $0.int(0) }.map(Int.init) ?? 0
        }
        guard deleted == 1 else {
            throw StrataError(.conflict, "You cannot remove a running container \(c.id). Stop the container before attempting removal or force remove")
        }
        runtime.delete(c.id, force: true)
        disconnect(c)
        snapshots.removeContainerLayer(directory(c.id))
        if removeVolumes {
            for mount in c.spec.volumes ?? [] where mount.kind == .volume && mount.anonymous {
                try? removeVolume(mount.source)
            }
        }
        return c
    }

    /// Polls until the container's waiting process has recorded its exit.
    func waitForExit(_ c: Container, timeout: Double) throws -> Container {
        let deadline = Date().addingTimeInterval(timeout)
        var current = c
        while current.state == .running, Date() < deadline {
            usleep(20_000)
            current = try lookup(c.id)
        }
        return current
    }

    /// Removes snapshots no image needs any more (after images were deleted).
    public func collectSnapshots() throws {
        let lock = try store.collectLock()
        defer { withExtendedLifetime(lock) {} }
        var needed = Set<Digest>()
        for image in try store.images() {
            needed.formUnion(ChainID.compute(try store.layers(of: image).map(\.diffID)))
        }
        snapshots.prune(keeping: needed)
    }
}
