import AsyncHTTPClient
import Foundation
import Logging
import ImageSpec
import NIOCore
import NIOHTTP1
import RegistryServer

typealias NIOHTTPMethod = NIOHTTP1.HTTPMethod

/// A registry server inside the test process, on a free port of 127.0.0.1, over a fresh root.
final class TestServer: @unchecked Sendable {
    let root: String
    let port: Int
    private let task: Task<Void, any Error>
    private let shutdown: RegistryServer.Shutdown
    private let lock = NSLock()
    private var records: [AccessRecord] = []

    static func start(root: String? = nil, configure: (inout RegistryServer.Configuration) -> Void = { _ in }) async throws -> TestServer {
        let root = root ?? FileManager.default.temporaryDirectory.appendingPathComponent("strata-registry-\(UUID().uuidString)").path
        var configuration = RegistryServer.Configuration(root: root)
        configuration.port = 0
        configure(&configuration)
        // Quiet: Hummingbird reports a test's dropped connections at error level.
        var logger = Logger(label: "strata.registry.test")
        logger.logLevel = .critical
        let server = try RegistryServer(configuration: configuration, logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let box = RecordBox()
        let shutdown = RegistryServer.Shutdown()
        let task = Task {
            try await server.run(handlingSignals: false, shutdown: shutdown, accessLog: { box.append($0) }, onListening: { continuation.yield($0) })
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw StrataError(.io, "the test registry did not start") }
        let handle = TestServer(root: root, port: port, task: task, shutdown: shutdown)
        box.owner = handle
        return handle
    }

    private init(root: String, port: Int, task: Task<Void, any Error>, shutdown: RegistryServer.Shutdown) {
        self.root = root
        self.port = port
        self.task = task
        self.shutdown = shutdown
    }

    /// Gracefully, as SIGTERM would: cancelling the task could leave an accepted connection
    /// unserved, which swift-nio traps on.
    func stop() async {
        await shutdown.trigger()
        _ = try? await task.value
    }

    var accessLog: [AccessRecord] { lock.withLock { records } }
    fileprivate func record(_ r: AccessRecord) { lock.withLock { records.append(r) } }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Sent with every request that names no Authorization of its own (a Hub test's signed-in caller).
    var authorization: String? {
        get { lock.withLock { signedIn } }
        set { lock.withLock { signedIn = newValue } }
    }
    private var signedIn: String?

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        /// The first error code of a spec error body.
        var errorCode: String? {
            struct Document: Decodable { struct Entry: Decodable { var code: String }; var errors: [Entry] }
            return (try? JSONDecoder().decode(Document.self, from: Data(body)))?.errors.first?.code
        }
        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    /// One request; `body` bytes, with any extra headers.
    func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let authorization, !headers.contains(where: { $0.0.lowercased() == "authorization" }) {
            request.headers.add(name: "Authorization", value: authorization)
        }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        // Generous: the whole suite runs at once on two cores, beside an object store.
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
    }

    /// Pushes a blob in one POST; returns its digest.
    @discardableResult
    func pushBlob(_ repository: String, _ bytes: [UInt8]) async throws -> Digest {
        let digest = Digest.sha256(of: bytes)
        let answer = try await request(.POST, "/v2/\(repository)/blobs/uploads/?digest=\(digest)", body: bytes)
        guard answer.status == 201 else { throw StrataError(.io, "blob push answered \(answer.status): \(answer.text)") }
        return digest
    }

    /// Pushes a config and one layer and an OCI manifest naming them under `tag`; returns the manifest's bytes.
    func pushImage(_ repository: String, tag: String, layer: [UInt8] = Array("layer \(UUID())".utf8),
                   extra: [String: String] = [:]) async throws -> [UInt8] {
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configDigest = try await pushBlob(repository, config)
        let layerDigest = try await pushBlob(repository, layer)
        let manifest = Self.manifest(config: (configDigest, config.count), layers: [(layerDigest, layer.count)], extra: extra)
        let answer = try await request(.PUT, "/v2/\(repository)/manifests/\(tag)",
                                       headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: manifest)
        guard answer.status == 201 else { throw PushRefused(status: answer.status, code: answer.errorCode, text: answer.text) }
        return manifest
    }

    static func manifest(config: (Digest, Int), layers: [(Digest, Int)], configType: String = MediaType.ociConfig.rawValue,
                         extra: [String: String] = [:]) -> [UInt8] {
        var fields = [
            #""schemaVersion":2"#,
            #""mediaType":"\#(MediaType.ociManifest.rawValue)""#,
            #""config":{"mediaType":"\#(configType)","digest":"\#(config.0)","size":\#(config.1)}"#,
            #""layers":[\#(layers.map { #"{"mediaType":"\#(MediaType.ociLayerGzip.rawValue)","digest":"\#($0.0)","size":\#($0.1)}"# }.joined(separator: ","))]"#,
        ]
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(key)\":\(value)") }
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }
}

private final class RecordBox: @unchecked Sendable {
    weak var owner: TestServer?
    func append(_ record: AccessRecord) { owner?.record(record) }
}

/// A manifest PUT the registry refused, with the spec's error code.
struct PushRefused: Error {
    var status: Int
    var code: String?
    var text: String
}
