import Foundation
import ImageSpec
import RegistryServer
import Testing

/// The distribution spec's four categories — pull, push, content discovery, content management —
/// against the server in this process, written from spec.md's endpoint table.
@Suite struct DistributionSpecTests {
    // MARK: pull

    @Test func pingAnswersWithTheAPIVersion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let answer = try await server.request(.GET, "/v2/")
        #expect(answer.status == 200)
        #expect(answer.header("Docker-Distribution-API-Version") == "registry/2.0")
        #expect(server.accessLog.contains { $0.path == "/v2/" && $0.status == 200 })
    }

    /// By `sendfile(2)` and by 1 MiB reads (the TLS path): the same bytes, ranges and headers.
    @Test(arguments: [true, false])
    func blobsAreServedWholeAndByRange(zeroCopy: Bool) async throws {
        let server = try await TestServer.start { $0.zeroCopy = zeroCopy }
        defer { Task { await server.stop() } }
        let bytes = Array("0123456789abcdef".utf8)
        let digest = try await server.pushBlob("library/data", bytes)

        let head = try await server.request(.HEAD, "/v2/library/data/blobs/\(digest)")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.header("Content-Length") == "16" && head.header("Docker-Content-Digest") == digest.description)

        let whole = try await server.request(.GET, "/v2/library/data/blobs/\(digest)")
        #expect(whole.status == 200 && whole.body == bytes)
        #expect(whole.header("strata-sendfile") == nil, "the internal marker never leaves the server")

        let cases: [(range: String, status: Int, body: String?, contentRange: String)] = [
            ("bytes=2-5", 206, "2345", "bytes 2-5/16"),
            ("bytes=10-", 206, "abcdef", "bytes 10-15/16"),
            ("bytes=-3", 206, "def", "bytes 13-15/16"),
            ("bytes=14-100", 206, "ef", "bytes 14-15/16"),
            ("bytes=16-20", 416, nil, "bytes */16"),
            ("bytes=5-2", 416, nil, "bytes */16"),
        ]
        for c in cases {
            let answer = try await server.request(.GET, "/v2/library/data/blobs/\(digest)", headers: [("Range", c.range)])
            #expect(answer.status == c.status, "\(c.range)")
            #expect(answer.header("Content-Range") == c.contentRange, "\(c.range)")
            if let body = c.body { #expect(answer.text == body, "\(c.range)") }
        }

        // Larger than one read, and a range across the reads' boundary.
        let large = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let largeDigest = try await server.pushBlob("library/data", large)
        #expect(try await server.request(.GET, "/v2/library/data/blobs/\(largeDigest)").body == large)
        let across = try await server.request(.GET, "/v2/library/data/blobs/\(largeDigest)", headers: [("Range", "bytes=1048000-2097999")])
        #expect(across.status == 206 && across.body == Array(large[1_048_000...2_097_999]))
    }

    @Test func unknownThingsAre404WithTheSpecsCodes() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.pushImage("team/app", tag: "v1")
        let missing = Digest.sha256(of: Array("nothing".utf8))
        let cases: [(HTTPMethodName, String, Int, String?)] = [
            (.GET, "/v2/team/app/blobs/\(missing)", 404, "BLOB_UNKNOWN"),
            (.HEAD, "/v2/team/app/blobs/\(missing)", 404, nil),
            (.GET, "/v2/team/app/manifests/v2", 404, "MANIFEST_UNKNOWN"),
            (.HEAD, "/v2/team/app/manifests/.INVALID_MANIFEST_NAME", 404, nil),
            (.GET, "/v2/team/other/tags/list", 404, "NAME_UNKNOWN"),
            (.GET, "/v2/team/app/blobs/uploads/0000", 404, "BLOB_UPLOAD_UNKNOWN"),
            (.GET, "/v2/team/app/blobs/sha256:short", 400, "DIGEST_INVALID"),
            (.GET, "/v2/Team/App/tags/list", 400, "NAME_INVALID"),
            (.GET, "/v2/team/../etc/tags/list", 400, "NAME_INVALID"),
            (.GET, "/v2/team/%2e%2e/x/tags/list", 400, "NAME_INVALID"),
        ]
        for (method, path, status, code) in cases {
            let answer = try await server.request(method.nio, path)
            #expect(answer.status == status, "\(method) \(path)")
            if let code { #expect(answer.errorCode == code, "\(method) \(path): \(answer.text)") }
        }
    }

    @Test func aManifestComesBackByteForByteByTagAndDigest() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let manifest = try await server.pushImage("library/busybox", tag: "latest")
        let digest = Digest.sha256(of: manifest)
        for reference in ["latest", digest.description] {
            let get = try await server.request(.GET, "/v2/library/busybox/manifests/\(reference)")
            #expect(get.status == 200 && get.body == manifest)
            #expect(get.header("Content-Type") == MediaType.ociManifest.rawValue)
            #expect(get.header("Docker-Content-Digest") == digest.description)
            let head = try await server.request(.HEAD, "/v2/library/busybox/manifests/\(reference)")
            #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") == String(manifest.count))
        }
    }

    // MARK: push

    @Test func aChunkedUploadTakesChunksInOrderOnly() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let blob = (0..<42).map { UInt8($0) }
        let start = try await server.request(.POST, "/v2/team/chunks/blobs/uploads/")
        #expect(start.status == 202 && start.header("Range") == "0-0")
        let location = try #require(start.header("Location"))
        #expect(location.hasPrefix("/v2/team/chunks/blobs/uploads/"))

        let first = try await server.request(.PATCH, location, headers: [("Content-Range", "0-21"), ("Content-Type", "application/octet-stream")],
                                             body: Array(blob[0..<22]))
        #expect(first.status == 202 && first.header("Range") == "0-21")
        let outOfOrder = try await server.request(.PATCH, location, headers: [("Content-Range", "30-41")], body: Array(blob[30..<42]))
        #expect(outOfOrder.status == 416 && outOfOrder.errorCode == "BLOB_UPLOAD_INVALID" && outOfOrder.header("Range") == "0-21")
        let again = try await server.request(.PATCH, location, headers: [("Content-Range", "0-21")], body: Array(blob[0..<22]))
        #expect(again.status == 416)
        let status = try await server.request(.GET, location)
        #expect(status.status == 204 && status.header("Range") == "0-21")

        let second = try await server.request(.PATCH, location, headers: [("Content-Range", "22-41")], body: Array(blob[22..<42]))
        #expect(second.status == 202 && second.header("Range") == "0-41")
        let digest = Digest.sha256(of: blob)
        let done = try await server.request(.PUT, location + "?digest=\(digest)", headers: [("Content-Length", "0")])
        #expect(done.status == 201 && done.header("Location") == "/v2/team/chunks/blobs/\(digest)")
        #expect(try await server.request(.GET, "/v2/team/chunks/blobs/\(digest)").body == blob)
    }

    @Test func aStreamedUploadAndAPutWithTheLastChunk() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let blob = Array(repeating: UInt8(7), count: 300_000)
        let location = try #require(try await server.request(.POST, "/v2/s/blobs/uploads/").header("Location"))
        let streamed = try await server.request(.PATCH, location, body: Array(blob[0..<200_000]))
        #expect(streamed.status == 202 && streamed.header("Range") == "0-199999")
        let digest = Digest.sha256(of: blob)
        let put = try await server.request(.PUT, location + "?digest=\(digest)", headers: [("Content-Range", "200000-299999")],
                                           body: Array(blob[200_000...]))
        #expect(put.status == 201)
        #expect(try await server.request(.HEAD, "/v2/s/blobs/\(digest)").header("Content-Length") == "300000")
    }

    @Test func aWrongDigestStoresNothing() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let bytes = Array("what was sent".utf8)
        let claimed = Digest.sha256(of: Array("something else".utf8))
        let monolithic = try await server.request(.POST, "/v2/x/blobs/uploads/?digest=\(claimed)", body: bytes)
        #expect(monolithic.status == 400 && monolithic.errorCode == "DIGEST_INVALID")

        let location = try #require(try await server.request(.POST, "/v2/x/blobs/uploads/").header("Location"))
        let put = try await server.request(.PUT, location + "?digest=\(claimed)", body: bytes)
        #expect(put.status == 400 && put.errorCode == "DIGEST_INVALID")
        #expect(try await server.request(.GET, location).status == 404)
        for digest in [claimed, Digest.sha256(of: bytes)] {
            #expect(try await server.request(.HEAD, "/v2/x/blobs/\(digest)").status == 404)
            #expect(!FileManager.default.fileExists(atPath: "\(server.root)/blobs/sha256/\(digest.encoded)"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(server.root)/uploads").isEmpty)
    }

    @Test func sha512BlobsAreStoredUnderTheirOwnDigest() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let bytes = Array("hashed with sha512".utf8)
        var digester = Digester(.sha512)
        bytes.withUnsafeBytes { digester.update($0) }
        let digest = digester.finalize()
        let put = try await server.request(.POST, "/v2/x/blobs/uploads/?digest=\(digest)", body: bytes)
        #expect(put.status == 201)
        #expect(try await server.request(.GET, "/v2/x/blobs/\(digest)").body == bytes)
    }

    @Test func aCrossRepositoryMountLinksWithoutUploading() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let digest = try await server.pushBlob("library/base", Array("shared layer".utf8))
        let mounted = try await server.request(.POST, "/v2/team/app/blobs/uploads/?mount=\(digest)&from=library/base")
        #expect(mounted.status == 201 && mounted.header("Location") == "/v2/team/app/blobs/\(digest)")
        #expect(try await server.request(.HEAD, "/v2/team/app/blobs/\(digest)").status == 200)
        let unknown = Digest.sha256(of: Array("not there".utf8))
        let fallback = try await server.request(.POST, "/v2/team/app/blobs/uploads/?mount=\(unknown)&from=library/base")
        #expect(fallback.status == 202 && fallback.header("Location")?.hasPrefix("/v2/team/app/blobs/uploads/") == true)
    }

    @Test func badManifestsAreRefusedAndNothingIsTagged() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let config = try await server.pushBlob("m/app", Array("{}".utf8))
        let missing = Digest.sha256(of: Array("never pushed".utf8))
        let oci = MediaType.ociManifest.rawValue
        let cases: [(String, [UInt8], String, Int, String)] = [
            ("names a missing layer", TestServer.manifest(config: (config, 2), layers: [(missing, 12)]), oci, 400, "MANIFEST_BLOB_UNKNOWN"),
            ("is not JSON", Array("{not json".utf8), oci, 400, "MANIFEST_INVALID"),
            ("has no config", Array(#"{"schemaVersion":2,"layers":[]}"#.utf8), oci, 400, "MANIFEST_INVALID"),
            ("disagrees with its Content-Type", TestServer.manifest(config: (config, 2), layers: []), MediaType.dockerManifest.rawValue, 400, "MANIFEST_INVALID"),
            ("is schema 1", Array(#"{"schemaVersion":1,"name":"m/app"}"#.utf8), "application/vnd.docker.distribution.manifest.v1+json", 400, "MANIFEST_INVALID"),
            ("is too large", Array(repeating: UInt8(ascii: " "), count: ValidatedManifest.maxBytes + 1), oci, 413, "MANIFEST_INVALID"),
        ]
        for (what, body, type, status, code) in cases {
            let answer = try await server.request(.PUT, "/v2/m/app/manifests/bad", headers: [("Content-Type", type)], body: body)
            #expect(answer.status == status, "a manifest that \(what)")
            #expect(answer.errorCode == code, "a manifest that \(what): \(answer.text)")
        }
        #expect(try await server.request(.GET, "/v2/m/app/manifests/bad").status == 404)
        let wrongDigest = try await server.request(.PUT, "/v2/m/app/manifests/\(missing)", headers: [("Content-Type", oci)],
                                                   body: TestServer.manifest(config: (config, 2), layers: []))
        #expect(wrongDigest.status == 400 && wrongDigest.errorCode == "DIGEST_INVALID")
    }

    @Test func anUploadSurvivesARestartAndResumes() async throws {
        let first = try await TestServer.start()
        let blob = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let location = try #require(try await first.request(.POST, "/v2/r/blobs/uploads/").header("Location"))
        _ = try await first.request(.PATCH, location, headers: [("Content-Range", "0-59999")], body: Array(blob[0..<60_000]))
        await first.stop()

        let second = try await TestServer.start(root: first.root)
        defer { Task { await second.stop() } }
        let status = try await second.request(.GET, location)
        #expect(status.status == 204 && status.header("Range") == "0-59999")
        _ = try await second.request(.PATCH, location, headers: [("Content-Range", "60000-99999")], body: Array(blob[60_000...]))
        let digest = Digest.sha256(of: blob)
        #expect(try await second.request(.PUT, location + "?digest=\(digest)").status == 201)
        #expect(try await second.request(.GET, "/v2/r/blobs/\(digest)").body == blob)
    }

    @Test func aTruncatedUploadKeepsWhatArrivedAndStoresNoBlob() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let location = try #require(try await server.request(.POST, "/v2/t/blobs/uploads/").header("Location"))
        // A client that dies mid-body: 400 of the 1000 bytes it announced, then the connection closes.
        try RawConnection.send(port: server.port, Array("PATCH \(location) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n".utf8)
                               + Array(repeating: UInt8(ascii: "x"), count: 400))
        var range: String?
        for _ in 0..<100 {
            range = try await server.request(.GET, location).header("Range")
            if range == "0-399" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(range == "0-399")
        // The client resumes from byte 400 and completes it.
        let blob = Array(repeating: UInt8(ascii: "x"), count: 1000)
        #expect(try await server.request(.PATCH, location, headers: [("Content-Range", "400-999")], body: Array(blob[400...])).status == 202)
        #expect(try await server.request(.PUT, location + "?digest=\(Digest.sha256(of: blob))").status == 201)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(server.root)/blobs/sha256").count == 1)
    }

    @Test func aCancelledUploadIsGone() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let location = try #require(try await server.request(.POST, "/v2/c/blobs/uploads/").header("Location"))
        _ = try await server.request(.PATCH, location, body: Array("partial".utf8))
        #expect(try await server.request(.DELETE, location).status == 204)
        #expect(try await server.request(.GET, location).status == 404)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(server.root)/uploads").isEmpty)
    }

    // MARK: content discovery

    @Test func tagsAndTheCatalogPageWithLinks() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for tag in ["v3", "v1", "latest", "v2"] { _ = try await server.pushImage("library/pages", tag: tag) }
        _ = try await server.pushImage("team/other", tag: "x")

        struct Tags: Decodable { var name: String; var tags: [String] }
        let all = try JSONDecoder().decode(Tags.self, from: Data(try await server.request(.GET, "/v2/library/pages/tags/list").body))
        #expect(all.name == "library/pages" && all.tags == ["latest", "v1", "v2", "v3"])

        let page = try await server.request(.GET, "/v2/library/pages/tags/list?n=2")
        #expect(try JSONDecoder().decode(Tags.self, from: Data(page.body)).tags == ["latest", "v1"])
        #expect(page.header("Link") == #"</v2/library/pages/tags/list?last=v1&n=2>; rel="next""#)
        let rest = try await server.request(.GET, "/v2/library/pages/tags/list?n=2&last=v1")
        #expect(try JSONDecoder().decode(Tags.self, from: Data(rest.body)).tags == ["v2", "v3"])
        #expect(rest.header("Link") == nil)
        let none = try await server.request(.GET, "/v2/library/pages/tags/list?n=0")
        #expect(try JSONDecoder().decode(Tags.self, from: Data(none.body)).tags.isEmpty)

        struct Catalog: Decodable { var repositories: [String] }
        let catalog = try await server.request(.GET, "/v2/_catalog?n=1")
        #expect(try JSONDecoder().decode(Catalog.self, from: Data(catalog.body)).repositories == ["library/pages"])
        #expect(catalog.header("Link") == #"</v2/_catalog?last=library/pages&n=1>; rel="next""#)
        let huge = try await server.request(.GET, "/v2/_catalog?n=99999999999999999999999")
        #expect(huge.status == 400 && huge.errorCode == "PAGINATION_NUMBER_INVALID")
        let clamped = try await server.request(.GET, "/v2/_catalog?n=5000000")
        #expect(clamped.status == 200)
    }

    @Test func referrersListManifestsWithASubjectAndFilterByArtifactType() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let subject = try await server.pushImage("team/signed", tag: "v1")
        let subjectDigest = Digest.sha256(of: subject)
        let empty = try await server.pushBlob("team/signed", Array("{}".utf8))
        let subjectField = #"{"mediaType":"\#(MediaType.ociManifest.rawValue)","digest":"\#(subjectDigest)","size":\#(subject.count)}"#
        var pushed: [Digest] = []
        for (i, type) in ["application/vnd.example.sig", "application/vnd.example.sbom", "application/vnd.example.sig"].enumerated() {
            let manifest = TestServer.manifest(config: (empty, 2), layers: [], configType: MediaType.ociEmpty.rawValue,
                                               extra: ["artifactType": "\"\(type)\"", "subject": subjectField,
                                                       "annotations": #"{"n":"\#(i)"}"#])
            let digest = Digest.sha256(of: manifest)
            let answer = try await server.request(.PUT, "/v2/team/signed/manifests/\(digest)",
                                                  headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: manifest)
            #expect(answer.status == 201 && answer.header("OCI-Subject") == subjectDigest.description)
            pushed.append(digest)
        }
        let all = try await server.request(.GET, "/v2/team/signed/referrers/\(subjectDigest)")
        #expect(all.status == 200 && all.header("Content-Type") == MediaType.ociIndex.rawValue)
        let index = try JSONDecoder().decode(Index.self, from: Data(all.body))
        #expect(Set(index.manifests.map(\.digest)) == Set(pushed))
        #expect(index.manifests.allSatisfy { $0.annotations?["n"] != nil && $0.artifactType != nil })

        let sigs = try await server.request(.GET, "/v2/team/signed/referrers/\(subjectDigest)?artifactType=application/vnd.example.sig")
        #expect(sigs.header("OCI-Filters-Applied") == "artifactType")
        #expect(try JSONDecoder().decode(Index.self, from: Data(sigs.body)).manifests.count == 2)

        let nobody = try await server.request(.GET, "/v2/team/signed/referrers/\(Digest.sha256(of: Array("x".utf8)))")
        #expect(nobody.status == 200)
        #expect(try JSONDecoder().decode(Index.self, from: Data(nobody.body)).manifests.isEmpty)
    }

    // MARK: content management

    @Test func deletingATagThenAManifestThenABlob() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let manifest = try await server.pushImage("team/gone", tag: "v1")
        let digest = Digest.sha256(of: manifest)
        _ = try await server.request(.PUT, "/v2/team/gone/manifests/v2", headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: manifest)

        #expect(try await server.request(.DELETE, "/v2/team/gone/manifests/v1").status == 202)
        #expect(try await server.request(.GET, "/v2/team/gone/manifests/v1").status == 404)
        #expect(try await server.request(.GET, "/v2/team/gone/manifests/v2").status == 200)
        #expect(try await server.request(.DELETE, "/v2/team/gone/manifests/\(digest)").status == 202)
        #expect(try await server.request(.GET, "/v2/team/gone/manifests/v2").status == 404)
        #expect(try await server.request(.DELETE, "/v2/team/gone/manifests/\(digest)").status == 404)

        struct M: Decodable { struct D: Decodable { var digest: Digest }; var config: D }
        let config = try JSONDecoder().decode(M.self, from: Data(manifest)).config.digest
        #expect(try await server.request(.DELETE, "/v2/team/gone/blobs/\(config)").status == 202)
        #expect(try await server.request(.GET, "/v2/team/gone/blobs/\(config)").status == 404)
    }
}

