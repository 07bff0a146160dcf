import Foundation
import Host
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// The store's volumes, one directory each: `volumes/<name>/_data` holds the data and
/// `volumes/<name>/volume.json` what `inspect` shows. A volume appears by one rename of a
/// directory made whole beside it, and goes by one rename out of sight before its tree is
/// deleted: no reader ever sees half of one.
public struct VolumeStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
        sweep()
    }

    /// Docker's rule for local volume names.
    public static func isValidName(_ name: String) -> Bool {
        ContainerNames.isValid(name)
    }

    func directory(_ name: String) -> String { "\(root)/\(name)" }
    public func dataPath(_ name: String) -> String { "\(root)/\(name)/_data" }

    private struct Record: Codable {
        var createdAt: Date
        var anonymous: Bool
        var labels: [String: String]
    }

    /// Creates the volume, or returns it if it is there already (Docker's `volume create` of an
    /// existing name is not an error). `anonymous` volumes get a random 64-hex name.
    public func create(_ name: String? = nil, anonymous: Bool = false, labels: [String: String] = [:]) throws -> (volume: Volume, created: Bool) {
        let name = name ?? RandomID.make()
        guard Self.isValidName(name) else {
            throw StrataError(.invalidArgument, "create \(name): \"\(name)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")
        }
        if let existing = try volume(name) { return (existing, false) }
        let staging = "\(root)/.new-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileSystem.createDirectory(staging, mode: 0o701)
            try FileSystem.createDirectory("\(staging)/_data", mode: 0o755)
            let record = Record(createdAt: Date(), anonymous: anonymous, labels: labels)
            try FileSystem.writeAtomically("\(staging)/volume.json", Array(try JSONCoding.encoder.encode(record)))
            guard rename(staging, directory(name)) == 0 else {
                let error = errno
                FileSystem.removeTree(staging)
                // Made by someone else meanwhile: theirs is the volume.
                if error == EEXIST || error == ENOTEMPTY, let existing = try volume(name) { return (existing, false) }
                throw StrataError.posix("cannot create volume \(name)", errno: error)
            }
        } catch {
            FileSystem.removeTree(staging)
            throw error
        }
        return (try volume(name) ?? Volume(name: name, mountpoint: dataPath(name), created: Date(), anonymous: anonymous, labels: labels), true)
    }

    /// The volume called `name`, or nil.
    public func volume(_ name: String) throws -> Volume? {
        guard Self.isValidName(name), let bytes = try? FileSystem.readFile("\(directory(name))/volume.json") else { return nil }
        let record = try JSONCoding.decode(Record.self, from: Data(bytes), what: "volume \(name)")
        return Volume(name: name, mountpoint: dataPath(name), created: record.createdAt, anonymous: record.anonymous, labels: record.labels)
    }

    /// Every volume, by name.
    public func list() throws -> [Volume] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return try names.filter { !$0.hasPrefix(".") }.sorted().compactMap { try volume($0) }
    }

    /// Takes the volume out of sight at once, then deletes its tree. The caller has made sure
    /// no container uses it.
    func remove(_ name: String) throws {
        guard Self.isValidName(name) else { throw StrataError(.volumeUnknown, "get \(name): no such volume") }
        let trash = "\(root)/.gone-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard rename(directory(name), trash) == 0 else {
            if errno == ENOENT { throw StrataError(.volumeUnknown, "get \(name): no such volume") }
            throw StrataError.posix("cannot remove volume \(name)", errno: errno)
        }
        FileSystem.removeTree(trash)
    }

    /// Bytes of the volume's files (Docker's measure: see `contentSize`).
    public func size(_ name: String) -> Int64 { Self.contentSize(dataPath(name)) }

    /// The sizes of everything under `path` but directories, each inode once, links not
    /// followed: how Docker measures a volume or a container's layer (a 4-byte file is 4B).
    public static func contentSize(_ path: String) -> Int64 {
        var seen = Set<UInt64>(), total: Int64 = 0
        func walk(_ path: BytePath) {
            var st = Glibc.stat()
            guard lstat(path.cString, &st) == 0 else { return }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                for entry in FileSystem.entries(of: path) { walk(path.appending(entry)) }
            } else if st.st_nlink == 1 || seen.insert(UInt64(st.st_ino)).inserted {
                total += Int64(st.st_size)
            }
        }
        walk(BytePath(path))
        return total
    }

    /// What a process that died while making or removing a volume left behind.
    private func sweep() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".") {
            let parts = name.split(separator: "-")
            guard parts.count == 3, let pid = Int32(parts[1]), pid != getpid(), Glibc.kill(pid, 0) != 0, errno == ESRCH else { continue }
            FileSystem.removeTree("\(root)/\(name)")
        }
    }
}
