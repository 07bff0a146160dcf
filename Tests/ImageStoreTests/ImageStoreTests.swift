import Foundation
import StoreFixtures
import Testing
import ImageSpec
import Archive
@testable import ImageStore

struct ImportTests {
    let store = try! ImageStore(root: Fixtures.temporaryDirectory("store"))

    @Test func importsADirectoryAsOneLayer() throws {
        let rootfs = Fixtures.rootfs()
        var options = ImageStore.ImportOptions()
        options.reference = try Reference(parsing: "demo/app:1")
        // What `import -c` gives the store: a change of the config (parsed and applied by Dockerfile's code).
        options.change = { config in
            config.config.cmd = ["/bin/hello"]
            config.config.env = ["A=1", "B=two words"]
        }
        options.message = "first"
        let image = try store.importImage(from: rootfs, options: options)
        let (config, bytes) = try store.config(of: image)
        #expect(image.id == Digest.sha256(of: bytes))
        #expect(config.rootfs.diffIDs.count == 1)
        #expect(config.config.cmd == ["/bin/hello"])
        #expect(config.config.env == ["A=1", "B=two words"])
        #expect(config.history.first?.comment == "first")
        #expect(try store.resolve("demo/app:1").id == image.id)
        #expect(try store.resolve(image.id.short).id == image.id)
        #expect(try store.resolve(image.id.description).id == image.id)
        // The layer is a real tar of the tree.
        let layer = try store.layers(of: image)[0]
        let tar = TarReader(try store.content.open(layer.descriptor.digest))
        var names: [BytePath] = []
        while let h = try tar.next() { names.append(h.name) }
        #expect(names == ["bin/", "bin/hello", "etc/", "etc/hostname"])
        // Docker's size: the bytes of the files, not of the tar around them.
        #expect(image.size == Int64("#!/bin/sh\necho hi\n".utf8.count + "strata\n".utf8.count))
        #expect(config.comment == "first")
    }

    @Test(arguments: [Compression.none, .gzip, .zstd])
    func importsTarsOfEveryCompression(_ compression: Compression) throws {
        let tar = try Fixtures.layer(["x": "1", "y/z": "2"])
        let file = Fixtures.temporaryDirectory() + "/rootfs.tar"
        let out = MemoryWriter()
        let w = try Codecs.compressing(out, as: compression)
        try w.write(tar)
        try w.finish()
        try Data(out.bytes).write(to: URL(fileURLWithPath: file))
        let image = try store.importImage(from: file)
        // The layer is stored uncompressed: its digest is the diff ID of the tar.
        #expect(try store.layers(of: image)[0].diffID == Digest.sha256(of: tar))
        #expect(try store.tags(of: image.id).isEmpty)
    }

    @Test(arguments: [
        ("garbage", Array("this is not a tar archive at all, just text, long enough to fill a header block".utf8) + [UInt8](repeating: 65, count: 600)),
        ("truncated", Array(try! Fixtures.layer(["a": String(repeating: "x", count: 5000)])[0..<2000])),
        ("truncated gzip", Array(try! Fixtures.gzip(Fixtures.layer(["a": String(repeating: "x", count: 5000)])).dropLast(30))),
        ("empty", []),
    ])
    func refusesBadArchivesAndChangesNothing(_ name: String, _ bytes: [UInt8]) throws {
        _ = try store.importImage(from: Fixtures.rootfs())
        let before = try StoreSnapshot(store)
        let file = Fixtures.temporaryDirectory() + "/bad.tar"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect(throws: StrataError.self) { _ = try store.importImage(from: file) }
        #expect(try StoreSnapshot(store) == before)
    }

