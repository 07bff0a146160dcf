import Foundation

/// An image configuration (image-spec config.md; Docker's image JSON is a superset).
///
/// Backed by the decoded JSON object itself, with typed accessors over it: every field the
/// spec names is reachable, and every field it does not name (Docker's `container_config`,
/// `docker_version`, vendor keys…) survives a decode → modify → encode round trip untouched.
/// The bytes a digest was computed over are kept by the content store, never re-encoded.
public struct ImageConfig: Sendable, Equatable {
    public var json: [String: JSONValue]

    public init(json: [String: JSONValue] = [:]) { self.json = json }

    public init(architecture: String, os: String, diffIDs: [Digest] = [], created: Date? = nil) {
        json = [:]
        self.architecture = architecture
        self.os = os
        rootfs = RootFS(diffIDs: diffIDs)
        if let created { self.created = created }
    }

    /// Decodes and checks a config: a JSON object with a `rootfs` of type `layers`.
    public static func decode(_ bytes: [UInt8], what: String = "image config") throws -> ImageConfig {
        let value = try JSONCoding.decode(JSONValue.self, from: Data(bytes), what: what)
        guard case .object(let object) = value else {
            throw StrataError(.invalidJSON, "malformed \(what): expected a JSON object")
        }
        let config = ImageConfig(json: object)
        guard let rootfs = object["rootfs"] else {
            throw StrataError(.invalidJSON, "malformed \(what): rootfs: required field missing")
        }
        let decoded: RootFS = try rootfs.decode(what: "\(what) rootfs")
        guard decoded.type == "layers" else {
            throw StrataError(.invalidJSON, "malformed \(what): rootfs.type is \"\(decoded.type)\", expected \"layers\"")
        }
        if let history = object["history"], history != .null {
            let _: [History] = try history.decode(what: "\(what) history")
        }
        return config
    }

    /// Canonical bytes for a config Strata writes: sorted keys, so equal configs hash equally.
    public func encoded() throws -> [UInt8] {
        Array(try JSONCoding.encoder.encode(JSONValue.object(json)))
    }

    // MARK: top-level fields

    public var created: Date? {
        get { json["created"]?.stringValue.flatMap(RFC3339.parse) }
        set { json["created"] = newValue.map { .string(RFC3339.format($0)) } }
    }
    public var author: String? {
        get { json["author"]?.stringValue }
        set { json["author"] = newValue.map(JSONValue.string) }
    }
    public var architecture: String {
        get { json["architecture"]?.stringValue ?? "" }
        set { json["architecture"] = .string(newValue) }
    }
    public var os: String {
        get { json["os"]?.stringValue ?? "" }
        set { json["os"] = .string(newValue) }
    }
    public var variant: String? {
        get { json["variant"]?.stringValue }
        set { json["variant"] = newValue.map(JSONValue.string) }
    }
    public var osVersion: String? {
        get { json["os.version"]?.stringValue }
        set { json["os.version"] = newValue.map(JSONValue.string) }
    }
    /// Docker's top-level comment (set by `import -m` and `commit -m`).
    public var comment: String? {
        get { json["comment"]?.stringValue }
        set { json["comment"] = newValue.map(JSONValue.string) }
    }
    public var rootfs: RootFS {
        get { (try? json["rootfs"]?.decode(what: "rootfs")) ?? RootFS(diffIDs: []) }
        set { json["rootfs"] = try? JSONValue(encoding: newValue) }
    }
    public var history: [History] {
        get { (try? json["history"]?.decode(what: "history")) ?? [] }
        set { json["history"] = newValue.isEmpty ? nil : try? JSONValue(encoding: newValue) }
    }
    /// The execution parameters (`config`): Env, Cmd, Entrypoint, …
    public var config: ContainerConfig {
        get {
            if case .object(let o)? = json["config"] { return ContainerConfig(json: o) }
            return ContainerConfig()
        }
        set { json["config"] = .object(newValue.json) }
    }

