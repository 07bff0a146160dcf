import Foundation
import ImageSpec
import NIOCore
import RegistryTestSupport
import Testing
@testable import Registry

/// A client for an in-process registry, over plain HTTP, with quick retries.
func client(_ registry: InProcessRegistry, credentials: Credentials? = nil, transport: HTTPTransport = .quick) -> RegistryClient {
    RegistryClient(endpoint: RegistryEndpoint(name: registry.host, host: registry.host, transports: [registry.tls ? .httpsUnverified : .http]),
                   credentials: credentials, transport: transport)
}

func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

/// Collects a whole blob through `fetchBlob`.
func download(_ client: RegistryClient, _ repository: String, _ blob: Descriptor,
              onResume: (@Sendable (Int64) -> Void)? = nil) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    try await client.fetchBlob(repository, blob, onResume: onResume) { bytes.append(contentsOf: $0.readableBytesView) }
    return bytes
}

final class Offsets: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int64] = []
    func append(_ v: Int64) { lock.withLock { values.append(v) } }
    var all: [Int64] { lock.withLock { values } }
}

struct BlobResumeTests {
    static let size = 300

    /// The connection drops after `cut` bytes once: the download resumes from exactly there and
    /// every byte arrives once.
    @Test(arguments: 0..<size)
    func resumesAtEveryByteBoundary(_ cut: Int) async throws {
        let registry = try await InProcessRegistry.start()
        let bytes = randomBytes(Self.size)
        let blob = registry.putBlob(bytes, in: "cut/app")
        registry.inject(.dropResponse(afterBytes: cut)) { $0.method == "GET" && $0.path.hasSuffix(blob.digest.description) }
        let resumed = Offsets()
        let got = try await download(client(registry), "cut/app", blob, onResume: { resumed.append($0) })
        await registry.stop()
        #expect(got == bytes)
        #expect(Digest.sha256(of: got) == blob.digest)
        #expect(resumed.all == [Int64(cut)])
        let gets = registry.requests.filter { $0.method == "GET" }
        #expect(gets.count == 2)
        #expect(gets.last?.header("Range") == (cut == 0 ? nil : "bytes=\(cut)-"))
        #expect(gets.last?.status == (cut == 0 ? 200 : 206))
    }

    /// A registry that answers a Range request with 200 and the whole blob: the bytes already
    /// handed on are skipped, not repeated.
    @Test func aWholeAnswerToARangeRequestIsSkippedTo() async throws {
        let registry = try await InProcessRegistry.start()
        let bytes = randomBytes(100_000)
        let blob = registry.putBlob(bytes, in: "range/app")
        registry.inject(.dropResponse(afterBytes: 1_000)) { $0.method == "GET" && $0.path.contains("/blobs/") }
        registry.inject(.ignoreRange) { $0.header("Range") != nil }
        let got = try await download(client(registry), "range/app", blob)
        await registry.stop()
        #expect(got == bytes)
        let gets = registry.requests.filter { $0.method == "GET" }
        #expect(gets.map(\.status) == [200, 200])
        #expect(gets.last?.header("Range") == "bytes=1000-")
    }

    /// A registry whose blob has another size than its descriptor: refused at once, not resumed.
    @Test(arguments: [999, 1001])
    func aBlobOfAnotherSizeIsRefused(_ size: Int) async throws {
        let registry = try await InProcessRegistry.start()
        let blob = Descriptor(mediaType: .ociLayer, digest: Digest.sha256(of: randomBytes(1000)), size: 1000)
        registry.putBlob(randomBytes(size), as: blob.digest, in: "size/app")
        await #expect { try await download(client(registry), "size/app", blob) } throws: { ($0 as? StrataError)?.code == .sizeMismatch }
        await registry.stop()
        #expect(registry.requests.count == 1)
    }

