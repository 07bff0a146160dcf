import Foundation

extension Engine {
    /// `strata volume create [NAME]`: a named volume (an anonymous one without a name); an
    /// existing name is returned as it is, as Docker's.
    @discardableResult
    public func createVolume(_ name: String? = nil, labels: [String: String] = [:]) throws -> Volume {
        try containers.volumes.create(name, anonymous: name == nil, labels: labels).volume
    }

    /// `strata volume ls`: every volume, by name.
    public func volumes() throws -> [Volume] {
        try containers.volumes.list()
    }

    /// The volume called `name`, or Docker's "No such volume".
    public func volume(_ name: String) throws -> Volume {
        guard let volume = try containers.volumes.volume(name) else { throw StrataError(.volumeUnknown, "No such volume: \(name)") }
        return volume
    }

    /// `strata volume inspect`: Docker's JSON for a volume.
    public func inspectVolume(_ name: String) throws -> OrderedJSON {
        let v = try volume(name)
        return .object([
            ("CreatedAt", .string(RFC3339.format(Date(timeIntervalSince1970: v.created.timeIntervalSince1970.rounded(.down))))),
            ("Driver", .string("local")),
            ("Labels", v.anonymous && v.labels.isEmpty ? .null : .object(v.labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("Mountpoint", .string(v.mountpoint)),
            ("Name", .string(v.name)),
            ("Options", v.anonymous ? .null : .object([])),
            ("Scope", .string("local")),
        ])
    }

    /// `strata volume rm`: refused while a container mounts it.
    public func removeVolume(_ name: String) throws {
        try containers.removeVolume(name)
    }

    /// `strata volume prune`: the volumes no container mounts; their names and the bytes freed.
    public func pruneVolumes() throws -> (removed: [String], reclaimed: Int64) {
        try containers.pruneVolumes()
    }

    /// What `system df` counts beside images: containers (their read/write layers) and volumes
    /// (with how many containers mount each).
    public struct ContainerUsage: Sendable {
        public var containers: [(container: Container, size: Int64)]
        public var volumes: [(volume: Volume, links: Int, size: Int64)]
    }

    public func containerUsage() throws -> ContainerUsage {
        // A store that never had a container or volume has nothing to count, and no driver to detect.
        guard hasSnapshots else { return ContainerUsage(containers: [], volumes: []) }
        let engine = try containers
        let all = try engine.list()
        var links: [String: Int] = [:]
        for c in all { for mount in c.spec.volumes ?? [] where mount.kind == .volume { links[mount.source, default: 0] += 1 } }
        return ContainerUsage(containers: try all.map { ($0, try engine.layerSize($0)) },
                              volumes: try engine.volumes.list().map { ($0, links[$0.name] ?? 0, engine.volumes.size($0.name)) })
    }
}
