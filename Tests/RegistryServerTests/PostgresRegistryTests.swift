import Foundation
import ImageSpec
import Metadata
import PostgresMetadata
@testable import RegistryServer
import RegistryTestSupport
import Testing

/// `metadata: {driver: postgres}`: the registry's metadata in a real PostgreSQL 15 on loopback,
/// one database per test; the same schema and versions as SQLite's.
@Suite(.serialized, .enabled(if: TestPostgres.installed, "PostgreSQL is not installed (make deps installs it)"))
struct PostgresRegistryTests {
    static func server(_ url: PostgresURL, root: String? = nil) async throws -> TestServer {
        try await TestServer.start(root: root) { $0.metadata = .postgres(url) }
    }

    static func temporaryRoot() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("strata-registry-\(UUID().uuidString)").path
    }

    @Test func pushesPullsTagsAndTheCatalogKeepTheirMetadataInPostgres() async throws {
        let url = try await TestPostgres.shared().database()
        let server = try await Self.server(url)
        defer { Task { await server.stop() } }
        let first = try await server.pushImage("team/app", tag: "1")
        _ = try await server.pushImage("team/app", tag: "2")
        _ = try await server.pushImage("busybox", tag: "latest")
        #expect(try await server.request(.GET, "/v2/team/app/manifests/1").body == first)
        #expect(try await server.request(.GET, "/v2/team/app/tags/list").text == #"{"name":"team/app","tags":["1","2"]}"#)
        #expect(try await server.request(.GET, "/v2/_catalog").text == #"{"repositories":["library/busybox","team/app"]}"#)
        try await expectPullsBack(server, "team/app", "1")
        try await expectPullsBack(server, "busybox", "latest")

        // Moving a tag is one upsert; deleting a manifest takes its tags with it.
        #expect(try await server.request(.PUT, "/v2/team/app/manifests/2", headers: [("Content-Type", MediaType.ociManifest.rawValue)],
                                         body: first).status == 201)
        #expect(try await server.request(.DELETE, "/v2/team/app/manifests/\(Digest.sha256(of: first))").status == 202)
        #expect(try await server.request(.GET, "/v2/team/app/tags/list").text == #"{"name":"team/app","tags":[]}"#)

        // Nothing of it under the root: the rows are PostgreSQL's.
        #expect(!FileManager.default.fileExists(atPath: server.root + "/registry.db"))
        let rows = try PostgreSQLDatabase(url).query("SELECT name FROM repositories ORDER BY name")
        #expect(rows.compactMap { $0.string(0) } == ["library/busybox", "team/app"])
    }

    @Test func theSchemaHasSQLitesVersionsAndANewerOneIsRefused() async throws {
        let url = try await TestPostgres.shared().database()
        _ = try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url))
        let sqliteRoot = Self.temporaryRoot()
        _ = try RegistryStorage(root: sqliteRoot)
        let database = try PostgreSQLDatabase(url)
        let version = try #require(try database.query("SELECT version FROM strata_schema").first?.int(0))
        #expect(version == Int64(try Database(path: sqliteRoot + "/registry.db").userVersion))
        #expect(RegistryStorage.postgresMigrations.count == RegistryStorage.migrations.count)

        // A second replica opening the same database migrates nothing.
        _ = try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url))
        #expect(try database.query("SELECT version FROM strata_schema").first?.int(0) == version)

        try database.execute("UPDATE strata_schema SET version = 99")
        #expect { try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url)) } throws: { error in
            (error as? StrataError)?.code == .database && (error as? StrataError)?.message.contains("newer than this Strata's") == true
        }
    }

    /// Wrong credentials and a missing database stop the server before it listens, saying which.
    @Test(arguments: ["password", "database"])
    func aBadURLIsNamedBeforeTheServerListens(_ wrong: String) async throws {
        var url = try await TestPostgres.shared().database()
        if wrong == "password" { url.password = "not-the-password" } else { url.database = "no_such_database" }
        await #expect { _ = try await Self.server(url) } throws: { error in
            let e = error as? StrataError
            let hint = wrong == "password" ? "refused the credentials" : "create it (createdb)"
            return e?.code == .database && e?.message.contains(hint) == true && e?.message.contains("not-the-password") == false
        }
    }

    @Test func accountsOrganisationsAndTokensLiveInPostgres() async throws {
        let url = try await TestPostgres.shared().database()
        let storage = try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url))
        try storage.addUser("alice", password: "correct horse battery")
        try storage.addUser("bob", password: "correct horse battery")
        try storage.addOrganization("acme", owner: "alice")
        try storage.setMember("acme", "bob", role: .member)
        try storage.setMember("acme", "bob", role: .owner)
        #expect(try storage.members("acme").map { "\($0.user):\($0.role.rawValue)" } == ["alice:owner", "bob:owner"])
        let (token, secret) = try storage.createToken(user: "bob", scope: .read)
        #expect(try storage.tokens(user: "bob").map(\.id) == [token.id])
        #expect(try storage.authenticate(user: "bob", secret: secret).user == "bob")
        // Another replica sees the same accounts at once.
        let other = try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url))
        #expect(try other.authenticate(user: "alice", secret: "correct horse battery").user == "alice")
        try other.revokeToken(token.id)
        #expect(throws: StrataError.self) { try storage.authenticate(user: "bob", secret: secret) }
    }

    @Test func garbageCollectionKeepsWhatIsNamedAndTakesTheRest() async throws {
        let url = try await TestPostgres.shared().database()
        let server = try await Self.server(url)
        defer { Task { await server.stop() } }
        _ = try await server.pushImage("gc/kept", tag: "v1")
        let gone = try await server.pushImage("gc/gone", tag: "v1")
        let orphan = try await server.pushBlob("gc/kept", Array("uploaded, never named".utf8))
        #expect(try await server.request(.DELETE, "/v2/gc/gone/manifests/\(Digest.sha256(of: gone))").status == 202)

        let storage = try RegistryStorage(root: server.root, metadata: .postgres(url))
        #expect(try storage.collectGarbage(grace: 3600).blobs.isEmpty)
        let report = try storage.collectGarbage(grace: 0)
        #expect(Set(report.blobs) == [orphan, Digest.sha256(of: gone), try layers(of: gone)[0]])
        try await expectPullsBack(server, "gc/kept", "v1")
        #expect(try PostgreSQLDatabase(url).query("SELECT 1 FROM gc_deleting").isEmpty)
    }

    @Test func tagsMovedWithinOneSecondListInTheOrderTheyMoved() async throws {
        let url = try await TestPostgres.shared().database()
        let server = try await Self.server(url)
        defer { Task { await server.stop() } }
        try await expectNewestMoveFirst(server, RegistryStorage(root: server.root, metadata: .postgres(url)))
    }

    @Test func theAnonymousPullLimitIsOneAcrossReplicas() async throws {
        let url = try await TestPostgres.shared().database()
        let first = try await TestServer.start { $0.metadata = .postgres(url); $0.anonymousPullLimit = "3/1h" }
        defer { Task { await first.stop() } }
        _ = try await first.pushImage("alice/app", tag: "1")
        // The blobs on one disk both see, as over one bucket; the counts in the database.
        let second = try await TestServer.start(root: first.root) { $0.metadata = .postgres(url); $0.anonymousPullLimit = "3/1h" }
        defer { Task { await second.stop() } }
        try await expectOneLimit(across: first, second)
    }

    /// An advisory lock: while one replica collects, another one's collection waits for it.
    @Test func oneReplicaCollectsAtATime() async throws {
        let url = try await TestPostgres.shared().database()
        let first = try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url))
        let second = try RegistryStorage(root: Self.temporaryRoot(), metadata: .postgres(url))
        var held: AnyObject? = try first.collectionLock()
        #expect(held != nil)
        let acquired = Flag()
        let waiter = Thread {
            let lock = try? second.collectionLock()
            acquired.value = lock != nil
        }
        waiter.start()
        try await Task.sleep(for: .milliseconds(500))
        #expect(!acquired.value, "the second replica took the lock the first one holds")
        held = nil
        for _ in 0..<200 where !acquired.value { try await Task.sleep(for: .milliseconds(50)) }
        #expect(acquired.value)
    }

    /// PostgreSQL going away and coming back: each request meanwhile gets a 503 that names the
    /// database, nothing half-pushed is visible, and the next request connects again.
    @Test func aRestartOfPostgresLosesNothingAndIsSaidClearly() async throws {
        let postgres = try await TestPostgres.start()
        defer { postgres.stop() }
        let url = try await postgres.database()
        let server = try await Self.server(url)
        defer { Task { await server.stop() } }
        _ = try await server.pushImage("r/kept", tag: "1")

        try await postgres.stopServer()
        let down = try await server.request(.GET, "/v2/r/kept/manifests/1")
        #expect(down.status == 503 && down.text.contains("metadata database"), "\(down.status) \(down.text.prefix(300))")
        await #expect(throws: (any Error).self) { try await server.pushImage("r/lost", tag: "1") }
        try await postgres.restart()

        try await expectPullsBack(server, "r/kept", "1")
        #expect(try await server.request(.GET, "/v2/r/lost/manifests/1").status == 404)

        // Pushes running while the server restarts: each one lands whole or not at all.
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<12 {
                group.addTask {
                    do { _ = try await server.pushImage("r/busy", tag: "\(i)"); return true } catch { return false }
                }
            }
            group.addTask {
                try await postgres.restart()
                return true
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count == 13)
        _ = try await server.pushImage("r/busy", tag: "after")
        let listed = try await server.request(.GET, "/v2/r/busy/tags/list")
        struct Tags: Decodable { var tags: [String] }
        for tag in try JSONDecoder().decode(Tags.self, from: Data(listed.body)).tags {
            try await expectPullsBack(server, "r/busy", tag)
        }
        let report = try RegistryStorage(root: server.root, metadata: .postgres(url)).check()
        #expect(report.outcome == .clean, "\(report)")
    }
}