    /// A connection that keeps dropping before any byte: the download gives up after the
    /// retries, saying how far it got, the failure kept as the cause.
    @Test func givesUpAfterRetriesWithoutProgress() async throws {
        let registry = try await InProcessRegistry.start()
        let bytes = randomBytes(1000)
        let blob = registry.putBlob(bytes, in: "drop/app")
        registry.inject(.dropResponse(afterBytes: 10)) { $0.method == "GET" }
        registry.inject(.dropResponse(afterBytes: 0), times: 100) { $0.method == "GET" }
        await #expect { try await download(client(registry), "drop/app", blob) } throws: { error in
            guard let e = error as? StrataError else { return false }
            return e.code == .unreachable && e.message.contains("after 10 of 1000 bytes") && e.cause(as: ConnectionFailure.self)?.kind == .closed
        }
        await registry.stop()
        // The first cut made progress; then one attempt and four retries without any.
        #expect(registry.requests.filter { $0.method == "GET" }.count == 1 + 1 + 4)
    }
}

struct RegistryAuthTests {
    @Test func basicCredentialsAreSentOnceChallenged() async throws {
        let registry = try await InProcessRegistry.start(auth: .basic(username: "alice", password: "wonderland"))
        let manifest = Array(#"{"schemaVersion":2}"#.utf8)
        registry.putManifest(manifest, mediaType: .ociManifest, in: "private/app", tag: "1")
        let c = client(registry, credentials: Credentials(username: "alice", password: "wonderland"))
        #expect(try await c.manifest("private/app", reference: "1").bytes == manifest)
        #expect(try await c.manifest("private/app", reference: "1").bytes == manifest)
        let statuses = registry.requests.map(\.status)
        #expect(statuses == [401, 200, 200], "challenged once, then credentials on every request")

        for credentials in [Credentials(username: "alice", password: "wrong"), nil] {
            await #expect { try await client(registry, credentials: credentials).manifest("private/app", reference: "1") } throws: { error in
                guard let e = error as? StrataError else { return false }
                return e.code == .unauthorized && e.message.contains("pull access denied for \(registry.host)/private/app")
                    && e.cause(as: RegistryResponseError.self)?.status == 401
            }
        }
        await registry.stop()
    }

    @Test func bearerTokensAreCachedAndAnExpiredOneIsRefreshed() async throws {
        let registry = try await InProcessRegistry.start(auth: .bearer(.init(username: "bob", password: "builder", anonymousPull: false,
                                                                              lifetime: 600, advertisedLifetime: 1)))
        let manifest = Array(#"{"schemaVersion":2}"#.utf8)
        registry.putManifest(manifest, mediaType: .ociManifest, in: "tokens/app", tag: "1")
        let c = client(registry, credentials: Credentials(username: "bob", password: "builder"))
        #expect(try await c.manifest("tokens/app", reference: "1").bytes == manifest)
        #expect(try await c.manifest("tokens/app", reference: "1").bytes == manifest)
        #expect(registry.tokensIssued == 1, "one token serves every request of its scope")
        // The registry said a second; the client keeps tokens for a minute (as Docker, which
        // never trusts a lifetime under 60 s). Once the registry refuses it, it is replaced.
        registry.expireTokens()
        #expect(try await c.manifest("tokens/app", reference: "1").bytes == manifest)
        #expect(registry.tokensIssued == 2)
        #expect(await c.tokenRequests == 2)
        let last = registry.requests.suffix(3).map(\.status)
        #expect(last == [401, 200, 200], "the expired token is refused, a new one fetched, the request repeated")
        await registry.stop()
    }

    @Test func anIdentityTokenUsesTheRefreshGrant() async throws {
        let registry = try await InProcessRegistry.start(auth: .bearer(.init(identityToken: "refresh-me", anonymousPull: false)))
        let manifest = Array(#"{"schemaVersion":2}"#.utf8)
        registry.putManifest(manifest, mediaType: .ociManifest, in: "idt/app", tag: "1")
        let c = client(registry, credentials: Credentials(username: "", password: "", identityToken: "refresh-me"))
        #expect(try await c.manifest("idt/app", reference: "1").bytes == manifest)
        #expect(registry.requests.contains { $0.method == "POST" && $0.path == "/token" && $0.status == 200 })
        await #expect { try await client(registry, credentials: Credentials(username: "", password: "", identityToken: "stale"))
            .manifest("idt/app", reference: "1") } throws: { ($0 as? StrataError)?.code == .unauthorized }
        await registry.stop()
    }

    @Test func anonymousTokensOnlyPull() async throws {
        let registry = try await InProcessRegistry.start(auth: .bearer(.init(username: "bob", password: "builder")))
        let c = client(registry)
        #expect(try await c.blobExists("anon/app", Digest.sha256(of: [1])) == false)
        await #expect { try await c.startUpload("anon/app") } throws: { error in
            guard let e = error as? StrataError else { return false }
            return e.code == .unauthorized && e.message.hasPrefix("denied: requested access to the resource is denied")
        }
        await registry.stop()
    }
}

