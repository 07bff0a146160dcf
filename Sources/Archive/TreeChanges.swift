import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// One line of `diff`: a path added, changed or deleted in a container's read/write layer.
public struct Change: Sendable, Equatable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable { case added = "A", changed = "C", deleted = "D" }
    public var kind: Kind
    /// Absolute, as Docker prints it: `/etc/motd`; the file system's bytes, UTF-8 or not.
    public var path: BytePath

    public init(_ kind: Kind, _ path: BytePath) {
        self.kind = kind
        self.path = path
    }

    /// For messages and tests: bytes that are not UTF-8 show as `\xNN`.
    public var description: String { "\(kind.rawValue) \(path)" }

    /// The line `diff` prints, newline included: the path's own bytes, as Docker prints them
    /// (a Go string is bytes), so a Latin-1 name reaches the terminal or a pipe unchanged.
    public var line: [UInt8] { Array("\(kind.rawValue) ".utf8) + path.bytes + [0x0A] }

    public static func < (a: Change, b: Change) -> Bool { a.path < b.path }
}

public enum TreeChanges {
    /// The changes an overlayfs upper directory records over its lower layers (`lowerExists`
    /// says whether a path, relative and clean, is in the image).
    public static func overlay(upper: String, lowerExists: (BytePath) -> Bool) -> [Change] {
        let upper = BytePath(upper)
        var changes: [Change] = []
        func walk(_ rel: BytePath) {
            for name in FileSystem.entries(of: upper.appending(rel)) {
                let child = rel.appending(name)
                guard let st = TreeArchiver.lstat(upper.appending(child)) else { continue }
                let type = st.st_mode & S_IFMT
                if type == S_IFCHR, st.st_rdev == 0 {
                    changes.append(Change(.deleted, "/" + child))
                    continue
                }
                let existed = lowerExists(child)
                changes.append(Change(existed ? .changed : .added, "/" + child))
                if type == S_IFDIR {
                    walk(child)
                }
            }
        }
        walk(BytePath())
        return changes.sorted()
    }

    /// The changes from `lower` to `upper`, two full trees (the copy driver).
    public static func compare(lower: String, upper: String, ignoring: Set<String> = []) -> [Change] {
        let lower = BytePath(lower), upper = BytePath(upper)
        let ignoring = Set(ignoring.map { BytePath($0) })
        var changes: [Change] = []
        func addAll(_ rel: BytePath) {
            changes.append(Change(.added, "/" + rel))
            if TreeArchiver.lstat(upper.appending(rel)).map({ ($0.st_mode & S_IFMT) == S_IFDIR }) == true {
                for name in FileSystem.entries(of: upper.appending(rel)) { addAll(rel.appending(name)) }
            }
        }
        func walk(_ rel: BytePath) {
            let upperNames = Set(FileSystem.entries(of: upper.appending(rel)))
            let lowerNames = Set(FileSystem.entries(of: lower.appending(rel)))
            for name in upperNames.union(lowerNames) {
                let child = rel.appending(name)
                let lowerPath = lower.appending(child), upperPath = upper.appending(child)
                guard upperNames.contains(name) else { changes.append(Change(.deleted, "/" + child)); continue }
                guard lowerNames.contains(name), let a = TreeArchiver.lstat(lowerPath), let b = TreeArchiver.lstat(upperPath) else {
                    if ignoring.contains(child) {
                        if let st = TreeArchiver.lstat(upperPath), (st.st_mode & S_IFMT) == S_IFDIR { walk(child) }
                        continue
                    }
                    addAll(child)
                    continue
                }
                if (a.st_mode & S_IFMT) == S_IFDIR, (b.st_mode & S_IFMT) == S_IFDIR {
                    if TreeArchiver.metadataDiffers(a, b) { changes.append(Change(.changed, "/" + child)) }
                    walk(child)
                } else if TreeArchiver.differs(a, b, lower: lowerPath, upper: upperPath) {
                    changes.append(Change(.changed, "/" + child))
                }
            }
        }
        walk(BytePath())
        // As the overlay driver (and Docker) report them: the directories holding a change changed too.
        var seen = Set(changes.map(\.path))
        for change in changes {
            var parent = change.path.deletingLastComponent
            while parent != "/", !parent.isEmpty, seen.insert(parent).inserted {
                changes.append(Change(.changed, parent))
                parent = parent.deletingLastComponent
            }
        }
        return changes.sorted()
    }
}
