import Dockerfile
import Foundation
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// The files a build may copy: a directory, minus what its `.dockerignore` excludes. Sources are
/// resolved inside it only: a path that climbs out, or one the ignore file excludes, is an error.
public struct BuildContext: Sendable {
    public let root: String
    let ignore: DockerIgnore

    public init(root: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StrataError(.invalidArgument, "unable to prepare context: path \"\(root)\" not found")
        }
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        let ignorePath = "\(self.root)/.dockerignore"
        let text = FileSystem.exists(ignorePath) ? String(decoding: try FileSystem.readFile(ignorePath), as: UTF8.self) : ""
        ignore = try DockerIgnore(parsing: text)
    }

    /// A context-relative path, cleaned: no leading `/` or `./`, no `.` parts; nil if it climbs out.
    static func clean(_ path: String) -> String? {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
                continue
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    public func excluded(_ relative: String) -> Bool {
        relative.isEmpty ? false : ignore.excludes(relative)
    }

    /// The context paths a COPY source names: the path itself, or every path a glob matches.
    /// `what` names the instruction for messages ("COPY", "ADD").
    func resolve(_ source: String, what: String) throws -> [String] {
        guard let path = Self.clean(source) else {
            throw StrataError(.buildFailed, "\(what) failed: forbidden path outside the build context: \(source)")
        }
        if path.contains(where: { "*?[".contains($0) }) {
            let matches = try walk("").filter { fnmatch(path, $0, FNM_PATHNAME) == 0 }
            guard !matches.isEmpty else {
                throw StrataError(.buildFailed, "\(what) failed: no source files were specified (\"\(source)\" matches nothing in the build context)")
            }
            // A match inside a matched directory comes with its directory.
            return matches.filter { m in !matches.contains { m.hasPrefix($0 + "/") } }
        }
        var st = stat()
        guard lstat(absolute(path), &st) == 0, !excluded(path) else {
            throw StrataError(.buildFailed,
                "\(what) failed: file not found in build context or excluded by .dockerignore: stat \(path.isEmpty ? "." : path): file does not exist")
        }
        return [path]
    }

    func absolute(_ relative: String) -> String { relative.isEmpty ? root : "\(root)/\(relative)" }

    /// Every path under `relative` the ignore file lets through, parents before children, sorted
    /// (so a layer's tar, and its digest, do not depend on directory order).
    func walk(_ relative: String) throws -> [String] {
        var out: [String] = []
        func visit(_ dir: String) {
            for name in FileSystem.listDirectory(absolute(dir)).sorted() {
                let child = dir.isEmpty ? name : "\(dir)/\(name)"
                var st = stat()
                guard lstat(absolute(child), &st) == 0 else { continue }
                let isDir = (st.st_mode & S_IFMT) == S_IFDIR
                if excluded(child) {
                    // An excluded directory may still hold files an exception brings back.
                    if isDir, ignore.mayReincludeFiles(inDirectory: child) { visit(child) }
                    continue
                }
                out.append(child)
                if isDir { visit(child) }
            }
        }
        visit(relative)
        return out
    }
}
