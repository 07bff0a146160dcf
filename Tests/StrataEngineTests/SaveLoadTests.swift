import Foundation
import Testing
import StoreFixtures
import StrataEngine

/// save and load through the one transfer pipeline (moved here from ImageStoreTests with their
/// assertions unchanged when the store's own archive code went).
@Suite struct SaveLoadTests {
    let engine = try! Engine(root: Fixtures.temporaryDirectory("store"))
    var store: ImageStore { try! engine.store }

    func load(into engine: Engine? = nil, _ path: String) async throws -> [LoadedImage] {
        try await (engine ?? self.engine).load(from: path)
    }

    func twoImagesSharingABase() throws -> Fixtures.Layout {
        var layout = Fixtures.Layout()
        try layout.addImage(layers: [["base": "b"], ["top1": "1"]], name: "docker.io/library/one:latest")
        try layout.addImage(layers: [["base": "b"], ["top2": "2"]], name: "example.com/two:v2")
        try layout.write()
        return layout
    }

    @Test func loadsAnOCILayoutSharingTheBaseLayer() async throws {
        let layout = try twoImagesSharingABase()
        let loaded = try await load(layout.root)
        #expect(loaded.flatMap(\.tags).map(\.familiarString) == ["one:latest", "example.com/two:v2"])
        // 3 distinct layers + 2 configs + 2 manifests: the shared base once.
        #expect(FileSystem.listDirectory(store.root + "/blobs/sha256").count == 7)
        let one = try store.resolve("one")
        #expect(try store.layers(of: one).map(\.size).allSatisfy { $0 > 0 })
        #expect(try store.history(of: one).count == 2)
        // Loading again changes nothing.
        let before = try StoreSnapshot(store)
        _ = try await load(layout.root)
        #expect(try StoreSnapshot(store) == before)
    }

    @Test func loadingAnImageAlreadyStoredAddsOnlyNames() async throws {
        _ = try await load(try twoImagesSharingABase().root)
        let usage = try store.diskUsage().totalSize
        let blobs = FileSystem.listDirectory(store.root + "/blobs/sha256").count
        // The same images, now as a docker-archive with uncompressed layers, under a new name.
        let file = Fixtures.temporaryDirectory() + "/again.tar"
        try store.tag("one", as: "again:1")
        try await engine.save(["again:1"], format: .docker, to: .file(file))
        _ = try store.remove("again:1", force: false)
        let loaded = try await load(file)
        #expect(loaded[0].image.id == (try store.resolve("one").id))
        #expect(FileSystem.listDirectory(store.root + "/blobs/sha256").count == blobs)
        #expect(try store.diskUsage().totalSize == usage)
        #expect(try store.resolve("again:1").id == store.resolve("one").id)
    }

