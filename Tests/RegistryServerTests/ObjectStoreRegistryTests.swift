import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import ObjectStore
@testable import RegistryServer
import RegistryTestSupport
import Testing

/// `storage: {driver: s3}`: the registry's blobs in a bucket of a real S3 server (Ceph's RADOS
/// Gateway on loopback), the database under the root.
@Suite(.serialized, .enabled(if: RadosGateway.installed, "radosgw is not installed (make deps installs it)"))
struct ObjectStoreRegistryTests {
    static func bucket() async throws -> S3Client {
        try await RadosGateway.shared().client()
    }

    static func server(_ s3: S3Client, redirect: Bool = false, root: String? = nil) async throws -> TestServer {
        try await TestServer.start(root: root) {
            $0.objectStore = s3.configuration
            $0.redirectBlobs = redirect
        }
    }

    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) } }

    @Test func blobsGoToTheBucketAndComeBackWholeAndByRange() async throws {
        let s3 = try await Self.bucket()
        let server = try await Self.server(s3)
        let manifest = try await server.pushImage("team/app", tag: "1")
        #expect(try await server.request(.GET, "/v2/team/app/manifests/1").body == manifest)

        // A chunked upload larger than a part: a multipart upload of the bucket.
        let big = Self.pattern(12 << 20)
        let start = try await server.request(.POST, "/v2/team/app/blobs/uploads/")
        var location = try #require(start.header("Location"))
        for (index, chunk) in [big[..<(7 << 20)], big[(7 << 20)...]].enumerated() {
            let from = index == 0 ? 0 : 7 << 20
            let patch = try await server.request(.PATCH, location, headers: [("Content-Range", "\(from)-\(from + chunk.count - 1)"),
                                                                             ("Content-Type", "application/octet-stream")], body: Array(chunk))
            #expect(patch.status == 202, "\(patch.text)")
            location = try #require(patch.header("Location"))
        }
        let digest = Digest.sha256(of: big)
        let put = try await server.request(.PUT, "\(location)?digest=\(digest)")
        #expect(put.status == 201, "\(put.text)")
        #expect(try await server.request(.GET, "/v2/team/app/blobs/\(digest)").body == big)
        let ranged = try await server.request(.GET, "/v2/team/app/blobs/\(digest)", headers: [("Range", "bytes=5242870-5242889")])
        #expect(ranged.status == 206 && ranged.body == Array(big[5_242_870...5_242_889]))
        #expect(try await server.request(.HEAD, "/v2/team/app/blobs/\(digest)").header("Content-Length") == String(big.count))

        // In the bucket under the prefix, content-addressed; nothing under the root's blobs/.
        let keys = try await s3.listAll(prefix: "blobs/").map(\.key)
        #expect(keys.contains("blobs/sha256/\(digest.encoded)") && keys.contains("blobs/sha256/\(Digest.sha256(of: manifest).encoded)"))
        #expect(try await s3.unfinishedUploads(prefix: "").isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: "\(server.root)/blobs/sha256")) ?? [] == [])
        await server.stop()
    }

    /// Two replicas over one bucket and one PostgreSQL database: a chunked upload started on one
    /// continues and ends on the other, which knows its length from the database; the session's
    /// chunk objects go once it is done, and an abandoned session's are swept.
    @Test(.enabled(if: TestPostgres.installed, "PostgreSQL is not installed (make deps installs it)"))
    func aChunkedUploadContinuesOnAnotherReplica() async throws {
        let s3 = try await Self.bucket()
        let database = try await TestPostgres.shared().database()
        let first = try await TestServer.start { $0.objectStore = s3.configuration; $0.metadata = .postgres(database) }
        let second = try await TestServer.start { $0.objectStore = s3.configuration; $0.metadata = .postgres(database) }
        let big = Self.pattern(7 << 20 + 12_345)
        let start = try await first.request(.POST, "/v2/team/app/blobs/uploads/")
        let location = try #require(start.header("Location"))
        let head = Array(big[..<(6 << 20)]), tail = Array(big[(6 << 20)...])
        let patch = try await first.request(.PATCH, location, headers: [("Content-Range", "0-\(head.count - 1)"),
                                                                      ("Content-Type", "application/octet-stream")], body: head)
        #expect(patch.status == 202, "\(patch.text)")
        // The other replica, told nothing, knows how far the session got.
        let status = try await second.request(.GET, location)
        #expect(status.status == 204 && status.header("Range") == "0-\(head.count - 1)")
        let stale = try await second.request(.PATCH, location, headers: [("Content-Range", "0-\(tail.count - 1)"),
                                                                       ("Content-Type", "application/octet-stream")], body: tail)
        #expect(stale.status == 416)
        let rest = try await second.request(.PATCH, location, headers: [("Content-Range", "\(head.count)-\(big.count - 1)"),
                                                                      ("Content-Type", "application/octet-stream")], body: tail)
        #expect(rest.status == 202, "\(rest.text)")
        let digest = Digest.sha256(of: big)
        let put = try await first.request(.PUT, "\(location)?digest=\(digest)")
        #expect(put.status == 201, "\(put.text)")
        #expect(try await second.request(.GET, "/v2/team/app/blobs/\(digest)").body == big)
        #expect(try await s3.listAll(prefix: "uploads/").isEmpty)

        // A session left behind: its rows go at once, its objects with a sweep.
        let abandoned = try #require(try await second.request(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
        #expect(try await second.request(.PATCH, abandoned, headers: [("Content-Type", "application/octet-stream")], body: tail).status == 202)
        #expect(try await first.request(.DELETE, abandoned).status == 204)
        #expect(try await first.request(.GET, abandoned).status == 404)
        #expect(try await s3.listAll(prefix: "uploads/").count == 1)
        let storage = try RegistryStorage(root: second.root, objectStore: s3, metadata: .postgres(database))
        #expect(try await storage.sweepUploadObjects(olderThan: 0, dryRun: false, in: s3) == 1)
        #expect(try await s3.listAll(prefix: "uploads/").isEmpty)
        await first.stop()
        await second.stop()
    }

    /// The store stops answering between two chunks of a push: the chunk is refused with the
    /// store named, the session keeps what it had, and the image never appears.
    @Test func anObjectStoreThatGoesAwayMidPushIsSaidAndLeavesNothing() async throws {
        let gateway = try await RadosGateway.start()
        defer { gateway.stop() }
        let s3 = try await gateway.client()
        let server = try await Self.server(s3)
        let start = try await server.request(.POST, "/v2/team/app/blobs/uploads/")
        let location = try #require(start.header("Location"))
        let first = Self.pattern(1 << 20)
        let patch = try await server.request(.PATCH, location, headers: [("Content-Range", "0-\(first.count - 1)"),
                                                                       ("Content-Type", "application/octet-stream")], body: first)
        #expect(patch.status == 202, "\(patch.text)")

        try await onThread("radosgw") { gateway.stop() }
        let refused = try await server.request(.PATCH, location, headers: [("Content-Range", "\(first.count)-\(2 * first.count - 1)"),
                                                                         ("Content-Type", "application/octet-stream")], body: first)
        #expect(refused.status >= 500 && refused.text.contains("object store"), "\(refused.status) \(refused.text.prefix(300))")
        // What the session had, it has; what did not arrive is not counted.
        let status = try await server.request(.GET, location)
        #expect(status.status == 204 && status.header("Range") == "0-\(first.count - 1)")
        #expect(try await server.request(.GET, "/v2/team/app/manifests/1").status == 404)
        await server.stop()
    }

    @Test func aManifestNamingABlobNotPushedIsRefusedAndNothingIsVisible() async throws {
        let s3 = try await Self.bucket()
        let server = try await Self.server(s3)
        let config = try await server.pushBlob("team/app", Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8))
        let missing = Digest.sha256(of: Array("never pushed".utf8))
        let manifest = TestServer.manifest(config: (config, 80), layers: [(missing, 12)])
        let put = try await server.request(.PUT, "/v2/team/app/manifests/1", headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: manifest)
        #expect(put.status == 400 && put.errorCode == "MANIFEST_BLOB_UNKNOWN")
        #expect(try await server.request(.GET, "/v2/team/app/manifests/1").status == 404)
        await server.stop()
    }

    @Test func withRedirectClientsDownloadFromTheBucket() async throws {
        let s3 = try await Self.bucket()
        let server = try await Self.server(s3, redirect: true)
        let layer = Self.pattern(300_000)
        _ = try await server.pushImage("team/app", tag: "1", layer: layer)
        // Asked without following redirects: the registry's own answer.
        let direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        defer { _ = direct.shutdown() }
        let get = try await direct.execute(HTTPClientRequest(url: "\(server.base)/v2/team/app/blobs/\(Digest.sha256(of: layer))"), timeout: .seconds(30))
        #expect(get.status.code == 307)
        let location = get.headers.first(name: "Location") ?? ""
        #expect(location.hasPrefix(s3.configuration.endpoint) && location.contains("X-Amz-Signature="), "\(location)")
        let fetched = try await direct.execute(HTTPClientRequest(url: location), timeout: .seconds(30))
        let bytes = Array(buffer: try await fetched.body.collect(upTo: 1 << 20))
        #expect(fetched.status.code == 200 && bytes == layer)
        // A client that follows redirects gets the bytes from the bucket.
        let followed = try await server.request(.GET, "/v2/team/app/blobs/\(Digest.sha256(of: layer))")
        #expect(followed.status == 200 && followed.body == layer && followed.header("x-amz-request-id") != nil)
        // Manifests are still served by the registry.
        #expect(try await server.request(.GET, "/v2/team/app/manifests/1").status == 200)
        await server.stop()
    }

    @Test func garbageCollectionDeletesUnreferencedObjectsOnly() async throws {
        let s3 = try await Self.bucket()
        let server = try await Self.server(s3)
        let layer = Array("kept \(UUID())".utf8)
        _ = try await server.pushImage("team/app", tag: "1", layer: layer)
        let orphan = try await server.pushBlob("team/app", Array("orphan \(UUID())".utf8))
        let storage = try RegistryStorage(root: server.root, objectStore: s3)
        // Within the grace period, nothing goes.
        #expect(try await storage.collect(grace: 3600).blobs.isEmpty)
        try await Task.sleep(for: .seconds(2))
        let report = try await storage.collect(grace: 1)
        #expect(report.blobs == [orphan])
        #expect(try await s3.head("blobs/sha256/\(orphan.encoded)") == nil)
        #expect(try await s3.head("blobs/sha256/\(Digest.sha256(of: layer).encoded)") != nil)
        #expect(try await server.request(.GET, "/v2/team/app/blobs/\(orphan)").status == 404)
        #expect(try await server.request(.GET, "/v2/team/app/blobs/\(Digest.sha256(of: layer))").body == layer)
        await server.stop()
    }

    /// `registry check` over the bucket: every object hashed; a damaged one set aside and mended
    /// by a push; a session whose chunk is gone from the bucket ended.
    @Test func aCheckReadsTheBucketSetsDamageAsideAndEndsBrokenSessions() async throws {
        let s3 = try await Self.bucket()
        let server = try await Self.server(s3)
        defer { Task { await server.stop() } }
        let layer = Array("the layer \(UUID())".utf8)
        let manifest = try await server.pushImage("team/app", tag: "1", layer: layer)
        let storage = try RegistryStorage(root: server.root, objectStore: s3)
        let clean = try await storage.checkInBackground()
        #expect(clean.findings.isEmpty && clean.outcome == .clean, "\(clean.findings)")
        #expect(clean.checked.blobs == 3 && clean.checked.manifests == 1)

        let digest = Digest.sha256(of: layer)
        var bytes = layer
        bytes[0] ^= 1
        try await s3.put("blobs/sha256/\(digest.encoded)", bytes)
        // A chunked session whose chunk object goes missing from the bucket.
        let start = try await server.request(.POST, "/v2/team/app/blobs/uploads/")
        let patch = try await server.request(.PATCH, try #require(start.header("Location")), headers: [("Content-Type", "application/octet-stream")],
                                             body: Array("a chunk".utf8))
        #expect(patch.status == 202)
        for chunk in try await s3.listAll(prefix: "uploads/") { try await s3.delete(chunk.key) }

        let found = try await storage.checkInBackground()
        #expect(found.outcome == .damaged)
        #expect(found.findings.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.damagedBlob, .staleUpload], "\(found.findings)")
        let damage = try #require(found.findings.first { $0.kind == .damagedBlob })
        #expect(damage.subject == digest.description && damage.problem.contains("the blob of team/app is damaged"), "\(damage.problem)")

        let repaired = try await storage.checkInBackground(repair: true)
        #expect(repaired.outcome == .repaired && repaired.findings.allSatisfy(\.repaired), "\(repaired.findings)")
        #expect(try await s3.head("blobs/sha256/\(digest.encoded)") == nil)
        #expect(try await s3.bytes("damaged/sha256/\(digest.encoded)") == bytes)
        #expect(try await server.request(.GET, "/v2/team/app/blobs/\(digest)").status == 404)
        #expect(try await server.request(.GET, try #require(patch.header("Location"))).status == 404)
        // Pushing the image again mends it, and the registry is clean.
        #expect(try await server.pushImage("team/app", tag: "1", layer: layer) == manifest)
        #expect(try await server.request(.GET, "/v2/team/app/blobs/\(digest)").body == layer)
        let after = try await storage.checkInBackground()
        #expect(after.findings.isEmpty, "\(after.findings)")
    }

    @Test func aRegistryIsNotOpenedOverAnotherBlobStore() async throws {
        let s3 = try await Self.bucket()
        let server = try await Self.server(s3)
        _ = try await server.pushImage("team/app", tag: "1")
        await server.stop()
        // Its database links blobs in the bucket: served from the filesystem, every one would be missing.
        let configuration = RegistryServer.Configuration(root: server.root)
        #expect(throws: StrataError(.invalidArgument, "this registry's blobs are in s3 \(s3.configuration.endpoint)/\(s3.configuration.bucket)/registry/, not in \(server.root)/blobs: give the storage settings it was served with (--config)")) {
            try RegistryServer(configuration: configuration)
        }
    }

    @Test func wrongCredentialsStopTheServerBeforeItListens() async throws {
        var s3 = try await Self.bucket().configuration
        s3.credentials.secretKey = "wrong"
        var configuration = RegistryServer.Configuration(root: FileManager.default.temporaryDirectory.appendingPathComponent("strata-s3-\(UUID().uuidString)").path)
        configuration.port = 0
        configuration.objectStore = s3
        let server = try RegistryServer(configuration: configuration)
        await #expect { try await server.run(handlingSignals: false, accessLog: { _ in }) } throws: { error in
            (error as? StrataError)?.message.contains("the secret key is wrong") == true
        }
    }
}

/// Where a registry's blobs are is recorded once; a registry from before that is a filesystem one.
struct BlobStoreSettingTests {
    @Test func aRegistryFromBeforeTheSettingOpensAsTheFilesystemOneItIs() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("strata-old-\(UUID().uuidString)").path
        // Blobs linked by the storage alone, as an older server left them: no setting recorded.
        let storage = try RegistryStorage(root: root)
        let bytes = Array("an old blob".utf8)
        let upload = try storage.startUpload("team/old")
        let body = AsyncStream<ByteBuffer> { $0.yield(ByteBuffer(bytes: bytes)); $0.finish() }
        let arrived = try await storage.append(upload, body: body, start: nil, expectedLength: nil)
        _ = try storage.completeUpload(arrived, digest: Digest.sha256(of: bytes))
        #expect(try storage.blobSize("team/old", Digest.sha256(of: bytes)) == Int64(bytes.count))
        _ = try RegistryServer(configuration: RegistryServer.Configuration(root: root))
        #expect(try await storage.collect(grace: 3600).blobs.isEmpty)
    }
}