    public var platform: Platform {
        var p = Platform(os: os, architecture: architecture, variant: variant)
        p.osVersion = osVersion
        return p
    }
}

/// The `config` object of an image config: what a container runs and how.
public struct ContainerConfig: Sendable, Equatable {
    public var json: [String: JSONValue]
    public init(json: [String: JSONValue] = [:]) { self.json = json }

    public var user: String? { get { string("User") } set { set("User", newValue) } }
    public var workingDir: String? { get { string("WorkingDir") } set { set("WorkingDir", newValue) } }
    public var stopSignal: String? { get { string("StopSignal") } set { set("StopSignal", newValue) } }
    public var env: [String]? { get { strings("Env") } set { set("Env", newValue) } }
    public var cmd: [String]? { get { strings("Cmd") } set { set("Cmd", newValue) } }
    public var entrypoint: [String]? { get { strings("Entrypoint") } set { set("Entrypoint", newValue) } }
    public var shell: [String]? { get { strings("Shell") } set { set("Shell", newValue) } }
    public var onBuild: [String]? { get { strings("OnBuild") } set { set("OnBuild", newValue) } }
    public var labels: [String: String]? {
        get {
            guard case .object(let o)? = json["Labels"] else { return nil }
            return o.compactMapValues(\.stringValue)
        }
        set { json["Labels"] = newValue.map { .object($0.mapValues(JSONValue.string)) } }
    }
    /// Keys like `80/tcp`; the values are empty objects in the spec.
    public var exposedPorts: [String]? { get { keys("ExposedPorts") } set { setKeys("ExposedPorts", newValue) } }
    public var volumes: [String]? { get { keys("Volumes") } set { setKeys("Volumes", newValue) } }
    public var argsEscaped: Bool? {
        get { if case .bool(let b)? = json["ArgsEscaped"] { return b }; return nil }
        set { json["ArgsEscaped"] = newValue.map(JSONValue.bool) }
    }
    public var healthcheck: Healthcheck? {
        get { try? json["Healthcheck"]?.decode(what: "Healthcheck") }
        set { json["Healthcheck"] = newValue.flatMap { try? JSONValue(encoding: $0) } }
    }

    /// Looks up one variable of Env (`KEY=value`).
    public func environment(_ key: String) -> String? {
        env?.last(where: { $0.hasPrefix(key + "=") }).map { String($0.dropFirst(key.count + 1)) }
    }

    /// Sets or replaces one variable of Env, keeping the order of the others.
    public mutating func setEnvironment(_ key: String, _ value: String) {
        var list = env ?? []
        if let i = list.firstIndex(where: { $0.hasPrefix(key + "=") || $0 == key }) {
            list[i] = "\(key)=\(value)"
        } else {
            list.append("\(key)=\(value)")
        }
        env = list
    }

    private func string(_ k: String) -> String? { json[k]?.stringValue }
    private mutating func set(_ k: String, _ v: String?) { json[k] = v.map(JSONValue.string) }
    private func strings(_ k: String) -> [String]? {
        guard case .array(let a)? = json[k] else { return nil }
        return a.compactMap(\.stringValue)
    }
    private mutating func set(_ k: String, _ v: [String]?) { json[k] = v.map { .array($0.map(JSONValue.string)) } }
    private func keys(_ k: String) -> [String]? {
        guard case .object(let o)? = json[k] else { return nil }
        return o.keys.sorted()
    }
    private mutating func setKeys(_ k: String, _ v: [String]?) {
        json[k] = v.map { .object(Dictionary($0.map { ($0, JSONValue.object([:])) }, uniquingKeysWith: { a, _ in a })) }
    }
}

