import Foundation
import ImageSpec
import ImageStore
import Registry
import RegistryTestSupport
import Testing
@testable import Transfer

/// Pulls from the in-process registry through `Copier`, into the real store and OCI layouts.
struct RegistryPullTests {
    static func client(_ registry: InProcessRegistry, transport: HTTPTransport = .quick) -> RegistryClient {
        RegistryClient(endpoint: RegistryEndpoint(name: registry.host, host: registry.host, transports: [.http]), credentials: nil, transport: transport)
    }

    /// An image of uncompressed tar layers (their digests are their diff IDs).
    static func tarImage() throws -> TestImage {
        try TestImage(layers: [
            (try Layers.tar(["etc/motd": "hello\n", "bin/tool": String(repeating: "x", count: 50_000)]), .ociLayer),
            (try Layers.tar(["srv/data": String(repeating: "data ", count: 20_000)]), .ociLayer),
        ])
    }

    static func temporaryDirectory(_ what: String) -> String {
        let path = NSTemporaryDirectory() + "strata-\(what)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func store() throws -> ImageStore { try ImageStore(root: temporaryDirectory("transfer-store")) }

    /// Cut connections, resumed (once with 206, once answered 200), still store the image whole.
    @Test func aPullSurvivesCutsAndWholeAnswersToRanges() async throws {
        let registry = try await InProcessRegistry.start()
        let image = try Self.tarImage()
        registry.put(image, in: "lab/app", tag: "1")
        registry.inject(.dropResponse(afterBytes: 1_234)) { $0.path.hasSuffix(image.layers[0].digest.description) }
        registry.inject(.dropResponse(afterBytes: 1_000)) { $0.path.hasSuffix(image.layers[1].digest.description) }
        registry.inject(.ignoreRange) { $0.path.hasSuffix(image.layers[1].digest.description) && $0.header("Range") != nil }
        let store = try Self.store()
        let ref = try Reference(parsing: "\(registry.host)/lab/app:1")
        let destination = try StoreDestination(store: store, snapshotter: nil, tags: [ref], repository: ref.name)
        let result = try await Copier.copy(from: RegistrySource(client: Self.client(registry), repository: "lab/app", reference: "1"),
                                           to: destination)
        await registry.stop()
        #expect(result.manifestDigest == image.manifestDigest)
        #expect(try store.taggedImage(ref) == image.config.digest)
        for layer in image.layers { #expect(store.content.contains(layer.digest)) }
        let ranged = registry.requests.filter { $0.header("Range") != nil }
        // The layers move at once: in either order, one resumed with 206, the other answered 200.
        let answers = ranged.map { "\($0.header("Range") ?? "") \($0.status)" }.sorted()
        #expect(answers == ["bytes=1000- 200", "bytes=1234- 206"], "\(answers)")
    }

    enum Corruption: CaseIterable { case layer, config, manifest }

    /// A registry serving bytes that do not match their digest: the pull fails as a digest
    /// mismatch and neither the store nor an OCI layout keeps anything of it.
    @Test(arguments: Corruption.allCases)
    func wrongBytesFailAndLeaveNothing(_ corruption: Corruption) async throws {
        let registry = try await InProcessRegistry.start()
        let image = try Self.tarImage()
        registry.put(image, in: "bad/app", tag: "1")
        /// The same bytes with one of them changed (in a file's content, past the first tar header).
        func flipped(_ bytes: [UInt8], at offset: Int) -> [UInt8] {
            var copy = bytes
            copy[offset] ^= 0x01
            return copy
        }
        var reference = "1"
        switch corruption {
        case .layer:
            registry.putBlob(flipped(image.layerBytes[1], at: 600), as: image.layers[1].digest, in: "bad/app")
        case .config:
            registry.putBlob(flipped(image.configBytes, at: image.configBytes.count / 2), as: image.config.digest, in: "bad/app")
        case .manifest:
            // Asked for by digest, the manifest's bytes must hash to it.
            reference = image.manifestDigest.description
            registry.putManifest(flipped(image.manifestBytes, at: image.manifestBytes.count - 3), mediaType: .ociManifest,
                                 as: reference, in: "bad/app")
        }
        let client = Self.client(registry)

        let store = try Self.store()
        let ref = try Reference(parsing: "\(registry.host)/bad/app:1")
        let storeDestination = try StoreDestination(store: store, snapshotter: nil, tags: [ref], repository: ref.name)
        await #expect { try await Copier.copy(from: RegistrySource(client: client, repository: "bad/app", reference: reference),
                                              to: storeDestination) } throws: { ($0 as? StrataError)?.code == .digestMismatch }
        // No image, no name; of the blobs, at most the verified ones (a corrupt config or
        // manifest fails before any layer moves).
        #expect(try store.images().isEmpty && store.taggedImage(ref) == nil)
        let verified = corruption == .layer ? [image.layers[0].digest] : []
        #expect(Set(store.content.list()).isSubset(of: verified), "blobs in the store: \(store.content.list())")

        let layout = Self.temporaryDirectory("layout")
        let layoutDestination = try LayoutDestination(format: .ociLayout, path: layout, reference: "bad")
        await #expect { try await Copier.copy(from: RegistrySource(client: client, repository: "bad/app", reference: reference),
                                              to: layoutDestination) } throws: { ($0 as? StrataError)?.code == .digestMismatch }
        #expect(!FileManager.default.fileExists(atPath: "\(layout)/index.json"))
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(layout)/blobs/sha256")
        #expect(Set(files).isSubset(of: verified.map(\.encoded)), "files in the layout: \(files)")
        await registry.stop()
    }

    /// The whole pipeline through `HTTP_PROXY`, to a registry only the proxy can find.
    @Test func aPullThroughAProxy() async throws {
        let registry = try await InProcessRegistry.start()
        let image = try Self.tarImage()
        registry.put(image, in: "proxied/app", tag: "1")
        let proxy = try await TestProxy.start(aliases: ["registry.strata.test": "127.0.0.1"])
        let transport = HTTPTransport.forTests(proxies: ProxyConfiguration(environment: ["HTTP_PROXY": proxy.url]))
        let host = "registry.strata.test:\(registry.port)"
        let client = RegistryClient(endpoint: RegistryEndpoint(name: host, host: host, transports: [.http]), credentials: nil, transport: transport)
        let destination = MemoryDestination()
        let result = try await Copier.copy(from: RegistrySource(client: client, repository: "proxied/app", reference: "1"), to: destination)
        #expect(result.manifestDigest == image.manifestDigest)
        #expect(Set(destination.blobs.keys) == Set(image.layers.map(\.digest) + [image.config.digest]))
        #expect(proxy.relayed >= 1 && proxy.requests.allSatisfy { $0.target == host })
        try await transport.shutdown()
        await proxy.stop()
        await registry.stop()
    }
}
