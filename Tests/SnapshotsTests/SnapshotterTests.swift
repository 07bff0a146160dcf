import Foundation
import Testing
@testable import Snapshots
import Archive
import ImageSpec
import ImageStore

/// An image of the given layers, written straight into a store.
func makeImage(_ store: ImageStore, layers: [[UInt8]], tag: String) throws -> ImageStore.Image {
    var recorded: [ImageStore.Layer] = []
    for bytes in layers {
        let digest = try store.content.ingest(bytes: bytes)
        let stats = try LayerStats.measure(MemoryReader(bytes))
        recorded.append(ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: digest, size: Int64(bytes.count)),
                                         diffID: digest, size: stats.contentSize, tarSize: Int64(bytes.count)))
    }
    let config = ImageConfig(architecture: "amd64", os: "linux", diffIDs: recorded.map(\.diffID))
    let lock = try store.ingestLock()
    defer { withExtendedLifetime(lock) {} }
    return try store.commitImage(config: config, layers: recorded, tags: [try Reference(parsing: tag)])
}

@Suite(.serialized) struct SnapshotterTests {
    let store = try! ImageStore(root: temporaryDirectory("store"))

    static var drivers: [StorageDriver] {
        Snapshotter.detectDriver(storeRoot: temporaryDirectory("probe")) == .overlay ? [.overlay, .copy] : [.copy]
    }

    func baseImage() throws -> ImageStore.Image {
        try makeImage(store, layers: [
            try LayerBuilder().dir("etc").file("etc/motd", "base").dir("bin").file("bin/ls", "ls").file("bin/cat", "cat").bytes(),
            try LayerBuilder().dir("etc").file("etc/extra", "2").entry(TarHeader(name: "bin/.wh.cat")).bytes(),
        ], tag: "base")
    }

    @Test(arguments: drivers)
    func layersAreUnpackedOnceAndShared(_ driver: StorageDriver) throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: driver)
        let image = try baseImage()
        let layers = try store.layers(of: image)
        let first = try snapshotter.prepare(layers)
        let again = try snapshotter.prepare(layers)
        #expect(first == again)
        #expect(snapshotter.list().count == 2)
        #expect(first.map(\.chainID) == ChainID.compute(layers.map(\.diffID)))
        // A second image over the same base layer shares its snapshot.
        let other = try makeImage(store, layers: [
            try LayerBuilder().dir("etc").file("etc/motd", "base").dir("bin").file("bin/ls", "ls").file("bin/cat", "cat").bytes(),
            try LayerBuilder().file("other", "o").bytes(),
        ], tag: "other")
        _ = try snapshotter.prepare(try store.layers(of: other))
        #expect(snapshotter.list().count == 3)
    }

    /// Write, delete and create in a container; its changes, archived as a layer and applied over
    /// the image, give exactly the container's view — for both drivers.
    @Test(arguments: drivers)
    func containerChangesBecomeALayer(_ driver: StorageDriver) throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: driver)
        let layers = try snapshotter.prepare(try store.layers(of: try baseImage()))
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        let use = try snapshotter.use(dir, over: layers)
        let rootfs = use.rootfs
        defer { use.release(); snapshotter.removeContainerLayer(dir) }
        #expect(read(rootfs + "/etc/motd") == "base" && read(rootfs + "/etc/extra") == "2")
        #expect(!FileManager.default.fileExists(atPath: rootfs + "/bin/cat"))
        try "changed".write(toFile: rootfs + "/etc/motd", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: rootfs + "/bin/ls")
        try FileManager.default.createDirectory(atPath: rootfs + "/new/deep", withIntermediateDirectories: true)
        try "n".write(toFile: rootfs + "/new/deep/file", atomically: false, encoding: .utf8)

        let changes = snapshotter.changes(dir, over: layers).map(\.description)
        #expect(changes == ["C /bin", "D /bin/ls", "C /etc", "C /etc/motd", "A /new", "A /new/deep", "A /new/deep/file"])
        // The image itself is untouched.
        #expect(read(layers[0].path + "/etc/motd") == "base")

        let out = MemoryWriter()
        let tar = TarWriter(out)
        try snapshotter.archiveChanges(dir, over: layers, into: tar)
        try tar.finish()
        let check = temporaryDirectory("check")
        try apply([try LayerBuilder().dir("etc").file("etc/motd", "base").dir("bin").file("bin/ls", "ls").bytes(),
                   try LayerBuilder().file("etc/extra", "2").bytes(), out.bytes], to: check)
        #expect(read(check + "/etc/motd") == "changed")
        #expect(!FileManager.default.fileExists(atPath: check + "/bin/ls"))
        #expect(read(check + "/new/deep/file") == "n")
        #expect(!FileManager.default.fileExists(atPath: check + "/dev") && !FileManager.default.fileExists(atPath: check + "/etc/hosts"))
    }

    @Test func tooManyLayersIsAClearError() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .copy)
        let layers = try (0..<130).map { try LayerBuilder().file("f\($0)", "\($0)").bytes() }
        let image = try makeImage(store, layers: layers, tag: "deep")
        #expect {
            _ = try snapshotter.prepare(try store.layers(of: image))
        } throws: { error in
            let message = (error as? StrataError)?.message ?? ""
            return message.contains("130 layers") && message.contains("127") && message.contains("squash")
        }
    }

    @Test(.enabled(if: drivers.contains(.overlay)))
    func overlayMounts127Layers() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .overlay)
        let layers = try (0..<127).map { try LayerBuilder().file("f\($0)", "\($0)").bytes() }
        let prepared = try snapshotter.prepare(try store.layers(of: try makeImage(store, layers: layers, tag: "deep")))
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: prepared)
        let use = try snapshotter.use(dir, over: prepared)
        let rootfs = use.rootfs
        defer { use.release(); snapshotter.removeContainerLayer(dir) }
        #expect(read(rootfs + "/f0") == "0" && read(rootfs + "/f126") == "126")
    }

    @Test func aCorruptLayerLeavesNoSnapshot() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .copy)
        let image = try makeImage(store, layers: [try LayerBuilder().file("a").bytes()], tag: "x")
        var layers = try store.layers(of: image)
        layers[0].diffID = Digest.sha256(of: [9])
        #expect(throws: StrataError.self) { _ = try snapshotter.prepare(layers) }
        #expect(snapshotter.list().isEmpty)
        #expect(FileSystem.listDirectory(snapshotter.root).isEmpty)
    }
}

