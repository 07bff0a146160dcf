import Foundation
import ImageSpec
import RegistryServer
import RegistryTestSupport
import Testing

/// Online garbage collection while pushes run: nothing pushed is ever broken, and the space of
/// deleted images comes back.
@Suite struct GarbageCollectionTests {
    @Test func collectsWhatNoManifestNamesAndKeepsTheRest() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let kept = try await server.pushImage("gc/kept", tag: "v1")
        let gone = try await server.pushImage("gc/gone", tag: "v1")
        let goneDigest = Digest.sha256(of: gone)
        let orphan = try await server.pushBlob("gc/kept", Array("uploaded, never named".utf8))
        #expect(try await server.request(.DELETE, "/v2/gc/gone/manifests/\(goneDigest)").status == 202)

        let storage = try RegistryStorage(root: server.root)
        // Within the grace period nothing unreferenced is taken: a manifest may still be on its way.
        #expect(try storage.collectGarbage(grace: 3600).blobs.isEmpty)
        // The orphan, gone's manifest and gone's layer; the config both images share stays.
        let expected: Set<Digest> = [orphan, goneDigest, try layers(of: gone)[0]]
        let dry = try storage.collectGarbage(grace: 0, dryRun: true)
        #expect(Set(dry.blobs) == expected)
        #expect(FileManager.default.fileExists(atPath: storage.content.path(for: orphan)))

        let report = try storage.collectGarbage(grace: 0)
        #expect(Set(report.blobs) == expected && report.bytes > 0)
        #expect(!FileManager.default.fileExists(atPath: storage.content.path(for: orphan)))
        #expect(try await server.request(.GET, "/v2/gc/kept/manifests/v1").body == kept)
        try await expectPullsBack(server, "gc/kept", "v1")
    }

    @Test func untaggedManifestsGoOnlyWhenAsked() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let old = try await server.pushImage("gc/u", tag: "old")
        _ = try await server.pushImage("gc/u", tag: "new")
        // Retag "old" onto "new"'s manifest: the old manifest has no tag left.
        let newManifest = try await server.request(.GET, "/v2/gc/u/manifests/new").body
        _ = try await server.request(.PUT, "/v2/gc/u/manifests/old", headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: newManifest)
        let storage = try RegistryStorage(root: server.root)
        #expect(try storage.collectGarbage(grace: 0).manifests == 0)
        let report = try storage.collectGarbage(grace: 0, deleteUntagged: true)
        #expect(report.manifests == 1)
        #expect(Set(report.blobs) == [Digest.sha256(of: old), try layers(of: old)[0]])
        try await expectPullsBack(server, "gc/u", "old")
        try await expectPullsBack(server, "gc/u", "new")
    }

    @Test func pushesRunningWhileCollectionsRun() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let storage = try RegistryStorage(root: server.root)
        // Counted, not timed: the suite may share two cores with every other test.
        let pushesDone = Flag()
        let collector = Task.detached {
            var runs = 0
            while !pushesDone.value || runs < 3 {
                // Collections back to back, every other one with no grace at all: then a push may
                // be refused (MANIFEST_BLOB_UNKNOWN: its blobs went before its manifest came, and
                // a client pushes again), but an accepted manifest must never lose a blob.
                _ = try storage.collectGarbage(grace: runs % 2 == 0 ? 0 : 2, deleteUntagged: true)
                runs += 1
                try await Task.sleep(for: .milliseconds(runs % 2 == 0 ? 500 : 5))
            }
            return runs
        }
        var pushed: [String] = [], deleted: [[UInt8]] = [], refused = 0
        for i in 1...30 {
            let repository = "stress/r\(i % 5)", tag = "t\(i)"
            // As a client does: a refused push is pushed again.
            for _ in 0..<500 {
                do {
                    let manifest = try await server.pushImage(repository, tag: tag)
                    if i % 3 == 0 {
                        _ = try await server.request(.DELETE, "/v2/\(repository)/manifests/\(Digest.sha256(of: manifest))")
                        deleted.append(manifest)
                    } else {
                        pushed.append("\(repository):\(tag)")
                    }
                    break
                } catch let error as PushRefused {
                    #expect(error.status == 400 && error.code == "MANIFEST_BLOB_UNKNOWN", "\(error.text)")
                    refused += 1
                }
            }
        }
        pushesDone.value = true
        let runs = try await collector.value
        #expect(runs >= 3 && pushed.count == 20, "\(runs) collections, \(pushed.count) pushes, \(refused) refused")
        for image in pushed {
            let parts = image.split(separator: ":")
            try await expectPullsBack(server, String(parts[0]), String(parts[1]))
        }
        // The deleted images' blobs are gone from disk once no manifest names them.
        _ = try storage.collectGarbage(grace: 0)
        // (Their layers are theirs alone; the config is shared with the images that stay.)
        for manifest in deleted {
            for blob in try layers(of: manifest) + [Digest.sha256(of: manifest)] {
                #expect(!FileManager.default.fileExists(atPath: storage.content.path(for: blob)))
            }
        }
    }
}

func layers(of manifest: [UInt8]) throws -> [Digest] {
    struct M: Decodable { struct D: Decodable { var digest: Digest }; var layers: [D] }
    return try JSONDecoder().decode(M.self, from: Data(manifest)).layers.map(\.digest)
}

/// Every blob of a tagged image answers with bytes of the digest it is named by.
func expectPullsBack(_ server: TestServer, _ repository: String, _ tag: String) async throws {
    let answer = try await server.request(.GET, "/v2/\(repository)/manifests/\(tag)")
    #expect(answer.status == 200, "\(repository):\(tag)")
    struct M: Decodable { struct D: Decodable { var digest: Digest }; var config: D; var layers: [D] }
    let manifest = try JSONDecoder().decode(M.self, from: Data(answer.body))
    for blob in [manifest.config.digest] + manifest.layers.map(\.digest) {
        let bytes = try await server.request(.GET, "/v2/\(repository)/blobs/\(blob)")
        #expect(bytes.status == 200 && Digest.sha256(of: bytes.body) == blob, "\(repository):\(tag) blob \(blob)")
    }
}

