import Foundation
import RegistryTestSupport
import Testing

/// The store (and a registry's) on a small tmpfs: load, pull, build, commit and a push's receiving
/// end run out of space. Each fails saying so, leaves a store `system check` calls clean, and works
/// once space is freed (the tmpfs grown).
@Suite(.blocking, .serialized, .enabled(if: canRun)) struct FullDiskTests {
    /// A tmpfs of `megabytes`, unmounted when the test is done.
    final class SmallDisk {
        let path = CLI.temporaryDirectory("small-disk")
        init(megabytes: Int) throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let r = try CLI.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", path])
            guard r.status == 0 else { throw TestFailure("mount tmpfs: \(r.stderr)") }
        }
        func grow(to megabytes: Int) throws {
            let r = try CLI.run("/bin/mount", ["-o", "remount,size=\(megabytes)m", path])
            guard r.status == 0 else { throw TestFailure("remount: \(r.stderr)") }
        }
        deinit { _ = try? CLI.run("/bin/umount", ["-l", path]) }
    }

    func strata(_ root: String, _ arguments: [String]) throws -> CLI.Result { try CLI.run(CLI.binary, ["--root", root] + arguments) }

    /// busybox and 40 MB of random bytes, which do not compress.
    static func bigRootfs() throws -> String {
        let root = try CLI.busyboxRootfs()
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(40 << 17)).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/payload"))
        return root
    }

    func expectNoSpaceAndAClean(_ r: CLI.Result, _ root: String, _ what: String) throws {
        #expect(r.status != 0 && r.stderr.contains("No space left on device"), "\(what): \(r.status) \(r.stderr)")
        let check = try strata(root, ["system", "check"])
        #expect(check.status == 0, "\(what): \(check.stdout)\(check.stderr)")
    }

    @Test func loadPullBuildAndCommitSayTheDiskIsFullAndWorkAfterwards() throws {
        let big = CLI.temporaryDirectory("big-store")
        #expect(try strata(big, ["import", try Self.bigRootfs(), "big:1"]).status == 0)
        let archive = CLI.temporaryDirectory("big-archive") + ".tar"
        #expect(try strata(big, ["save", "-o", archive, "big:1"]).status == 0)
        let registry = try StrataRegistry()
        let remote = "\(registry.host)/full/big:1"
        #expect(try strata(big, ["tag", "big:1", remote]).status == 0)
        #expect(try strata(big, ["push", remote]).status == 0)

        let disk = try SmallDisk(megabytes: 30)
        let store = "\(disk.path)/store"
        #expect(try strata(store, ["import", try CLI.busyboxRootfs(), "box:1"]).status == 0)

        try expectNoSpaceAndAClean(try strata(store, ["load", "-i", archive]), store, "load")
        try expectNoSpaceAndAClean(try strata(store, ["pull", remote]), store, "pull")
        let context = CLI.temporaryDirectory("full-context")
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try Self.bigRootfs() + "/payload", toPath: "\(context)/payload")
        try "FROM box:1\nCOPY payload /payload\n".write(toFile: "\(context)/Dockerfile", atomically: true, encoding: .utf8)
        try expectNoSpaceAndAClean(try strata(store, ["build", "-t", "built:1", context]), store, "build")
        // The container's own 16 MB fit; its commit, another copy of them, does not.
        let run = try strata(store, ["run", "--name", "filler", "--network", "none", "box:1", "sh", "-c",
                                     "head -c 16000000 /dev/urandom > /filler"])
        #expect(run.status == 0, "\(run.stderr)")
        try expectNoSpaceAndAClean(try strata(store, ["commit", "filler", "committed:1"]), store, "commit")
        #expect(try strata(store, ["images", "-q"]).stdout.split(separator: "\n").count == 1)

        try disk.grow(to: 400)
        #expect(try strata(store, ["load", "-i", archive]).status == 0)
        #expect(try strata(store, ["rmi", "big:1"]).status == 0)
        #expect(try strata(store, ["pull", remote]).status == 0)
        let built = try strata(store, ["build", "-t", "built:1", context])
        #expect(built.status == 0, "\(built.stderr)")
        #expect(try strata(store, ["commit", "filler", "committed:1"]).status == 0)
        #expect(try strata(store, ["system", "check", "--deep"]).status == 0)
        #expect(try strata(store, ["rm", "filler"]).status == 0)
        _ = registry.stop()
    }

    /// A registry whose disk fills while it receives a push: the push fails naming the cause, and
    /// succeeds once there is room.
    @Test func aRegistryOutOfSpaceRefusesThePushAndTakesItLater() throws {
        let disk = try SmallDisk(megabytes: 20)
        let registry = try StrataRegistry(["--root", "\(disk.path)/registry"])
        let c = Client()
        #expect(try c.strata(["import", try Self.bigRootfs(), "\(registry.host)/full/big:1"]).status == 0)
        let push = try c.strata(["push", "\(registry.host)/full/big:1"])
        #expect(push.status != 0 && push.stderr.contains("No space left on device"), "\(push.stderr)")
        try disk.grow(to: 200)
        let again = try c.strata(["push", "\(registry.host)/full/big:1"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Client().strata(["pull", "\(registry.host)/full/big:1"]).status == 0)
        _ = registry.stop()
    }
}
