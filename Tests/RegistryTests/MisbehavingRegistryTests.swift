import Foundation
import ImageSpec
import RegistryTestSupport
import Testing
@testable import Registry

/// Registries that lie or loop: each ends in a clear error, with nothing kept in memory past a bound.
struct MisbehavingRegistryTests {
    @Test func aFiftyMegabyteManifestIsRefusedUnread() async throws {
        let registry = try await InProcessRegistry.start()
        let huge = Array(#"{"schemaVersion":2,"layers":[],"pad":""#.utf8) + [UInt8](repeating: 0x20, count: 50 << 20) + Array(#""}"#.utf8)
        _ = registry.putManifest(huge, mediaType: .ociManifest, in: "big/app", tag: "1")
        await #expect { _ = try await client(registry).manifest("big/app", reference: "1") } throws: { error in
            (error as? StrataError)?.message.contains("a manifest larger than 8 MiB, far past any image's: refused") == true
        }
        await registry.stop()
    }

    @Test func aRedirectLoopEndsAfterTen() async throws {
        let registry = try await InProcessRegistry.start()
        let blob = registry.putBlob(randomBytes(1000), in: "loop/app")
        registry.inject(.status(307, headers: ["Location": "/v2/loop/app/blobs/\(blob.digest)"]), times: 100) { $0.path.contains("/blobs/") }
        await #expect { _ = try await download(client(registry), "loop/app", blob) } throws: { error in
            (error as? StrataError)?.message == "blob \(blob.digest): too many redirects"
        }
        #expect(registry.requests.filter { $0.path.contains("/blobs/") }.count == 11)
        await registry.stop()
    }
}