    @Test func sameLayerIsStoredOnce() throws {
        let rootfs = Fixtures.rootfs()
        var a = ImageStore.ImportOptions(), b = ImageStore.ImportOptions()
        a.reference = try Reference(parsing: "one")
        b.reference = try Reference(parsing: "two")
        b.change = { $0.config.cmd = ["sh"] }
        let one = try store.importImage(from: rootfs, options: a)
        let two = try store.importImage(from: rootfs, options: b)
        #expect(one.id != two.id)
        #expect(try store.layers(of: one)[0].descriptor.digest == store.layers(of: two)[0].descriptor.digest)
        // 1 layer + 2 configs + 2 manifests.
        #expect(FileSystem.listDirectory(store.root + "/blobs/sha256").count == 5)
    }

    @Test func aChangeThatFailsStoresNothing() throws {
        let before = try StoreSnapshot(store)
        var options = ImageStore.ImportOptions()
        options.change = { _ in throw StrataError(.invalidArgument, "Invalid containerPort: 70000") }
        #expect(throws: StrataError.self) { _ = try store.importImage(from: Fixtures.rootfs(), options: options) }
        #expect(try StoreSnapshot(store) == before)
    }
}

/// `commitStep`: the one way a layer and its history entry are added (build, commit, import, squash).
struct CommitStepTests {
    let store = try! ImageStore(root: Fixtures.temporaryDirectory("store"))

    func layer(_ files: [String: String]) throws -> ImageStore.Layer {
        let tar = try Fixtures.layer(files)
        let digest = try store.content.ingest(bytes: tar)
        return ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: digest, size: Int64(tar.count)),
                                diffID: digest, size: Int64(files.values.map(\.utf8.count).reduce(0, +)), tarSize: Int64(tar.count))
    }

    @Test func addsTheLayerTheHistoryAndTheParent() throws {
        var options = ImageStore.ImportOptions()
        options.message = "base"
        let base = try store.importImage(from: Fixtures.rootfs(), options: options)
        var config = try store.config(of: base).config
        config.author = "someone else"
        config.config.cmd = ["run"]
        let created = Date(timeIntervalSince1970: 1_700_000_000)
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let added = try layer(["f": "12345"])
        let step = try store.commitStep(ImageStore.Step(created: created, createdBy: "/bin/sh -c make", author: "me"),
                                        config: config, layer: added, parent: base)
        let result = try store.config(of: step).config
        #expect(result.rootfs.diffIDs == (try store.layers(of: base)).map(\.diffID) + [added.diffID])
        #expect(result.history.count == 2)
        #expect(result.history.last == {
            var h = History(created: created, createdBy: "/bin/sh -c make")
            h.author = "me"
            return h
        }())
        #expect(result.created == created && result.author == "me" && result.comment == nil && result.config.cmd == ["run"])
        #expect(step.parent == base.id && step.size == base.size + 5)

        // No layer, or an empty one: an empty-layer entry, no diff ID, and no author given clears it.
        let empty = try layer([:])
        #expect(empty.diffID == ImageStore.emptyLayerDiffID)
        for candidate in [nil, empty] {
            let meta = try store.commitStep(ImageStore.Step(created: created, createdBy: "/bin/sh -c #(nop)  ENV A=1"),
                                            config: result, layer: candidate, parent: step)
            let metaConfig = try store.config(of: meta).config
            #expect(metaConfig.rootfs == result.rootfs)
            #expect(try store.layers(of: meta) == store.layers(of: step))
            #expect(metaConfig.history.last?.isEmptyLayer == true && metaConfig.author == nil)
        }
    }
}

struct NamesTests {
    let store = try! ImageStore(root: Fixtures.temporaryDirectory("store"))

    func importImage(_ name: String?, files: [String: String] = ["f": "1"]) throws -> ImageStore.Image {
        var o = ImageStore.ImportOptions()
        o.reference = try name.map { try Reference(parsing: $0) }
        return try store.importImage(from: Fixtures.rootfs(files: files), options: o)
    }

    func blobCount() -> Int { FileSystem.listDirectory(store.root + "/blobs/sha256").count }