struct RegistryRetryTests {
    static let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.utf8)

    func registryWithManifest() async throws -> InProcessRegistry {
        let registry = try await InProcessRegistry.start()
        registry.putManifest(Self.manifest, mediaType: .ociManifest, in: "retry/app", tag: "1")
        return registry
    }

    @Test(arguments: [429, 502, 503, 504])
    func transientAnswersAreRetried(_ status: Int) async throws {
        let registry = try await registryWithManifest()
        registry.inject(.status(status), times: 2) { $0.path.contains("/manifests/") }
        #expect(try await client(registry).manifest("retry/app", reference: "1").bytes == Self.manifest)
        await registry.stop()
        #expect(registry.requests.map(\.status) == [status, status, 200])
    }

    @Test func aDroppedConnectionIsRetried() async throws {
        let registry = try await registryWithManifest()
        registry.inject(.dropRequest(afterBytes: 0), times: 2)
        #expect(try await client(registry).manifest("retry/app", reference: "1").bytes == Self.manifest)
        await registry.stop()
        #expect(registry.requests.map(\.status) == [0, 0, 200])
    }

    /// Answers that retrying cannot change are final at once, and say what they are.
    @Test(arguments: [(400, "NAME_INVALID", StrataError.Code.registry), (401, "UNAUTHORIZED", .unauthorized), (403, "DENIED", .denied),
                      (404, "MANIFEST_UNKNOWN", .manifestUnknown), (405, "UNSUPPORTED", .registry), (500, "UNKNOWN", .registry)])
    func finalAnswersAreNotRetried(_ status: Int, _ ociCode: String, _ code: StrataError.Code) async throws {
        let registry = try await registryWithManifest()
        registry.inject(.status(status, code: ociCode), times: 10)
        await #expect { try await client(registry).manifest("retry/app", reference: "1") } throws: { error in
            guard let e = error as? StrataError, let answer = e.cause(as: RegistryResponseError.self) else { return false }
            return e.code == code && answer.status == status && answer.has(ociCode) && answer.method == "GET"
                && answer.path == "/v2/retry/app/manifests/1" && !e.isRetryable
        }
        await registry.stop()
        #expect(registry.requests.count == 1)
    }

    @Test(arguments: [(503, StrataError.Code.registry), (429, .tooManyRequests)])
    func retriesAreBounded(_ status: Int, _ code: StrataError.Code) async throws {
        let registry = try await registryWithManifest()
        registry.inject(.status(status), times: 100)
        await #expect { try await client(registry).manifest("retry/app", reference: "1") } throws: { error in
            guard let e = error as? StrataError else { return false }
            return e.code == code && e.cause(as: RegistryResponseError.self)?.status == status
        }
        await registry.stop()
        #expect(registry.requests.count == 1 + 4)
    }

    @Test func retryAfterIsHonoured() async throws {
        let registry = try await registryWithManifest()
        registry.inject(.status(429, headers: ["Retry-After": "1"]))
        let start = Date()
        #expect(try await client(registry).manifest("retry/app", reference: "1").bytes == Self.manifest)
        // The transport's own backoff is a millisecond: only Retry-After explains the wait.
        #expect(Date().timeIntervalSince(start) >= 0.95)
        await registry.stop()
    }

    @Test func aRefusedConnectionAtFirstContactFailsAtOnce() async throws {
        let endpoint = RegistryEndpoint(name: "127.0.0.1:1", host: "127.0.0.1:1", transports: [.http])
        let capture = LogCapture()
        let transport = HTTPTransport.forTests(logger: capture.logger())
        await #expect { try await RegistryClient(endpoint: endpoint, credentials: nil, transport: transport).manifest("x/y", reference: "1") } throws: { error in
            guard let e = error as? StrataError, let failure = e.cause(as: ConnectionFailure.self) else { return false }
            return e.code == .unreachable && e.message.hasPrefix("cannot reach registry 127.0.0.1:1") && failure.kind == .connectFailed
                && !failure.afterContact
        }
        // Not retried: nothing answers there, and nothing ever did.
        #expect(!capture.lines.contains { $0.message.hasPrefix("retry ") }, "\(capture.text)")
        try await transport.shutdown()
    }
}

