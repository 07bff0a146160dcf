import Archive
import ImageSpec

/// Resolves a container's `USER` (`name`, `uid`, `name:group`, `uid:gid`) through the image's own
/// /etc/passwd and /etc/group, read inside the root so an image's links can never reach the host's.
public enum Users {
    struct Resolved: Equatable {
        var user: RuntimeSpec.User
        var home: String
    }

    /// The numeric owner a `COPY --chown` names: `user[:group]`, names looked up in the image;
    /// without a group, the group ID is the user ID (Docker's rule).
    public static func owner(_ spec: String, rootfs: String) throws -> (uid: UInt32, gid: UInt32) {
        let resolved = try resolve(spec, rootfs: try RootedDirectory(path: rootfs))
        let hasGroup = spec.contains(":") && !spec.hasSuffix(":")
        return (resolved.user.uid, hasGroup ? resolved.user.gid : resolved.user.uid)
    }

    static func resolve(_ spec: String, rootfs: RootedDirectory) throws -> Resolved {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0].isEmpty ? "0" : parts[0]
        let passwd = try rootfs.readFile("/etc/passwd").map { String(decoding: $0, as: UTF8.self) } ?? ""
        let groupFile = try rootfs.readFile("/etc/group").map { String(decoding: $0, as: UTF8.self) } ?? ""
        let users = passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0.count >= 7 }
        let groups = groupFile.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0.count >= 4 }

        var uid: UInt32
        var gid: UInt32 = 0
        var home = "/"
        var name: String?
        if let entry = users.first(where: { $0[0] == userPart || (UInt32(userPart) != nil && $0[2] == userPart) }) {
            guard let u = UInt32(entry[2]), let g = UInt32(entry[3]) else {
                throw StrataError(.invalidArgument, "unable to find user \(userPart): malformed entry in the image's /etc/passwd")
            }
            (uid, gid, home, name) = (u, g, entry[5].isEmpty ? "/" : entry[5], entry[0])
        } else if let u = UInt32(userPart) {
            uid = u
        } else {
            throw StrataError(.invalidArgument, "unable to find user \(userPart): no matching entries in the image's /etc/passwd")
        }
        if parts.count == 2, !parts[1].isEmpty {
            if let g = UInt32(parts[1]) {
                gid = g
            } else if let entry = groups.first(where: { $0[0] == parts[1] }), let g = UInt32(entry[2]) {
                gid = g
            } else {
                throw StrataError(.invalidArgument, "unable to find group \(parts[1]): no matching entries in the image's /etc/group")
            }
        }
        let supplementary = name.map { n in
            groups.filter { $0[3].split(separator: ",").contains(Substring(n)) }.compactMap { UInt32($0[2]) }.filter { $0 != gid }
        } ?? []
        return Resolved(user: RuntimeSpec.User(uid: uid, gid: gid, additionalGids: supplementary.isEmpty ? nil : supplementary), home: home)
    }
}