/// Findings of the security review, each pinned.
@Suite(.serialized) struct ContainerLayerSafetyTests {
    let store = try! ImageStore(root: temporaryDirectory("store"))
    let outside = temporaryDirectory("outside")

    @Test func mountPointsAreMadeInsideTheRootEvenThroughAnImageSymlink() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .copy)
        // The image's /etc is a symlink to a host directory.
        let image = try makeImage(store, layers: [try LayerBuilder().symlink("etc", outside).dir("bin").bytes()], tag: "evil")
        let layers = try snapshotter.prepare(try store.layers(of: image))
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir + "/rootfs" + outside + "/hosts"))
    }

    @Test func anUnchangedCopyContainerHasNoChanges() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .copy)
        let image = try makeImage(store, layers: [try LayerBuilder().dir("bin").file("bin/sh", "sh").bytes()], tag: "plain")
        let layers = try snapshotter.prepare(try store.layers(of: image))
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        #expect(snapshotter.changes(dir, over: layers).isEmpty)
    }

    /// A container that replaced an ignored mount point with a symlink to the host must not get
    /// host files into its diff or its committed layer.
    @Test func ignoredMountPointsAreNeverFollowed() throws {
        try "SECRET".write(toFile: outside + "/secret", atomically: true, encoding: .utf8)
        let lower = temporaryDirectory("lower"), upper = temporaryDirectory("upper")
        try FileManager.default.createSymbolicLink(atPath: upper + "/etc", withDestinationPath: outside)
        let changes = TreeChanges.compare(lower: lower, upper: upper, ignoring: ["etc"])
        #expect(!changes.contains { $0.path.description.contains("secret") })
        let out = MemoryWriter()
        let tar = TarWriter(out)
        try TreeArchiver().archiveChanges(lower: lower, upper: upper, ignoring: ["etc"], into: tar)
        try tar.finish()
        let reader = TarReader(MemoryReader(out.bytes))
        while let h = try reader.next() { #expect(!h.name.description.contains("secret")) }
    }

    @Test func aWhiteoutNeverHidesItsOwnLayersEntries() throws {
        let root = temporaryDirectory("root")
        try apply([try LayerBuilder().dir("-e").file("-e/new", "mine").entry(TarHeader(name: ".wh.-e")).bytes()], to: root)
        #expect(read(root + "/-e/new") == "mine")
    }

    @Test(.enabled(if: SnapshotterTests.drivers.contains(.overlay)))
    func aDirectoryRemadeInOneLayerHidesTheLowerOne() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .overlay)
        let image = try makeImage(store, layers: [
            try LayerBuilder().dir("d").file("d/old", "old").bytes(),
            try LayerBuilder().entry(TarHeader(name: ".wh.d")).dir("d").file("d/new", "new").bytes(),
            try LayerBuilder().entry(TarHeader(name: ".wh.e")).file("e/inner", "x").bytes(),
        ], tag: "remade")
        let layers = try snapshotter.prepare(try store.layers(of: image))
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        let use = try snapshotter.use(dir, over: layers)
        defer { use.release(); snapshotter.removeContainerLayer(dir) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: use.rootfs + "/d") == ["new"])
        #expect(read(use.rootfs + "/e/inner") == "x")
    }
}

extension ContainerLayerSafetyTests {
    @Test func relativeSymlinksClimbingOutAreClampedAtTheRoot() throws {
        let snapshotter = try Snapshotter(storeRoot: store.root, content: store.content, driver: .copy)
        let image = try makeImage(store, layers: [try LayerBuilder().symlink("etc", "../../../../../../.." + outside).bytes()], tag: "climb")
        let layers = try snapshotter.prepare(try store.layers(of: image))
        let dir = temporaryDirectory("container")
        try snapshotter.createContainerLayer(in: dir, over: layers)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir + "/rootfs" + outside + "/hostname"))
    }
}
