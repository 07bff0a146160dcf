import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import RegistryServer
import Testing

/// `proxy: {remote: …}`: a registry that mirrors another, against a Strata registry upstream on
/// loopback. What is pulled once is served again without the upstream, even once it is gone.
struct PullThroughCacheTests {
    static func mirror(of upstream: TestServer, ttl: TimeInterval = 0, username: String? = nil, password: String? = nil) async throws -> TestServer {
        try await TestServer.start { $0.proxy = .init(remote: upstream.base, username: username, password: password, ttl: ttl) }
    }

    static func blobGETs(_ server: TestServer) -> Int {
        server.accessLog.filter { $0.method == "GET" && $0.path.contains("/blobs/sha256:") }.count
    }

    @Test func pullsComeThroughOnceAndKeepComingWhenTheUpstreamIsGone() async throws {
        let upstream = try await TestServer.start()
        let layer = Array("the busybox layer \(UUID())".utf8)
        let manifest = try await upstream.pushImage("library/busybox", tag: "1", layer: layer)
        let layerDigest = Digest.sha256(of: layer)
        let mirror = try await Self.mirror(of: upstream)

        // Docker asks a mirror for `library/busybox`; a bare name is the same repository.
        let first = try await mirror.request(.GET, "/v2/library/busybox/manifests/1")
        #expect(first.status == 200 && first.body == manifest, "\(first.text)")
        #expect(first.header("Docker-Content-Digest") == Digest.sha256(of: manifest).description)
        #expect(try await mirror.request(.GET, "/v2/busybox/manifests/\(Digest.sha256(of: manifest))").body == manifest)
        #expect(try await mirror.request(.HEAD, "/v2/busybox/blobs/\(layerDigest)").status == 200)
        for _ in 0..<3 { #expect(try await mirror.request(.GET, "/v2/busybox/blobs/\(layerDigest)").body == layer) }
        #expect(Self.blobGETs(upstream) == 1, "a blob moves once")
        #expect(try await mirror.request(.GET, "/v2/busybox/tags/list").text == #"{"name":"library/busybox","tags":["1"]}"#)

        // Read-only to clients.
        let push = try await mirror.request(.POST, "/v2/busybox/blobs/uploads/")
        #expect(push.status == 405 && push.errorCode == "UNSUPPORTED")
        #expect(push.text.contains("this registry is a pull-through cache of \(upstream.base): push to \(upstream.base) instead"))

        await upstream.stop()
        // The tag cannot be checked (a TTL of 0 asks every time): the cached one is served.
        let stale = try await mirror.request(.GET, "/v2/busybox/manifests/1")
        #expect(stale.status == 200 && stale.body == manifest)
        #expect(try await mirror.request(.GET, "/v2/busybox/blobs/\(layerDigest)").body == layer)
        #expect(try await mirror.request(.GET, "/v2/busybox/tags/list").text.contains(#""tags":["1"]"#))
        let missing = try await mirror.request(.GET, "/v2/busybox/manifests/2")
        #expect(missing.status == 503 && missing.errorCode == "UNAVAILABLE")
        #expect(missing.text.contains("manifest 2 of library/busybox is not cached here, and the upstream \(upstream.base) failed: "), "\(missing.text)")
        await mirror.stop()
    }

    @Test func aTagIsAskedAboutAgainOnlyAfterItsTTL() async throws {
        let upstream = try await TestServer.start()
        let v1 = try await upstream.pushImage("team/app", tag: "latest")
        // Two mirrors of it: one whose tags stay fresh for an hour, one that asks every time.
        let patient = try await Self.mirror(of: upstream, ttl: 3600)
        let eager = try await Self.mirror(of: upstream, ttl: 0)
        #expect(try await patient.request(.GET, "/v2/team/app/manifests/latest").body == v1)
        #expect(try await eager.request(.GET, "/v2/team/app/manifests/latest").body == v1)
        let v2 = try await upstream.pushImage("team/app", tag: "latest")
        #expect(try await patient.request(.GET, "/v2/team/app/manifests/latest").body == v1, "within the TTL, the cached tag")
        #expect(try await eager.request(.GET, "/v2/team/app/manifests/latest").body == v2, "past it, the upstream's")
        // Each re-check is a HEAD; the patient mirror made none after its first fetch.
        let heads = upstream.accessLog.filter { $0.method == "HEAD" && $0.path.hasSuffix("/manifests/latest") }.count
        #expect(heads == 3)
        // A tag the upstream no longer has is gone here too, once asked about.
        #expect(try await upstream.request(.DELETE, "/v2/team/app/manifests/latest").status == 202)
        let gone = try await eager.request(.GET, "/v2/team/app/manifests/latest")
        #expect(gone.status == 404 && gone.errorCode == "MANIFEST_UNKNOWN")
        #expect(gone.text.contains("manifest latest is not in repository team/app, here or at the upstream \(upstream.base)"))
        await upstream.stop()
        await patient.stop()
        await eager.stop()
    }

    @Test func manyClientsAskingForOneBlobFetchItOnce() async throws {
        let upstream = try await TestServer.start()
        let layer = [UInt8](repeating: 7, count: 4 << 20)
        _ = try await upstream.pushImage("team/big", tag: "1", layer: layer)
        let mirror = try await Self.mirror(of: upstream, ttl: 3600)
        let digest = Digest.sha256(of: layer)
        try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 { group.addTask { try await mirror.request(.GET, "/v2/team/big/blobs/\(digest)").body } }
            for try await body in group { #expect(body == layer) }
        }
        #expect(Self.blobGETs(upstream) == 1)
        await upstream.stop()
        await mirror.stop()
    }

    @Test func aBlobCachedForOneRepositoryIsNotShownThroughAnother() async throws {
        let upstream = try await TestServer.start()
        let layer = Array("team-b's layer \(UUID())".utf8)
        _ = try await upstream.pushImage("team/b", tag: "1", layer: layer)
        _ = try await upstream.pushImage("team/a", tag: "1")
        let mirror = try await Self.mirror(of: upstream, ttl: 3600)
        let digest = Digest.sha256(of: layer)
        // A HEAD is answered from the upstream's HEAD: nothing is fetched for it.
        let head = try await mirror.request(.HEAD, "/v2/team/b/blobs/\(digest)")
        #expect(head.status == 200 && head.header("Content-Length") == String(layer.count))
        #expect(Self.blobGETs(upstream) == 0)
        #expect(try await mirror.request(.GET, "/v2/team/b/blobs/\(digest)").body == layer)
        // team/a at the upstream has no such blob: neither has it here, though the bytes are stored.
        let through = try await mirror.request(.GET, "/v2/team/a/blobs/\(digest)")
        #expect(through.status == 404 && through.errorCode == "BLOB_UNKNOWN", "\(through.text)")
        // One that the upstream's team/a does have is linked without moving its bytes again.
        _ = try await upstream.request(.POST, "/v2/team/a/blobs/uploads/?mount=\(digest)&from=team/b")
        #expect(try await mirror.request(.GET, "/v2/team/a/blobs/\(digest)").body == layer)
        #expect(Self.blobGETs(upstream) == 1)
        await upstream.stop()
        await mirror.stop()
    }

    @Test func theUpstreamsCredentialsNeverReachAClient() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("strata-upstream-\(UUID().uuidString)").path
        let accounts = try RegistryStorage(root: root)
        try accounts.addUser("mirror", password: "upstream-secret-1")
        try accounts.createRepository("mirror/private", isPrivate: true)
        // Docker Hub's way: token authentication, a private repository.
        let upstream = try await TestServer.start(root: root) { $0.auth = .token }
        let grant = try await upstream.request(.GET, "/token?service=strata-registry&scope=repository:mirror/private:pull,push",
                                               headers: [("Authorization", "Basic " + Data("mirror:upstream-secret-1".utf8).base64EncodedString())])
        struct Grant: Decodable { var token: String }
        upstream.authorization = "Bearer " + (try JSONDecoder().decode(Grant.self, from: Data(grant.body))).token
        let manifest = try await upstream.pushImage("mirror/private", tag: "1")
        upstream.authorization = nil
        #expect(try await upstream.request(.GET, "/v2/mirror/private/manifests/1").status == 401)

        let mirror = try await Self.mirror(of: upstream, username: "mirror", password: "upstream-secret-1")
        let pulled = try await mirror.request(.GET, "/v2/mirror/private/manifests/1")
        #expect(pulled.status == 200 && pulled.body == manifest, "\(pulled.text)")
        for answer in [pulled, try await mirror.request(.GET, "/v2/mirror/private/manifests/2")] {
            let everything = answer.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + answer.text
            #expect(!everything.contains("upstream-secret-1") && !everything.contains("Bearer realm=\"\(upstream.base)"))
        }
        // Wrong ones say the upstream refused, and still show nothing of them.
        let wrong = try await Self.mirror(of: upstream, username: "mirror", password: "not-it")
        let refused = try await wrong.request(.GET, "/v2/mirror/private/manifests/1")
        #expect(refused.status == 503 && !refused.text.contains("not-it"), "\(refused.text)")
        await upstream.stop()
        await mirror.stop()
        await wrong.stop()
    }

    @Test(arguments: [
        ("proxy:\n  remote: ftp://x\n", "invalid proxy.remote \"ftp://x\": expected http(s)://host[:port], the upstream registry (its credentials go in proxy.username and proxy.password)"),
        ("proxy:\n  remote: https://me:pw@x\n", "invalid proxy.remote \"https://me:pw@x\": expected http(s)://host[:port], the upstream registry (its credentials go in proxy.username and proxy.password)"),
        ("proxy:\n  ttl: 5m\n", "the proxy settings need proxy.remote (or --proxy-remote): the registry to mirror"),
        ("proxy:\n  remote: http://x\n  username: me\n", "proxy.username needs proxy.password: the upstream's password or access token"),
    ])
    func badProxySettingsAreNamed(_ yaml: String, _ message: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = RegistryServer.Configuration(root: FileManager.default.temporaryDirectory.appendingPathComponent("strata-proxy-\(UUID().uuidString)").path)
        try configuration.load(file: path)
        #expect(throws: StrataError(.invalidArgument, message)) { try RegistryServer(configuration: configuration) }
    }
}
