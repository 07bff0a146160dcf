import Foundation
import Testing
import Archive
import ImageSpec

/// `RootedDirectory.resolve`: paths followed through an image's links as under a chroot.
struct RootedDirectoryTests {
    /// A merged-/usr tree: bin → usr/bin, var/run → /run (absolute), lib → ../../usr/lib (climbs
    /// past the root), a loop, and a dangling link.
    static func tree() throws -> String {
        let root = NSTemporaryDirectory() + "strata-rooted-\(UUID().uuidString)"
        let fm = FileManager.default
        for dir in ["usr/bin", "usr/lib", "run", "var", "etc"] { try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(root)/etc/passwd"))
        try fm.createSymbolicLink(atPath: "\(root)/bin", withDestinationPath: "usr/bin")
        try fm.createSymbolicLink(atPath: "\(root)/var/run", withDestinationPath: "/run")
        try fm.createSymbolicLink(atPath: "\(root)/lib", withDestinationPath: "../../usr/lib")
        try fm.createSymbolicLink(atPath: "\(root)/usr/bin/python", withDestinationPath: "python3")
        try fm.createSymbolicLink(atPath: "\(root)/loop", withDestinationPath: "loop")
        return root
    }

    @Test(arguments: [
        ("/bin/hello", true, "usr/bin/hello"), ("bin", true, "usr/bin"), ("bin", false, "bin"),
        ("/var/run/app/pid", true, "run/app/pid"), ("/lib/x", true, "usr/lib/x"), ("/bin/../etc", true, "etc"), ("/lib/../bin", true, "usr/bin"),
        ("/../../etc/passwd", true, "etc/passwd"), ("/usr/bin/python", true, "usr/bin/python3"),
        ("/usr/bin/python", false, "usr/bin/python"), ("/new/a/../b", true, "new/b"), ("/", true, ""),
    ])
    func followsLinksInsideTheRoot(_ path: String, _ followLast: Bool, _ expected: String) throws {
        let root = try RootedDirectory(path: try Self.tree())
        #expect(try root.resolve(path, followLast: followLast).joined(separator: "/") == expected)
    }

    @Test func refusesLoopsAndPathsThroughFiles() throws {
        let root = try RootedDirectory(path: try Self.tree())
        #expect(throws: StrataError.self) { _ = try root.resolve("/loop/x") }
        #expect(throws: StrataError.self) { _ = try root.resolve("/etc/passwd/x") }
        #expect(root.lstat(["usr", "bin"]).map { $0.st_mode & S_IFMT == S_IFDIR } == true)
        #expect(root.lstat(["bin"]).map { $0.st_mode & S_IFMT == S_IFLNK } == true)
        #expect(root.lstat(["missing", "x"]) == nil)
    }
}
