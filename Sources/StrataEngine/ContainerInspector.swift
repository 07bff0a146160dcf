import Foundation

/// Builds the `docker container inspect` object for a container, with Docker's keys in
/// Docker's order (20.10). Fields Strata has no notion of keep Docker's empty values, so tools
/// that read this JSON find every key they expect.
public struct ContainerInspector {
    let engine: ContainerEngine

    public init(engine: ContainerEngine) { self.engine = engine }

    static func time(_ date: Date?) -> OrderedJSON {
        .string(date.map(RFC3339.format) ?? "0001-01-01T00:00:00Z")
    }

    /// Docker's port maps: `{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}`.
    static func portMap(_ ports: [PortMapping], hostPortZeroIsEmpty: Bool) -> OrderedJSON {
        var keys: [String] = [], bindings: [String: [OrderedJSON]] = [:]
        for p in ports {
            let key = "\(p.containerPort)/\(p.proto)"
            if bindings[key] == nil { keys.append(key) }
            let hostPort = p.hostPort == 0 && hostPortZeroIsEmpty ? "" : String(p.hostPort)
            bindings[key, default: []].append(.object([("HostIp", .string(p.hostIP)), ("HostPort", .string(hostPort))]))
        }
        return .object(keys.sorted().map { ($0, .array(bindings[$0]!)) })
    }

