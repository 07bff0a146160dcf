import Foundation

/// Builds the `docker image inspect` object for an image, with Docker's keys in Docker's order.
public struct ImageInspector {
    let store: ImageStore

    public init(store: ImageStore) { self.store = store }

    /// Docker's container-config fields, in its struct order; `omitempty` ones appear only when set.
    static let configKeys: [(String, Bool)] = [
        ("Hostname", false), ("Domainname", false), ("User", false), ("AttachStdin", false), ("AttachStdout", false),
        ("AttachStderr", false), ("ExposedPorts", true), ("Tty", false), ("OpenStdin", false), ("StdinOnce", false),
        ("Env", false), ("Cmd", false), ("Healthcheck", true), ("ArgsEscaped", true), ("Image", false),
        ("Volumes", false), ("WorkingDir", false), ("Entrypoint", false), ("NetworkDisabled", true),
        ("MacAddress", true), ("OnBuild", false), ("Labels", false), ("StopSignal", true), ("StopTimeout", true),
        ("Shell", true),
    ]

    static func defaultValue(_ key: String) -> JSONValue {
        switch key {
        case "Hostname", "Domainname", "User", "Image", "WorkingDir": return .string("")
        case "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce": return .bool(false)
        default: return .null
        }
    }

    /// A container config in Docker's shape: every field present, unknown ones kept after them.
    static func containerConfig(_ json: [String: JSONValue]?) -> OrderedJSON {
        guard let json else { return .null }
        var fields: [(String, OrderedJSON)] = []
        for (key, omitEmpty) in configKeys {
            let value = json[key] ?? defaultValue(key)
            if omitEmpty, value == .null || value == .string("") || value == .bool(false) { continue }
            fields.append((key, OrderedJSON(value)))
        }
        let known = Set(configKeys.map(\.0))
        for key in json.keys.sorted() where !known.contains(key) { fields.append((key, OrderedJSON(json[key]!))) }
        return .object(fields)
    }

    /// The storage driver and the image's unpacked layers (Docker's overlay2 shape: the top
    /// layer as UpperDir, the rest as LowerDir). Layers stay blobs until a container needs them.
    func graphDriver(_ layers: [ImageStore.Layer]) throws -> OrderedJSON {
        guard let driver = StorageDriver.recorded(inStore: store.root) else {
            return .object([("Data", .object([("LayerBlobs", .string(layers.map { store.content.path(for: $0.descriptor.digest) }.joined(separator: ":")))])),
                            ("Name", .string("none: not unpacked yet"))])
        }
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: driver)
        let snapshots = ChainID.compute(layers.map(\.diffID)).map { snapshotter.snapshot($0) }
        guard !snapshots.isEmpty, snapshots.allSatisfy({ $0 != nil }) else {
            return .object([("Data", .null), ("Name", .string(driver.rawValue))])
        }
        let dirs = snapshots.compactMap { $0?.path }
        var data: [(String, OrderedJSON)] = []
        switch driver {
        case .overlay:
            if dirs.count > 1 { data.append(("LowerDir", .string(dirs.dropLast().reversed().joined(separator: ":")))) }
            data.append(("UpperDir", .string(dirs.last!)))
        case .copy:
            data.append(("Dir", .string(dirs.last!)))
        }
        return .object([("Data", .object(data)), ("Name", .string(driver.rawValue))])
    }

    public func inspect(_ image: ImageStore.Image) throws -> OrderedJSON {
        let (config, _) = try store.config(of: image)
        let layers = try store.layers(of: image)
        let json = config.json
        func string(_ key: String) -> OrderedJSON { .string(json[key]?.stringValue ?? "") }
        var containerConfigJSON: [String: JSONValue]?
        if case .object(let o)? = json["container_config"] { containerConfigJSON = o }
        var fields: [(String, OrderedJSON)] = [
            ("Id", .string(image.id.description)),
            ("RepoTags", .array(try store.tags(of: image.id).map { .string($0.familiarString) })),
            ("RepoDigests", .array(try store.repoDigests(of: image.id).map { .string($0.familiarString) })),
            ("Parent", .string(image.parent?.description ?? "")),
            ("Comment", string("comment")),
            ("Created", .string(json["created"]?.stringValue ?? "")),
            ("Container", string("container")),
            ("ContainerConfig", Self.containerConfig(containerConfigJSON ?? [:])),
            ("DockerVersion", string("docker_version")),
            ("Author", string("author")),
            ("Config", Self.containerConfig(config.config.json)),
            ("Architecture", .string(config.architecture)),
        ]
        if let variant = config.variant { fields.append(("Variant", .string(variant))) }
        fields.append(("Os", .string(config.os)))
        if let v = config.osVersion { fields.append(("OsVersion", .string(v))) }
        fields += [
            ("Size", .int(image.size)),
            ("VirtualSize", .int(image.size)),
            ("GraphDriver", try graphDriver(layers)),
            ("RootFS", .object([
                ("Type", .string(config.rootfs.type)),
                ("Layers", .array(config.rootfs.diffIDs.map { .string($0.description) })),
            ])),
            ("Metadata", .object([
                ("LastTagTime", .string(image.lastTagTime.map(RFC3339.format) ?? "0001-01-01T00:00:00Z")),
            ])),
        ]
        return .object(fields)
    }
}
