import Foundation
import ImageSpec
import RegistryServer
import Testing

/// The web page lists a repository's tags newest first and offers the newest to pull: tags pushed
/// within one second (the clock's resolution in the table) keep the order they moved in.
@Suite struct TagOrderTests {
    @Test func tagsMovedWithinOneSecondListInTheOrderTheyMoved() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        try await expectNewestMoveFirst(server, RegistryStorage(root: server.root))
    }
}

/// Pushes 1, 2, 3 at once, then moves 1 onto 3's manifest: 1 is the newest, then 3, then 2.
func expectNewestMoveFirst(_ server: TestServer, _ storage: RegistryStorage) async throws {
    for tag in ["1", "2", "3"] { _ = try await server.pushImage("order/app", tag: tag) }
    #expect(try storage.taggedManifests("order/app").map(\.tag) == ["3", "2", "1"])
    let third = try await server.request(.GET, "/v2/order/app/manifests/3").body
    #expect(try await server.request(.PUT, "/v2/order/app/manifests/1", headers: [("Content-Type", MediaType.ociManifest.rawValue)],
                                     body: third).status == 201)
    let listed = try storage.taggedManifests("order/app")
    #expect(listed.map(\.tag) == ["1", "3", "2"])
    #expect(listed[0].digest == Digest.sha256(of: third))
}
