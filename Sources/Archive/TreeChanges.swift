import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// One line of `diff`: a path added, changed or deleted in a container's read/write layer.
public struct Change: Sendable, Equatable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable { case added = "A", changed = "C", deleted = "D" }
    public var kind: Kind
    /// Absolute, as Docker prints it: `/etc/motd`.
    public var path: String

    public init(_ kind: Kind, _ path: String) {
        self.kind = kind
        self.path = path
    }

    public var description: String { "\(kind.rawValue) \(path)" }
    public static func < (a: Change, b: Change) -> Bool { a.path.utf8.lexicographicallyPrecedes(b.path.utf8) }
}

public enum TreeChanges {
    /// The changes an overlayfs upper directory records over its lower layers (`lowerExists`
    /// says whether a path is in the image).
    public static func overlay(upper: String, lowerExists: (String) -> Bool) -> [Change] {
        var changes: [Change] = []
        func walk(_ rel: String) {
            let dir = rel.isEmpty ? upper : "\(upper)/\(rel)"
            for name in FileSystem.listDirectory(dir) {
                let child = rel.isEmpty ? name : "\(rel)/\(name)"
                guard let st = TreeArchiver.lstat("\(upper)/\(child)") else { continue }
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
        walk("")
        return changes.sorted()
    }

    /// The changes from `lower` to `upper`, two full trees (the copy driver).
    public static func compare(lower: String, upper: String, ignoring: Set<String> = []) -> [Change] {
        var changes: [Change] = []
        func addAll(_ rel: String) {
            changes.append(Change(.added, "/" + rel))
            if TreeArchiver.lstat("\(upper)/\(rel)").map({ ($0.st_mode & S_IFMT) == S_IFDIR }) == true {
                for name in FileSystem.listDirectory("\(upper)/\(rel)") { addAll("\(rel)/\(name)") }
            }
        }
        func walk(_ rel: String) {
            let upperNames = Set(FileSystem.listDirectory(rel.isEmpty ? upper : "\(upper)/\(rel)"))
            let lowerNames = Set(FileSystem.listDirectory(rel.isEmpty ? lower : "\(lower)/\(rel)"))
            for name in upperNames.union(lowerNames) {
                let child = rel.isEmpty ? name : "\(rel)/\(name)"
                guard upperNames.contains(name) else { changes.append(Change(.deleted, "/" + child)); continue }
                guard lowerNames.contains(name), let a = TreeArchiver.lstat("\(lower)/\(child)"), let b = TreeArchiver.lstat("\(upper)/\(child)") else {
                    if ignoring.contains(child) {
                        if let st = TreeArchiver.lstat("\(upper)/\(child)"), (st.st_mode & S_IFMT) == S_IFDIR { walk(child) }
                        continue
                    }
                    addAll(child)
                    continue
                }
                if (a.st_mode & S_IFMT) == S_IFDIR, (b.st_mode & S_IFMT) == S_IFDIR {
                    if TreeArchiver.metadataDiffers(a, b) { changes.append(Change(.changed, "/" + child)) }
                    walk(child)
                } else if TreeArchiver.differs(a, b, lower: "\(lower)/\(child)", upper: "\(upper)/\(child)") {
                    changes.append(Change(.changed, "/" + child))
                }
            }
        }
        walk("")
        // As the overlay driver (and Docker) report them: the directories holding a change changed too.
        var seen = Set(changes.map(\.path))
        for change in changes {
            var parent = PathString(change.path).deletingLastComponent
            while parent != "/", !parent.isEmpty, seen.insert(parent).inserted {
                changes.append(Change(.changed, parent))
                parent = PathString(parent).deletingLastComponent
            }
        }
        return changes.sorted()
    }
}
