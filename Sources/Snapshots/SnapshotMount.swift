import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// A mount that makes a root filesystem, as a driver describes it (containerd's `mount.Mount`):
/// an overlay of layer directories, or a bind mount of a tree.
public struct SnapshotMount: Sendable, Equatable {
    public var type: String
    public var source: String
    public var options: [String]
    /// Relative paths in `options` (overlay's short lower-directory links) resolve from here.
    public var workingDirectory: String?

    public init(type: String, source: String, options: [String], workingDirectory: String? = nil) {
        self.type = type
        self.source = source
        self.options = options
        self.workingDirectory = workingDirectory
    }

    /// The page the kernel copies mount options into.
    static let optionLimit = 4000

    var isBind: Bool { type == "bind" }
    var isReadOnly: Bool { options.contains("ro") }

    /// Mounts it at `target`.
    public func mount(at target: String) throws {
        let cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if cwd >= 0 { fchdir(cwd); close(cwd) } }
        if let workingDirectory, chdir(workingDirectory) != 0 {
            throw StrataError.posix("cannot enter \(workingDirectory)", errno: errno)
        }
        if isBind {
            guard Glibc.mount(source, target, nil, UInt(MS_BIND | MS_REC), nil) == 0 else {
                throw StrataError.posix("cannot bind \(source) at \(target)", errno: errno)
            }
            // A bind mount is read-only only once remounted so.
            if isReadOnly, Glibc.mount(nil, target, nil, UInt(MS_BIND | MS_REMOUNT | MS_RDONLY), nil) != 0 {
                let err = errno
                umount2(target, Int32(MNT_DETACH))
                throw StrataError.posix("cannot make \(target) read-only", errno: err)
            }
            return
        }
        let data = options.joined(separator: ",")
        guard data.utf8.count < Self.optionLimit else {
            throw StrataError(.invalidArgument, "too many layers to mount (\(data.utf8.count) bytes of \(type) options): squash the image into fewer layers")
        }
        guard Glibc.mount(type, target, type, 0, data) == 0 else {
            throw StrataError.posix("cannot mount the root filesystem (\(type))", errno: errno)
        }
    }

    /// Whether something is mounted exactly at `path` (a bind mount of the same filesystem has
    /// the same device number, so this reads the kernel's mount table).
    public static func isMountPoint(_ path: String) -> Bool {
        mountPoints().contains(FileSystem.absolutePath(path))
    }

    /// Every mount point of this process's mount namespace, from the kernel's table.
    public static func mountPoints() -> [String] {
        guard let table = try? FileSystem.readFile("/proc/self/mountinfo", limit: 16 << 20) else { return [] }
        return String(decoding: table, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 5)
            return fields.count > 4 ? unescape(fields[4]) : nil
        }
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes.
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let b = utf8.first {
            if b == UInt8(ascii: "\\"), utf8.count >= 4, let value = UInt8(String(decoding: utf8.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(b)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Unmounts `path` if something is mounted there.
    public static func unmount(_ path: String) {
        if isMountPoint(path) { umount2(path, Int32(MNT_DETACH)) }
    }
}
