import Foundation
import Testing
@testable import Snapshots
import Archive
import ImageSpec
import ImageStore

/// Every `SnapshotDriver` keeps the same promises: run against overlay (where the kernel has
/// it) and copy.
@Suite(.serialized) struct SnapshotDriverConformanceTests {
    static var drivers: [StorageDriver] { SnapshotterTests.drivers }

    let store = try! ImageStore(root: temporaryDirectory("store"))

    func snapshotter(_ kind: StorageDriver) throws -> Snapshotter {
        try Snapshotter(storeRoot: store.root, content: store.content, driver: kind)
    }

    func driver(_ kind: StorageDriver) throws -> any SnapshotDriver { try snapshotter(kind).driver }

    /// Two layers: the second adds a file and deletes one of the first's.
    func commitTwo(_ driver: any SnapshotDriver) throws -> [Snapshot] {
        let first = try LayerBuilder().dir("etc").file("etc/motd", "base").dir("bin").file("bin/ls", "ls").file("bin/cat", "cat").bytes()
        let second = try LayerBuilder().file("etc/extra", "2").entry(TarHeader(name: "bin/.wh.cat")).bytes()
        let chain = ChainID.compute([Digest.sha256(of: first), Digest.sha256(of: second)])
        let lower = try driver.commit(chainID: chain[0], below: nil) { try $0.apply(TarReader(MemoryReader(first))) }
        let upper = try driver.commit(chainID: chain[1], below: lower) { try $0.apply(TarReader(MemoryReader(second))) }
        return [lower, upper]
    }

    @Test(arguments: drivers)
    func aCommittedSnapshotIsFoundListedAndMadeOnce(_ kind: StorageDriver) throws {
        let driver = try driver(kind)
        let layers = try commitTwo(driver)
        #expect(driver.snapshot(layers[1].chainID) == layers[1])
        #expect(Set(driver.list()) == Set(layers.map(\.chainID)))
        // Committing it again keeps the first one.
        let again = try driver.commit(chainID: layers[0].chainID, below: nil) { _ in }
        #expect(again == layers[0])
        #expect(!FileSystem.listDirectory(driver.root).contains { $0.hasPrefix("tmp-") })
    }

    @Test(arguments: drivers)
    func aFailedCommitLeavesNothing(_ kind: StorageDriver) throws {
        let driver = try driver(kind)
        let chainID = Digest.sha256(of: Array("never".utf8))
        #expect(throws: StrataError.self) {
            _ = try driver.commit(chainID: chainID, below: nil) { _ in throw StrataError(.digestMismatch, "bad layer") }
        }
        #expect(driver.snapshot(chainID) == nil)
        #expect(!FileSystem.listDirectory(driver.root).contains { $0.hasPrefix("tmp-") })
    }

    @Test(arguments: drivers)
    func aPreparedContainerSeesTheUnionAndItsOwnMountPoints(_ kind: StorageDriver) throws {
        let snapshotter = try snapshotter(kind)
        let layers = try commitTwo(snapshotter.driver)
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        let use = try snapshotter.use(dir, over: layers)
        defer { use.release(); snapshotter.removeContainerLayer(dir) }
        #expect(read(use.rootfs + "/etc/motd") == "base" && read(use.rootfs + "/etc/extra") == "2")
        #expect(!FileManager.default.fileExists(atPath: use.rootfs + "/bin/cat"))
        for point in ["dev", "proc", "sys", "etc/hosts", "etc/resolv.conf", "etc/hostname"] {
            #expect(FileManager.default.fileExists(atPath: use.rootfs + "/" + point), "\(point)")
        }
        // The runtime's mount points are not the container's changes.
        #expect(snapshotter.changes(dir, over: layers).isEmpty)
        try "x".write(toFile: use.rootfs + "/etc/new", atomically: false, encoding: .utf8)
        #expect(snapshotter.changes(dir, over: layers).map(\.description) == ["C /etc", "A /etc/new"])
        // The snapshots below are untouched.
        #expect(!FileManager.default.fileExists(atPath: layers[1].path + "/etc/new"))
    }

    @Test(arguments: drivers)
    func aViewIsReadOnlyAndGoesWithItsLastUser(_ kind: StorageDriver) throws {
        let snapshotter = try snapshotter(kind)
        let layers = try commitTwo(snapshotter.driver)
        let dir = temporaryDirectory("view") + "/v"
        let view = try snapshotter.view(dir, over: layers)
        #expect(read(view.rootfs + "/etc/extra") == "2" && read(view.rootfs + "/bin/ls") == "ls")
        #expect(!FileManager.default.fileExists(atPath: view.rootfs + "/bin/cat"))
        #expect(open(view.rootfs + "/etc/written", O_WRONLY | O_CREAT, 0o644) == -1 && errno == EROFS)
        #expect(SnapshotMount.isMountPoint(view.rootfs))
        view.release()
        #expect(!SnapshotMount.isMountPoint(dir + "/merged"))
        #expect(!FileManager.default.fileExists(atPath: dir))
        // A view of no layers (FROM scratch) is an empty root.
        let empty = try snapshotter.view(dir, over: [])
        defer { empty.release() }
        #expect(FileSystem.listDirectory(empty.rootfs).isEmpty)
    }

    @Test(arguments: drivers)
    func aMountStaysWhileAnyUserHoldsIt(_ kind: StorageDriver) throws {
        let snapshotter = try snapshotter(kind)
        let layers = try commitTwo(snapshotter.driver)
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        defer { snapshotter.removeContainerLayer(dir) }
        let first = try snapshotter.use(dir, over: layers)
        let second = try snapshotter.use(dir, over: layers)
        first.release()
        #expect(SnapshotMount.isMountPoint(second.rootfs))
        #expect(read(second.rootfs + "/etc/motd") == "base")
        second.release()
        #expect(!SnapshotMount.isMountPoint(dir + "/merged"))
    }

    @Test(arguments: drivers)
    func changesArchiveIntoALayerThatRecreatesTheContainer(_ kind: StorageDriver) throws {
        let snapshotter = try snapshotter(kind)
        let layers = try commitTwo(snapshotter.driver)
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        let use = try snapshotter.use(dir, over: layers)
        defer { use.release(); snapshotter.removeContainerLayer(dir) }
        try FileManager.default.removeItem(atPath: use.rootfs + "/etc/motd")
        try "new".write(toFile: use.rootfs + "/bin/tool", atomically: false, encoding: .utf8)
        let out = MemoryWriter()
        let tar = TarWriter(out)
        try snapshotter.archiveChanges(dir, over: layers, into: tar)
        try tar.finish()
        var names: [String] = []
        let reader = TarReader(MemoryReader(out.bytes))
        while let header = try reader.next() { names.append(String(decoding: header.name, as: UTF8.self)) }
        #expect(names.contains("etc/.wh.motd") && names.contains("bin/tool"))
        #expect(!names.contains { $0.hasPrefix("dev") || $0.hasPrefix("proc") || $0 == "etc/hosts" })
    }

    @Test(arguments: drivers)
    func pruneKeepsWhatIsNeededAndSweepsAbandonedUnpacks(_ kind: StorageDriver) throws {
        let snapshotter = try snapshotter(kind)
        let layers = try commitTwo(snapshotter.driver)
        try FileSystem.createDirectory(snapshotter.root + "/tmp-1-2")
        #expect(snapshotter.prune(keeping: [layers[0].chainID]) == 1)
        #expect(snapshotter.list() == [layers[0].chainID])
        #expect(snapshotter.snapshot(layers[1].chainID) == nil)
        #expect(!FileSystem.exists(snapshotter.root + "/tmp-1-2"))
    }
}
