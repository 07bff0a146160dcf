import ArgumentParser
import Foundation
import ImageSpec
import ImageStore
import Snapshots

/// `strata inspect IMAGE…` / `strata image inspect`: Docker's JSON shape.
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Display detailed information on one or more images.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Format the output using a Go template, e.g. '{{.Id}}' or '{{json .RootFS.Layers}}'.")
    var format: String?
    @Argument(help: "Images (name, name:tag, name@digest, or ID).") var images: [String]

    func run() async throws {
        guard !images.isEmpty else { throw ValidationError("\"inspect\" requires at least 1 argument.") }
        let store = try global.store()
        let template = try format.map { $0 == "json" ? try GoTemplate("{{json .}}") : try GoTemplate($0) }
        var objects: [OrderedJSON] = []
        var failures: [String] = []
        for name in images {
            do {
                objects.append(try ImageInspector(store: store).inspect(store.resolve(name)))
            } catch let error as StrataError where error.code == .imageUnknown {
                failures.append(error.message)
            }
        }
        if let template {
            emit(try objects.map { try template.render($0.value) + "\n" }.joined())
        } else {
            emit(OrderedJSON.array(objects).rendered() + "\n")
        }
        if !failures.isEmpty { throw StrataError(.imageUnknown, failures.joined(separator: "\nError: ")) }
    }
}

/// Builds the `docker image inspect` object for an image, with Docker's keys in Docker's order.
struct ImageInspector {
    let store: ImageStore

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
    func graphDriver(_ layers: [ImageStore.Layer]) -> OrderedJSON {
        let chain = ChainID.compute(layers.map(\.diffID))
        guard let name = (try? FileSystem.readFile("\(store.root)/storage-driver")).map({ String(decoding: $0, as: UTF8.self) }),
              let driver = StorageDriver(rawValue: name) else {
            return .object([("Data", .object([("LayerBlobs", .string(layers.map { store.content.path(for: $0.descriptor.digest) }.joined(separator: ":")))])),
                            ("Name", .string("none: not unpacked yet"))])
        }
        let base = "\(store.root)/snapshots/\(driver.rawValue)"
        let dirs = chain.map { "\(base)/\($0.encoded)/\(driver == .overlay ? "diff" : "fs")" }
        guard !dirs.isEmpty, dirs.allSatisfy(FileSystem.isDirectory) else {
            return .object([("Data", .null), ("Name", .string(driver.rawValue))])
        }
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

    func inspect(_ image: ImageStore.Image) throws -> OrderedJSON {
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
            ("GraphDriver", graphDriver(layers)),
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