/// The methods the tests send.
enum HTTPMethodName: String, CustomStringConvertible {
    case GET, HEAD
    var nio: NIOHTTPMethod { self == .GET ? .GET : .HEAD }
    var description: String { rawValue }
}

/// A TCP client that writes raw bytes: what a crashed, cut-off, idle or HTTP/1.0 client sends.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StrataError.posix("socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw StrataError.posix("connect", errno: errno)
        }
    }

    deinit { close(fd) }

    func write(_ text: String) { write(Array(text.utf8)) }
    func write(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }

    /// What arrives within `seconds` (or until `enough` says the text is complete), and whether
    /// the server closed the connection by then. It waits on a thread of its own: blocking one of
    /// the few threads async code shares would starve the in-process server that is to answer.
    func read(for seconds: Double, until enough: @escaping @Sendable (String) -> Bool = { _ in false }) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.blockingRead(for: seconds, until: enough)) }.start()
        }
    }

    private func blockingRead(for seconds: Double, until enough: (String) -> Bool) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) > 0 else { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<n]
            if enough(String(decoding: received, as: UTF8.self)) { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Writes the bytes and hangs up.
    static func send(port: Int, _ bytes: [UInt8]) throws {
        let connection = try RawConnection(port: port)
        connection.write(bytes)
        usleep(50_000)
    }
}
