import ContentStore
import Foundation
import ImageSpec
@testable import RegistryServer
import Testing

/// `strata registry check`: damage found and mended by a push, leftovers of killed processes
/// found and removed, all while the server keeps running.
@Suite struct RegistryCheckTests {
    @Test func aRegistryAfterPushesIsClean() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.pushImage("check/a", tag: "v1")
        _ = try await server.pushImage("check/b", tag: "v1")
        let report = try RegistryStorage(root: server.root).check()
        #expect(report.findings.isEmpty, "\(report.findings)")
        #expect(report.outcome == .clean)
        // Two layers, one config both share, two manifests.
        #expect(report.checked.blobs == 5 && report.checked.manifests == 2 && report.checked.repositories == 2)
    }

    @Test func aDamagedLayerIsSetAsideAndAPushMendsIt() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let layer = Array("the layer's bytes".utf8)
        let manifest = try await server.pushImage("check/img", tag: "v1", layer: layer)
        let digest = try layers(of: manifest)[0]
        let storage = try RegistryStorage(root: server.root)
        var bytes = layer
        bytes[0] ^= 1
        try FileSystem.writeAtomically(storage.content.path(for: digest), bytes)

        let found = try storage.check()
        #expect(found.outcome == .damaged)
        let damage = try #require(found.findings.first { $0.kind == .damagedBlob })
        #expect(damage.subject == digest.description && damage.problem.contains("the blob of check/img is damaged"), "\(damage)")
        #expect(damage.action.hasPrefix("--repair sets it aside") && !damage.repaired)

        let repaired = try storage.check(repair: true)
        #expect(repaired.outcome == .repaired, "\(repaired.findings)")
        #expect(FileManager.default.fileExists(atPath: "\(server.root)/damaged/sha256/\(digest.encoded)"))
        // Forgotten by its repository: a HEAD says unknown, so a client uploads it again.
        #expect(try await server.request(.HEAD, "/v2/check/img/blobs/\(digest)").status == 404)
        // What is left needs a push, which --repair cannot do: it says so.
        let after = try storage.check()
        #expect(after.outcome == .damaged)
        let missing = try #require(after.findings.first { $0.kind == .missingBlob })
        #expect(missing.problem.contains("names this blob, which is not stored (tagged check/img:v1)") && missing.action == "push check/img:v1 again"
                && !missing.repairable, "\(missing)")

        _ = try await server.pushImage("check/img", tag: "v1", layer: layer)
        #expect(try storage.check().findings.isEmpty)
        try await expectPullsBack(server, "check/img", "v1")
    }

    @Test func leftoversAreListedAndRemovedWithoutTouchingLiveSessions() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.pushImage("check/kept", tag: "v1")
        let storage = try RegistryStorage(root: server.root)
        let old = Date(timeIntervalSinceNow: -3600)
        // A live session (kept), one whose bytes are gone, and bytes with no session.
        let live = try await server.request(.POST, "/v2/check/kept/blobs/uploads/").header("Docker-Upload-UUID")!
        let lost = try await server.request(.POST, "/v2/check/kept/blobs/uploads/").header("Docker-Upload-UUID")!
        unlink("\(server.root)/uploads/\(lost)")
        let unrecorded = "\(server.root)/uploads/\(UUID().uuidString.lowercased())"
        try FileSystem.writeAtomically(unrecorded, Array("half".utf8))
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: unrecorded)
        // An ingest of a process that is gone; a blob no repository has; a link to a blob gone;
        // a collection killed between marking a blob and deleting it.
        let ingest = "\(server.root)/ingest/999999999-1"
        try FileSystem.writeAtomically(ingest, Array("partial".utf8))
        let stray = try storage.content.ingest(bytes: Array("stray".utf8))
        let linked = try await server.pushBlob("check/kept", Array("linked, then lost".utf8))
        storage.content.delete(linked)
        let marked = try storage.content.ingest(bytes: Array("marked".utf8))
        try storage.withDatabase { db in try db.execute("INSERT INTO gc_deleting (digest) VALUES (?)", [.text(marked.description)]) }

        let found = try storage.check()
        #expect(found.outcome == .clean, "leftovers do not make a registry unclean: \(found.findings)")
        let kinds = Dictionary(grouping: found.findings, by: \.kind).mapValues { $0.map(\.subject).sorted() }
        #expect(kinds[.staleUpload] == ["uploads/\(lost)", "uploads/\((unrecorded as NSString).lastPathComponent)"].sorted())
        #expect(kinds[.staleIngest] == ["ingest/999999999-1"])
        #expect(kinds[.strayBlob] == [stray.description])
        #expect(kinds[.staleLink] == ["check/kept → \(linked.short)"])
        #expect(kinds[.unfinishedCollection] == [marked.description])
        #expect(found.findings.count == 6, "\(found.findings)")

        let repaired = try storage.check(repair: true)
        #expect(repaired.findings.allSatisfy { $0.repaired }, "\(repaired.findings)")
        #expect(try storage.check().findings.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: storage.content.path(for: stray)))
        #expect(!FileManager.default.fileExists(atPath: storage.content.path(for: marked)))
        // The live session is untouched and still completes.
        let put = try await server.request(.PUT, "/v2/check/kept/blobs/uploads/\(live)?digest=\(Digest.sha256(of: Array("x".utf8)))",
                                           headers: [("Content-Length", "1")], body: Array("x".utf8))
        #expect(put.status == 201)
        try await expectPullsBack(server, "check/kept", "v1")
    }
}