    @Test func tagThenRemoveNamesOneByOne() throws {
        let image = try importImage("app:1")
        try store.tag("app:1", as: "app:latest")
        try store.tag(image.id.short, as: "registry.example.com:5000/team/app:2")
        #expect(try store.tags(of: image.id).map(\.familiarString) == ["app:1", "app:latest", "registry.example.com:5000/team/app:2"])
        #expect(try store.remove("app", force: false) == [.untagged("app:latest")])
        #expect(try store.remove("app:1", force: false) == [.untagged("app:1")])
        let last = try store.remove("registry.example.com:5000/team/app:2", force: false)
        #expect(last.first == .untagged("registry.example.com:5000/team/app:2"))
        #expect(last.contains(.deleted(image.id)))
        #expect(try store.images().isEmpty)
        #expect(blobCount() == 0)
    }

    @Test func removeByIDWithSeveralNamesNeedsForce() throws {
        let image = try importImage("a")
        try store.tag("a", as: "b")
        #expect {
            _ = try store.remove(image.id.short, force: false)
        } throws: { error in
            (error as? StrataError)?.message.contains("must be forced") ?? false
        }
        let events = try store.remove(image.id.short, force: true)
        #expect(events.contains(.untagged("a:latest")) && events.contains(.untagged("b:latest")) && events.contains(.deleted(image.id)))
    }

    @Test func removingOneImageKeepsSharedLayers() throws {
        let a = try importImage("a", files: ["shared": "x"])
        var o = ImageStore.ImportOptions()
        o.reference = try Reference(parsing: "b")
        o.change = { $0.config.cmd = ["b"] }
        let b = try store.importImage(from: Fixtures.rootfs(files: ["shared": "x"]), options: o)
        _ = try store.remove("a", force: false)
        #expect(try store.image(id: a.id) == nil)
        #expect(store.content.contains(try store.layers(of: b)[0].descriptor.digest))
        #expect(blobCount() == 3)
    }

    @Test func digestReferencesOnlyMatchTheirRepository() throws {
        let image = try importImage("one")
        #expect(try store.resolve("one@\(image.manifestDigest)").id == image.id)
        #expect(throws: StrataError.self) { _ = try store.resolve("other/repo@\(image.manifestDigest)") }
        #expect(throws: StrataError.self) { _ = try store.remove("other/repo@\(image.manifestDigest)", force: false) }
        #expect(try store.image(id: image.id) != nil)
    }

    @Test func errorsNameTheProblem() throws {
        #expect(throws: StrataError(.imageUnknown, "No such image: nosuch:img")) { _ = try store.resolve("nosuch:img") }
        #expect(throws: StrataError.self) { try store.tag("nosuch", as: "x") }
        _ = try importImage("x")
        #expect {
            try store.tag("x", as: "Bad/Name")
        } throws: { error in
            (error as? StrataError)?.code == .invalidReference
        }
    }

    @Test func retaggingLeavesTheOldImageDangling() throws {
        let old = try importImage("app", files: ["v": "1"])
        _ = try importImage("app", files: ["v": "2"])
        #expect(try store.tags(of: old.id).isEmpty)
        let (events, reclaimed) = try store.prune(all: false)
        #expect(events.contains(.deleted(old.id)))
        #expect(reclaimed > 0)
        #expect(try store.images().count == 1)
    }

    @Test func diskUsageReclaimableIsWhatPruneFrees() throws {
        _ = try importImage("a", files: ["a": String(repeating: "a", count: 10_000)])
        _ = try importImage("b", files: ["b": String(repeating: "b", count: 20_000)])
        let usage = try store.diskUsage()
        #expect(usage.images.count == 2)
        #expect(usage.totalSize == usage.images.reduce(0) { $0 + $1.uniqueSize })
        let (_, reclaimed) = try store.prune(all: true)
        #expect(reclaimed == usage.reclaimable)
        #expect(blobCount() == 0)
    }
}