/// A container health check (Docker's `Healthcheck`, kept by OCI configs as an extension).
public struct Healthcheck: Codable, Hashable, Sendable {
    public var test: [String]?
    public var interval: Int64?
    public var timeout: Int64?
    public var startPeriod: Int64?
    public var startInterval: Int64?
    public var retries: Int?

    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout"
        case startPeriod = "StartPeriod", startInterval = "StartInterval", retries = "Retries"
    }
    public init(test: [String]?) { self.test = test }
}

/// `rootfs`: the diff IDs (digests of the uncompressed layer tars), lowest first.
public struct RootFS: Codable, Hashable, Sendable {
    public var type: String
    public var diffIDs: [Digest]
    enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
    public init(diffIDs: [Digest]) {
        type = "layers"
        self.diffIDs = diffIDs
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        diffIDs = try c.decodeIfPresent([Digest].self, forKey: .diffIDs) ?? []
    }
}

/// One step of an image's history. `emptyLayer` steps changed only metadata.
public struct History: Codable, Hashable, Sendable {
    public var created: String?
    public var createdBy: String?
    public var author: String?
    public var comment: String?
    public var emptyLayer: Bool?

    enum CodingKeys: String, CodingKey {
        case created, author, comment
        case createdBy = "created_by"
        case emptyLayer = "empty_layer"
    }

    public init(created: Date?, createdBy: String?, comment: String? = nil, emptyLayer: Bool = false) {
        self.created = created.map(RFC3339.format)
        self.createdBy = createdBy
        self.comment = comment
        self.emptyLayer = emptyLayer ? true : nil
    }

    public var createdDate: Date? { created.flatMap(RFC3339.parse) }
    public var isEmptyLayer: Bool { emptyLayer ?? false }
}

extension JSONValue {
    /// Decodes a typed value out of this JSON subtree.
    public func decode<T: Decodable>(what: String) throws -> T {
        let data = try JSONCoding.encoder.encode(self)
        return try JSONCoding.decode(T.self, from: data, what: what)
    }
}

/// RFC 3339 timestamps as Go writes them: UTC, `Z`, fractional seconds only when present (up to ns).
public enum RFC3339 {
    public static func format(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = Int64(t.rounded(.down))
        var nanos = Int64(((t - Double(seconds)) * 1e9).rounded())
        if nanos >= 1_000_000_000 { seconds += 1; nanos -= 1_000_000_000 }
        var tm = tm()
        var tt = time_t(seconds)
        gmtime_r(&tt, &tm)
        var s = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                       Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        if nanos > 0 {
            var frac = String(format: "%09lld", nanos)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    public static func parse(_ s: String) -> Date? {
        let u = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= u.count else { return nil }
            var v = 0
            for i in from..<from + len {
                guard u[i] >= 48, u[i] <= 57 else { return nil }
                v = v * 10 + Int(u[i] - 48)
            }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
              u[10] == 84 || u[10] == 116 || u[10] == 32, let h = num(11, 2), u[13] == 58, let mi = num(14, 2),
              u[16] == 58, let sec = num(17, 2) else { return nil }
        var i = 19
        var frac = 0.0
        if i < u.count, u[i] == 46 {
            i += 1
            var scale = 0.1
            while i < u.count, u[i] >= 48, u[i] <= 57 { frac += Double(u[i] - 48) * scale; scale /= 10; i += 1 }
        }
        var offset = 0
        guard i < u.count else { return nil }
        if u[i] == 90 || u[i] == 122 {
            i += 1
        } else if u[i] == 43 || u[i] == 45, let oh = num(i + 1, 2), u.count > i + 3, u[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (u[i] == 43 ? 1 : -1)
            i += 6
        } else { return nil }
        guard i == u.count else { return nil }
        var tm = tm()
        tm.tm_year = Int32(y - 1900); tm.tm_mon = Int32(mo - 1); tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h); tm.tm_min = Int32(mi); tm.tm_sec = Int32(sec)
        let epoch = timegm(&tm)
        return Date(timeIntervalSince1970: Double(epoch - offset) + frac)
    }
}
