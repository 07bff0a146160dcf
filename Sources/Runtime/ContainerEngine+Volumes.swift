import Archive
import Foundation
import Host
import ImageSpec

extension ContainerEngine {
    /// The containers whose mounts name the volume.
    public func users(ofVolume name: String) throws -> [Container] {
        try list().filter { c in (c.spec.volumes ?? []).contains { $0.kind == .volume && $0.source == name } }
    }

    /// `strata volume rm`: refused while any container (running or not) mounts the volume, as
    /// Docker's. The check and the removal are one transaction against container creation.
    public func removeVolume(_ name: String) throws {
        try db.write {
            let users = try users(ofVolume: name)
            guard users.isEmpty else {
                throw StrataError(.conflict, "remove \(name): volume is in use - [\(users.map(\.id).joined(separator: ", "))]")
            }
            guard try volumes.volume(name) != nil else { throw StrataError(.volumeUnknown, "get \(name): no such volume") }
            try volumes.remove(name)
        }
    }

    /// `strata volume prune`: every volume no container mounts (Docker 20.10's rule); returns
    /// their names and the bytes they took.
    public func pruneVolumes() throws -> (removed: [String], reclaimed: Int64) {
        try db.write {
            let used = Set(try list().flatMap { ($0.spec.volumes ?? []).filter { $0.kind == .volume }.map(\.source) })
            var removed: [String] = [], reclaimed: Int64 = 0
            for volume in try volumes.list() where !used.contains(volume.name) {
                let size = volumes.size(volume.name)
                try volumes.remove(volume.name)
                removed.append(volume.name)
                reclaimed += size
            }
            return (removed, reclaimed)
        }
    }

    /// The runtime-spec mounts for the container's volumes, binds and tmpfs. runc resolves each
    /// destination inside the root filesystem (a symlink in the image cannot lead a mount to
    /// the host) and makes the mount point if it is missing.
    func runtimeMounts(_ c: Container) throws -> [RuntimeSpec.Mount] {
        try (c.spec.volumes ?? []).map { mount in
            let access = mount.readOnly ? "ro" : "rw"
            switch mount.kind {
            case .bind:
                try Self.checkBindSource(mount.source)
                return RuntimeSpec.Mount(destination: mount.target, type: "bind", source: mount.source, options: ["rbind", access])
            case .volume:
                guard try volumes.volume(mount.source) != nil else {
                    throw StrataError(.volumeUnknown, "the volume \(mount.source) of container \(c.shortID) is gone")
                }
                return RuntimeSpec.Mount(destination: mount.target, type: "bind", source: volumes.dataPath(mount.source),
                                         options: ["rbind", access])
            case .tmpfs:
                // Docker's defaults for --tmpfs; the user's options (size, mode) after them win.
                return RuntimeSpec.Mount(destination: mount.target, type: "tmpfs", source: "tmpfs",
                                         options: ["nosuid", "nodev", "noexec", access] + mount.options)
            }
        }
    }

    /// Docker's copy-up: an empty volume mounted where the image has files gets a copy of them
    /// first (an image's `VOLUME /var/lib/db` starts with what the image put there). The path is
    /// resolved inside the root filesystem, so a link in the image cannot make the copy read
    /// the host's files.
    func populateVolumes(_ c: Container, rootfs: String) throws {
        let root = try RootedDirectory(path: rootfs)
        for mount in c.spec.volumes ?? [] where mount.kind == .volume {
            let data = volumes.dataPath(mount.source)
            guard FileSystem.entries(of: BytePath(data)).isEmpty, let source = try root.openDirectory(mount.target) else { continue }
            defer { close(source) }
            guard !FileSystem.entries(of: BytePath("/proc/self/fd/\(source)")).isEmpty else { continue }
            // cp reads the directory through our descriptor (/proc/PID/fd/N), never by its path.
            _ = try Subprocess.check("/bin/cp", ["-a", "/proc/\(getpid())/fd/\(source)/.", data + "/"],
                                 what: "copying \(mount.target) of the image into volume \(mount.source)")
        }
    }
}