    @Test func dockerArchiveTagsMustBeNameAndTag() async throws {
        _ = try await load(try twoImagesSharingABase().root)
        let dir = Fixtures.temporaryDirectory()
        try await engine.save(["one"], format: .docker, to: .file(dir + "/a.tar"))
        for bad in ["one@sha256:" + String(repeating: "b", count: 64), "one", "Bad:1"] {
            let unpacked = Fixtures.temporaryDirectory()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/tar")
            p.arguments = ["-xf", dir + "/a.tar", "-C", unpacked]
            try p.run()
            p.waitUntilExit()
            var manifest = try String(contentsOfFile: unpacked + "/manifest.json", encoding: .utf8)
            manifest = manifest.replacingOccurrences(of: "\"one:latest\"", with: "\"\(bad)\"")
            try manifest.write(toFile: unpacked + "/manifest.json", atomically: true, encoding: .utf8)
            try Fixtures.tarDirectory(unpacked, to: dir + "/b.tar")
            let other = try Engine(root: Fixtures.temporaryDirectory("store3"))
            await #expect {
                _ = try await load(into: other, dir + "/b.tar")
            } throws: { error in
                (error as? StrataError)?.message.contains("invalid tag") ?? false
            }
            #expect(try other.store.images().isEmpty)
        }
    }

    @Test(arguments: [SaveFormat.docker, .oci])
    func saveThenLoadRoundTrips(_ format: SaveFormat) async throws {
        _ = try await load(try twoImagesSharingABase().root)
        let file = Fixtures.temporaryDirectory() + "/out.tar"
        try await engine.save(["one", "example.com/two:v2"], format: format, to: .file(file))
        let other = try Engine(root: Fixtures.temporaryDirectory("store2"))
        let loaded = try await load(into: other, file)
        #expect(Set(loaded.flatMap(\.tags).map(\.familiarString)) == ["one:latest", "example.com/two:v2"])
        for name in ["one", "example.com/two:v2"] {
            #expect(try other.store.resolve(name).id == store.resolve(name).id)
            #expect(try other.store.layers(of: other.store.resolve(name)).map(\.diffID) == store.layers(of: store.resolve(name)).map(\.diffID))
        }
    }

    @Test func savesAnOCILayoutDirectory() async throws {
        _ = try await load(try twoImagesSharingABase().root)
        let dir = Fixtures.temporaryDirectory() + "/layout"
        try await engine.save(["one"], format: .oci, to: .directory(dir))
        #expect(FileSystem.exists(dir + "/oci-layout") && FileSystem.exists(dir + "/index.json"))
        let other = try Engine(root: Fixtures.temporaryDirectory("store2"))
        #expect(try await load(into: other, dir).first?.image.id == store.resolve("one").id)
    }


    @Test(arguments: ["layer0", "config", "manifest"])
    func corruptBlobsAreRefusedAndNothingIsStored(_ target: String) async throws {
        var layout = Fixtures.Layout()
        layout.tamper = { name, bytes in if name == target { bytes[bytes.count / 2] ^= 1 } }
        try layout.addImage(layers: [["a": "1"]], name: "docker.io/library/bad:latest")
        try layout.write()
        let before = try StoreSnapshot(store)
        await #expect {
            _ = try await load(layout.root)
        } throws: { error in
            (error as? StrataError)?.message.contains("digest mismatch") ?? false
        }
        #expect(try StoreSnapshot(store) == before)
    }

    @Test func wrongDiffIDIsRefused() async throws {
        var layout = Fixtures.Layout()
        try layout.addImage(layers: [["a": "1"]], name: "x", diffIDOverride: [Digest.sha256(of: [1])])
        try layout.write()
        let before = try StoreSnapshot(store)
        await #expect {
            _ = try await load(layout.root)
        } throws: { error in
            (error as? StrataError)?.message.contains("does not match the image config: diff ID expected") ?? false
        }
        #expect(try StoreSnapshot(store) == before)
    }

    @Test(arguments: [
        ("missing blob", "is referenced but not in the archive"),
        ("no index", "neither a docker-archive"),
        ("malformed index", "malformed"),
        ("truncated tar", "invalid tar"),
    ])
    func badArchivesAreRefused(_ kind: String, _ reason: String) async throws {
        var layout = Fixtures.Layout()
        try layout.addImage(layers: [["a": "1"]], name: "x")
        try layout.write()
        let tarFile = Fixtures.temporaryDirectory() + "/bad.tar"
        switch kind {
        case "missing blob": try FileManager.default.removeItem(atPath: layout.root + "/blobs/sha256/" + layout.manifests[0].digest.encoded)
        case "no index": try FileManager.default.removeItem(atPath: layout.root + "/index.json")
        case "malformed index": try Data("{\"manifests\": [".utf8).write(to: URL(fileURLWithPath: layout.root + "/index.json"))
        default: break
        }
        try Fixtures.tarDirectory(layout.root, to: tarFile)
        if kind == "truncated tar" {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: tarFile))
            try bytes.prefix(bytes.count / 2 + 100).write(to: URL(fileURLWithPath: tarFile))
        }
        let before = try StoreSnapshot(store)
        await #expect {
            _ = try await load(tarFile)
        } throws: { error in
            (error as? StrataError)?.message.contains(reason) ?? false
        }
        #expect(try StoreSnapshot(store) == before)
    }

    @Test func deletedLinesNameLayersByChainIDTopFirst() async throws {
        var layout = Fixtures.Layout()
        try layout.addImage(layers: [["base": "b"], ["top": "t"]], name: "docker.io/library/two:latest")
        try layout.write()
        let image = try await load(layout.root)[0].image
        let chain = ChainID.compute(try store.layers(of: image).map(\.diffID))
        #expect(try store.remove("two", force: false) == [.untagged("two:latest"), .deleted(image.id), .deleted(chain[1]), .deleted(chain[0])])
    }
}