struct RegistryErrorTests {
    @Test func aMissingManifestOrBlobKeepsTheAnswer() async throws {
        let registry = try await InProcessRegistry.start()
        let c = client(registry)
        await #expect { try await c.manifest("nosuch/img", reference: "1") } throws: { error in
            guard let e = error as? StrataError, let answer = e.cause(as: RegistryResponseError.self) else { return false }
            return e.code == .manifestUnknown && e.message == "manifest for \(registry.host)/nosuch/img:1 not found: manifest unknown: manifest unknown"
                && answer.status == 404 && answer.has("MANIFEST_UNKNOWN") && answer.path == "/v2/nosuch/img/manifests/1"
        }
        let missing = Descriptor(mediaType: .ociLayer, digest: Digest.sha256(of: [1, 2, 3]), size: 3)
        await #expect { try await download(c, "nosuch/img", missing) } throws: { error in
            guard let e = error as? StrataError else { return false }
            return e.code == .blobUnknown && e.cause(as: RegistryResponseError.self)?.has("BLOB_UNKNOWN") == true
        }
        await registry.stop()
    }

    @Test func aManifestWhoseBytesDoNotMatchItsDigestIsRefused() async throws {
        let registry = try await InProcessRegistry.start()
        let claimed = Digest.sha256(of: Array("the real manifest".utf8))
        registry.putManifest(Array(#"{"schemaVersion":2}"#.utf8), mediaType: .ociManifest, as: claimed.description, in: "bad/app")
        await #expect { try await client(registry).manifest("bad/app", reference: claimed.description) } throws: {
            ($0 as? StrataError)?.code == .digestMismatch
        }
        await registry.stop()
    }

    @Test func pushAndPullRoundTrip() async throws {
        let registry = try await InProcessRegistry.start()
        let c = client(registry)
        let bytes = randomBytes(200_000)
        let file = NSTemporaryDirectory() + "strata-push-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let blob = Descriptor(mediaType: .ociLayer, digest: Digest.sha256(of: bytes), size: Int64(bytes.count))
        for chunk: Int64? in [nil, 65_536] {
            guard case .session(let session) = try await c.startUpload("push/app") else { Issue.record("mounted"); return }
            try await c.upload("push/app", session: session, descriptor: blob, file: file, chunkSize: chunk)
        }
        #expect(registry.blob(blob.digest, in: "push/app") == bytes)
        #expect(registry.requests.filter { $0.method == "PATCH" }.count == 4)
        #expect(try await c.startUpload("other/app", mount: blob.digest, from: "push/app") == .mounted)
        // A file whose bytes do not match the digest it is pushed as never goes out whole: the
        // client stops before the last buffer, so no registry can take it.
        let wrong = Descriptor(mediaType: .ociLayer, digest: Digest.sha256(of: [0]), size: Int64(bytes.count))
        for chunk: Int64? in [nil, 65_536] {
            guard case .session(let session) = try await c.startUpload("push/app") else { return }
            await #expect { try await c.upload("push/app", session: session, descriptor: wrong, file: file, chunkSize: chunk) } throws: { error in
                (error as? StrataError)?.code == .damagedBlob
            }
        }
        #expect(registry.blob(wrong.digest, in: "push/app") == nil)
        await registry.stop()
    }
}