    public func inspect(_ c: Container) throws -> OrderedJSON {
        let dir = engine.directory(c.id)
        let host = c.spec.hostConfig ?? HostConfig()
        let running = c.state == .running
        let state: OrderedJSON = .object([
            ("Status", .string(c.state.rawValue)), ("Running", .bool(running)), ("Paused", .bool(false)),
            ("Restarting", .bool(false)), ("OOMKilled", .bool(false)), ("Dead", .bool(false)),
            ("Pid", .int(Int64(running ? engine.runtime.pid(c.id) ?? 0 : 0))), ("ExitCode", .int(Int64(c.exitCode ?? 0))),
            ("Error", .string("")), ("StartedAt", Self.time(c.started)), ("FinishedAt", Self.time(c.finished)),
        ])
        let volumes = c.spec.volumes ?? []
        let binds = volumes.filter { $0.kind != .tmpfs }.map { "\($0.source):\($0.target)" + ($0.readOnly ? ":ro" : "") }
        let tmpfs = volumes.filter { $0.kind == .tmpfs }
        let capAdd: OrderedJSON = host.capAdd.isEmpty ? .null : .strings(host.capAdd)
        let capDrop: OrderedJSON = host.capDrop.isEmpty ? .null : .strings(host.capDrop)
        let runtimeName = (try? engine.runtime.executable()).map { ($0 as NSString).lastPathComponent } ?? "runc"
        let ulimits: OrderedJSON = host.ulimits.isEmpty ? .null : .array(host.ulimits.map { u -> OrderedJSON in
            .object([("Name", .string(u.name)), ("Hard", .int(Int64(bitPattern: u.hard))), ("Soft", .int(Int64(bitPattern: u.soft)))])
        })
        let tmpfsJSON: OrderedJSON = tmpfs.isEmpty ? .null : .object(tmpfs.map { m -> (String, OrderedJSON) in
            (m.target, .string(((m.readOnly ? ["ro"] : []) + m.options).joined(separator: ",")))
        })
        let memorySwap: Int64 = host.memorySwap ?? (host.memory.map { $0 * 2 } ?? 0)
        var hostFields: [(String, OrderedJSON)] = [
            ("Binds", binds.isEmpty ? .null : .array(binds.map(OrderedJSON.string))),
            ("ContainerIDFile", .string("")),
            ("LogConfig", .object([("Type", .string("json-file")), ("Config", .object([]))])),
            ("NetworkMode", .string(c.spec.networkName ?? c.spec.network.rawValue)),
            ("PortBindings", Self.portMap(c.spec.ports ?? [], hostPortZeroIsEmpty: true)),
            ("RestartPolicy", .object([("Name", .string("no")), ("MaximumRetryCount", .int(0))])),
            ("AutoRemove", .bool(c.spec.autoRemove)),
            ("VolumeDriver", .string("")), ("VolumesFrom", .null), ("CapAdd", capAdd), ("CapDrop", capDrop),
        ]
        hostFields += [
            ("CgroupnsMode", .string("host")), ("Dns", .array([])), ("DnsOptions", .array([])), ("DnsSearch", .array([])),
            ("ExtraHosts", .null), ("GroupAdd", .null), ("IpcMode", .string("private")), ("Cgroup", .string("")), ("Links", .null),
            ("OomScoreAdj", .int(0)), ("PidMode", .string("")), ("Privileged", .bool(host.privileged)),
            ("PublishAllPorts", .bool(false)), ("ReadonlyRootfs", .bool(host.readOnlyRootfs)),
        ]
        var securityOpt: [String] = host.noNewPrivileges ? ["no-new-privileges"] : []
        if host.seccompUnconfined { securityOpt.append("seccomp=unconfined") }
        if let profile = host.seccompProfile { securityOpt.append("seccomp=\(profile)") }
        hostFields += [
            ("SecurityOpt", securityOpt.isEmpty ? .null : .strings(securityOpt)),
            ("UTSMode", .string("")), ("UsernsMode", .string("")), ("ShmSize", .int(67_108_864)),
            ("Runtime", .string(runtimeName)), ("ConsoleSize", .array([.int(0), .int(0)])), ("Isolation", .string("")),
            ("CpuShares", .int(0)), ("Memory", .int(host.memory ?? 0)), ("NanoCpus", .int(host.nanoCPUs ?? 0)),
            ("CgroupParent", .string("")), ("MemorySwap", .int(memorySwap)),
        ]
        hostFields += [
            ("PidsLimit", host.pidsLimit.map { .int($0) } ?? .null), ("Ulimits", ulimits),
            ("MaskedPaths", host.privileged ? .null : .strings(RuntimeSpec.maskedPaths)),
            ("ReadonlyPaths", host.privileged ? .null : .strings(RuntimeSpec.readonlyPaths)),
            ("Tmpfs", tmpfsJSON),
        ]
        let hostConfig: OrderedJSON = .object(hostFields)
        let mounts: [OrderedJSON] = volumes.filter { $0.kind != .tmpfs }.map { m in
            let isVolume = m.kind == .volume
            var fields: [(String, OrderedJSON)] = [("Type", .string(m.kind.rawValue))]
            if isVolume { fields.append(("Name", .string(m.source))) }
            fields += [("Source", .string(isVolume ? engine.volumes.dataPath(m.source) : m.source)), ("Destination", .string(m.target))]
            if isVolume { fields.append(("Driver", .string("local"))) }
            fields += [("Mode", .string(m.readOnly ? "ro" : (isVolume ? "z" : ""))), ("RW", .bool(!m.readOnly)),
                       ("Propagation", .string(isVolume ? "" : "rprivate"))]
            return .object(fields)
        }
        let config: OrderedJSON = .object([
            ("Hostname", .string(c.spec.hostname)), ("Domainname", .string("")), ("User", .string(c.spec.user)),
            ("AttachStdin", .bool(c.spec.openStdin == true)), ("AttachStdout", .bool(true)), ("AttachStderr", .bool(true)),
            ("Tty", .bool(c.spec.tty == true)), ("OpenStdin", .bool(c.spec.openStdin == true)), ("StdinOnce", .bool(c.spec.openStdin == true)),
            ("Env", .strings(c.spec.env)), ("Cmd", .strings(c.spec.cmd ?? c.spec.args)), ("Image", .string(c.imageName)),
            ("Volumes", volumes.isEmpty ? .null : .object(volumes.filter { $0.kind == .volume }.map { ($0.target, .object([])) })),
            ("WorkingDir", .string(c.spec.workingDir)), ("Entrypoint", c.spec.entrypoint.flatMap { $0.isEmpty ? nil : .strings($0) } ?? .null),
            ("OnBuild", .null),
            ("Labels", .object((c.spec.labels ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("StopSignal", .string(c.spec.stopSignal)),
        ])
        let endpoint = running ? engine.endpoint(of: c) : nil
        let address = OrderedJSON.string(endpoint?.address ?? ""), gateway = OrderedJSON.string(endpoint?.gateway ?? "")
        let prefix = OrderedJSON.int(Int64(endpoint?.prefixLength ?? 0))
        let networks: OrderedJSON = .object([(c.spec.networkName ?? c.spec.network.rawValue, .object([
            ("IPAMConfig", .null), ("Links", .null), ("Aliases", .null), ("NetworkID", .string("")), ("EndpointID", .string("")),
            ("Gateway", gateway), ("IPAddress", address), ("IPPrefixLen", prefix), ("IPv6Gateway", .string("")),
            ("GlobalIPv6Address", .string("")), ("GlobalIPv6PrefixLen", .int(0)), ("MacAddress", .string("")), ("DriverOpts", .null),
        ]))])
        let networkSettings: OrderedJSON = .object([
            ("Bridge", .string("")), ("SandboxID", .string("")), ("HairpinMode", .bool(false)), ("LinkLocalIPv6Address", .string("")),
            ("LinkLocalIPv6PrefixLen", .int(0)), ("Ports", Self.portMap(endpoint?.ports ?? [], hostPortZeroIsEmpty: false)),
            ("SandboxKey", .string(endpoint?.netns ?? "")),
            ("SecondaryIPAddresses", .null), ("SecondaryIPv6Addresses", .null), ("EndpointID", .string("")), ("Gateway", gateway),
            ("GlobalIPv6Address", .string("")), ("GlobalIPv6PrefixLen", .int(0)), ("IPAddress", address), ("IPPrefixLen", prefix),
            ("IPv6Gateway", .string("")), ("MacAddress", .string("")), ("Networks", networks),
        ])
        let graphData: OrderedJSON = c.driver == "overlay"
            ? .object([("MergedDir", .string("\(dir)/merged")), ("UpperDir", .string("\(dir)/upper")), ("WorkDir", .string("\(dir)/work"))])
            : .object([("Dir", .string("\(dir)/rootfs"))])
        return .object([
            ("Id", .string(c.id)), ("Created", Self.time(c.created)),
            ("Path", .string(c.spec.args.first ?? "")), ("Args", .strings(Array(c.spec.args.dropFirst()))),
            ("State", state), ("Image", .string(c.imageID.description)),
            ("ResolvConfPath", .string("\(dir)/resolv.conf")), ("HostnamePath", .string("\(dir)/hostname")),
            ("HostsPath", .string("\(dir)/hosts")), ("LogPath", .string("\(dir)/container.log")),
            ("Name", .string("/" + c.name)), ("RestartCount", .int(0)), ("Driver", .string(c.driver)),
            ("Platform", .string("linux")), ("MountLabel", .string("")), ("ProcessLabel", .string("")),
            ("AppArmorProfile", .string("")), ("ExecIDs", .null), ("HostConfig", hostConfig),
            ("GraphDriver", .object([("Data", graphData), ("Name", .string(c.driver))])),
            ("Mounts", .array(mounts)), ("Config", config), ("NetworkSettings", networkSettings),
        ])
    }
}
