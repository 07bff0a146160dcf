import Foundation
import HummingbirdBcrypt
import ImageSpec
import NIOHTTP1
import RegistryServer
import Testing

/// The Hub's rules on a running server with token authentication: who is granted what, and the
/// exact answer of every refusal.
@Suite struct HubAccessTests {
    /// alice (user, owner of acme), bob (user, member of acme), root (admin); alice/public and
    /// alice/secret (private) pushed, acme/private created private.
    struct Hub {
        let server: TestServer
        let storage: RegistryStorage

        static func start(_ mode: AuthMode = .token) async throws -> Hub {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("strata-hub-\(UUID().uuidString)").path
            let storage = try RegistryStorage(root: root)
            try storage.addUser("alice", password: "alice-password")
            try storage.addUser("bob", password: "bob-password")
            try storage.addUser("root", password: "root-password", admin: true)
            try storage.addOrganization("acme", owner: "alice")
            try storage.setMember("acme", "bob", role: .member)
            try storage.createRepository("alice/secret", isPrivate: true)
            try storage.createRepository("acme/private", isPrivate: true)
            let server = try await TestServer.start(root: root) { $0.auth = mode }
            let hub = Hub(server: server, storage: storage)
            if mode == .basic {
                server.authorization = "Basic " + Data("alice:alice-password".utf8).base64EncodedString()
            } else {
                try await hub.signIn("alice", "alice-password", scopes: ["repository:alice/public:pull,push", "repository:alice/secret:pull,push"])
            }
            _ = try await server.pushImage("alice/public", tag: "1")
            _ = try await server.pushImage("alice/secret", tag: "1")
            server.authorization = nil
            return hub
        }

        /// GET /token as Docker asks for one; the answer and its decoded body.
        func token(_ user: String?, _ secret: String?, scopes: [String], extra: String = "") async throws -> (TestServer.Answer, TokenAnswer?) {
            let query = (["service=strata-registry"] + scopes.map { "scope=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) })
                .joined(separator: "&") + extra
            // The token request carries its own credentials, not the last token.
            server.authorization = nil
            var headers: [(String, String)] = []
            if let user, let secret { headers.append(("Authorization", "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString())) }
            let answer = try await server.request(.GET, "/token?\(query)", headers: headers)
            return (answer, try? JSONDecoder().decode(TokenAnswer.self, from: Data(answer.body)))
        }

        /// Signs the server's test client in: its later requests carry the bearer token.
        func signIn(_ user: String?, _ secret: String?, scopes: [String]) async throws {
            let (answer, token) = try await token(user, secret, scopes: scopes)
            guard let token else { throw StrataError(.unauthorized, "no token: \(answer.status) \(answer.text)") }
            server.authorization = "Bearer \(token.token)"
        }

        /// The actions granted to `user` for one scope.
        func granted(_ user: String?, _ secret: String?, _ scope: String) async throws -> [String] {
            let (answer, token) = try await token(user, secret, scopes: [scope])
            guard let token else { throw StrataError(.unauthorized, "no token: \(answer.status) \(answer.text)") }
            return try Self.claims(token.token).access.first?.actions ?? []
        }

        static func claims(_ jwt: String) throws -> Claims {
            let part = jwt.split(separator: ".")[1]
            var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while base64.count % 4 != 0 { base64 += "=" }
            return try JSONDecoder().decode(Claims.self, from: Data(base64Encoded: base64)!)
        }

        func stop() async { await server.stop() }
    }

    struct TokenAnswer: Decodable {
        var token: String
        var access_token: String
        var expires_in: Int
        var refresh_token: String?
    }

    struct Claims: Decodable {
        struct Entry: Decodable { var type: String; var name: String; var actions: [String] }
        var sub: String
        var aud: String
        var access: [Entry]
    }

    struct Grant: Sendable, CustomStringConvertible {
        var user: String?
        var scope: String
        var actions: [String]
        var description: String { "\(user ?? "anonymous") \(scope) → \(actions)" }
    }

    static let passwords = ["alice": "alice-password", "bob": "bob-password", "root": "root-password"]

    @Test(arguments: [
        Grant(user: "alice", scope: "repository:alice/app:pull,push,delete", actions: ["pull", "push", "delete"]),
        Grant(user: "alice", scope: "repository:bob/app:pull,push", actions: []),
        Grant(user: "bob", scope: "repository:alice/public:pull,push", actions: ["pull"]),
        Grant(user: "bob", scope: "repository:alice/secret:pull", actions: []),
        Grant(user: nil, scope: "repository:alice/public:pull,push", actions: ["pull"]),
        Grant(user: nil, scope: "repository:alice/secret:pull", actions: []),
        Grant(user: "bob", scope: "repository:acme/tool:pull,push,delete", actions: ["pull", "push"]),
        Grant(user: "alice", scope: "repository:acme/tool:delete", actions: ["delete"]),
        Grant(user: "bob", scope: "repository:acme/private:pull", actions: ["pull"]),
        Grant(user: "alice", scope: "repository:library/busybox:pull,push", actions: []),
        Grant(user: "alice", scope: "repository:busybox:push", actions: []),
        Grant(user: "root", scope: "repository:busybox:pull,push", actions: ["pull", "push"]),
        Grant(user: "root", scope: "repository:alice/secret:*", actions: ["pull", "push", "delete"]),
    ])
    func grantsFollowNamespacesAndVisibility(_ grant: Grant) async throws {
        let hub = try await Hub.start()
        let actions = try await hub.granted(grant.user, grant.user.flatMap { Self.passwords[$0] }, grant.scope)
        #expect(actions == grant.actions, "\(grant)")
        await hub.stop()
    }

    /// The token's claims are the distribution token spec's.
    @Test func aTokenHasTheSpecsClaims() async throws {
        let hub = try await Hub.start()
        let (answer, token) = try await hub.token("alice", "alice-password", scopes: ["repository:alice/app:pull,push"])
        #expect(answer.status == 200 && answer.header("Cache-Control") == "no-store")
        let claims = try Hub.claims(try #require(token).token)
        #expect(claims.sub == "alice" && claims.aud == "strata-registry")
        #expect(claims.access.map { "\($0.type) \($0.name) \($0.actions)" } == ["repository alice/app [\"pull\", \"push\"]"])
        #expect(token?.access_token == token?.token && token?.expires_in == 300)
        await hub.stop()
    }

    // MARK: refusals

    @Test func aWrongPasswordIsRefusedAtTheTokenEndpoint() async throws {
        let hub = try await Hub.start()
        let (answer, _) = try await hub.token("alice", "wrong-password", scopes: [])
        #expect(answer.status == 401 && answer.errorCode == "UNAUTHORIZED")
        #expect(answer.text.contains("incorrect username or password"))
        // An unknown user is told the same, so names cannot be fished for.
        let (unknown, _) = try await hub.token("nobody", "wrong-password", scopes: [])
        #expect(unknown.status == 401 && unknown.text == answer.text)
        await hub.stop()
    }

    @Test func expiredAndRevokedTokensSayWhat() async throws {
        let hub = try await Hub.start()
        let (expired, expiredSecret) = try hub.storage.createToken(user: "alice", scope: .write, expires: Date(timeIntervalSinceNow: -60))
        let (answer, _) = try await hub.token("alice", expiredSecret, scopes: [])
        #expect(answer.status == 401 && answer.text.contains("access token \(expired.id) expired on "), "\(answer.text)")

        let (revoked, revokedSecret) = try hub.storage.createToken(user: "alice", scope: .write)
        #expect(try await hub.token("alice", revokedSecret, scopes: []).0.status == 200)
        try hub.storage.revokeToken(revoked.id)
        let (after, _) = try await hub.token("alice", revokedSecret, scopes: [])
        #expect(after.status == 401 && after.text.contains("access token \(revoked.id) was revoked on "), "\(after.text)")
        #expect(try hub.storage.tokens(user: "alice").first { $0.id == revoked.id }?.revoked != nil)
        // Someone else's token is not a password for alice.
        let (_, bobs) = try hub.storage.createToken(user: "bob", scope: .read)
        #expect(try await hub.token("alice", bobs, scopes: []).0.text.contains("this access token is not alice's"))
        await hub.stop()
    }

    @Test func aTokenWhoseScopeIsTooNarrowIsDenied() async throws {
        let hub = try await Hub.start()
        let (_, read) = try hub.storage.createToken(user: "alice", scope: .read)
        try await hub.signIn("alice", read, scopes: ["repository:alice/app:pull,push"])
        let refused = try await hub.server.request(.POST, "/v2/alice/app/blobs/uploads/")
        #expect(refused.status == 403 && refused.errorCode == "DENIED")
        #expect(refused.text.contains("alice's access token has the read scope, which does not allow push"), "\(refused.text)")
        // One limited to a repository reaches no other.
        let (_, only) = try hub.storage.createToken(user: "alice", scope: .write, repository: "alice/one")
        #expect(try await hub.granted("alice", only, "repository:alice/two:pull,push") == [])
        try await hub.signIn("alice", only, scopes: ["repository:alice/two:pull,push"])
        let other = try await hub.server.request(.POST, "/v2/alice/two/blobs/uploads/")
        #expect(other.status == 403 && other.text.contains("alice's access token is for alice/one only, not alice/two"), "\(other.text)")
        await hub.stop()
    }

    @Test func aPushToSomeoneElsesNamespaceSaysWhoseItIs() async throws {
        let hub = try await Hub.start()
        try await hub.signIn("bob", "bob-password", scopes: ["repository:alice/app:pull,push"])
        let refused = try await hub.server.request(.POST, "/v2/alice/app/blobs/uploads/")
        #expect(refused.status == 403 && refused.errorCode == "DENIED")
        #expect(refused.text.contains("alice/app is in alice's namespace: only alice may push there, not bob"), "\(refused.text)")
        try await hub.signIn("alice", "alice-password", scopes: ["repository:busybox:pull,push"])
        let official = try await hub.server.request(.POST, "/v2/busybox/blobs/uploads/")
        #expect(official.status == 403 && official.text.contains("library/ holds the official images, which only an admin may push; alice is not an admin"),
                "\(official.text)")
        try await hub.signIn("bob", "bob-password", scopes: ["repository:acme/tool:delete"])
        let delete = try await hub.server.request(.DELETE, "/v2/acme/tool/manifests/sha256:\(String(repeating: "0", count: 64))")
        #expect(delete.status == 403 && delete.text.contains("delete in acme/ needs the owner role in the organisation acme; bob is a member"), "\(delete.text)")
        await hub.stop()
    }

    /// A private repository answers as one that does not exist: anonymously (a challenge) and to
    /// a signed-in stranger (not found), for the manifest, a blob and the tag list.
    @Test func aPrivateRepositoryLooksLikeNoRepository() async throws {
        let hub = try await Hub.start()
        let zero = "sha256:" + String(repeating: "0", count: 64)
        for caller in [nil, "bob"] as [String?] {
            for path in ["/v2/NAME/manifests/1", "/v2/NAME/blobs/\(zero)", "/v2/NAME/tags/list"] {
                try await hub.signIn(caller, caller.flatMap { Self.passwords[$0] }, scopes: ["repository:alice/secret:pull", "repository:alice/nothing:pull"])
                let secret = try await hub.server.request(.GET, path.replacingOccurrences(of: "NAME", with: "alice/secret"))
                let nothing = try await hub.server.request(.GET, path.replacingOccurrences(of: "NAME", with: "alice/nothing"))
                #expect(secret.status == (caller == nil ? 401 : 404), "\(path) \(secret.text)")
                #expect(secret.status == nothing.status && secret.text == nothing.text.replacingOccurrences(of: "alice/nothing", with: "alice/secret"))
                #expect(secret.header("WWW-Authenticate") == nothing.header("WWW-Authenticate")?.replacingOccurrences(of: "alice/nothing", with: "alice/secret"))
            }
        }
        // The owner pulls it.
        try await hub.signIn("alice", "alice-password", scopes: ["repository:alice/secret:pull"])
        #expect(try await hub.server.request(.GET, "/v2/alice/secret/manifests/1").status == 200)
        await hub.stop()
    }

    @Test func theCatalogShowsEachCallerWhatTheyMayPull() async throws {
        let hub = try await Hub.start()
        func catalog(_ user: String?) async throws -> [String] {
            try await hub.signIn(user, user.flatMap { Self.passwords[$0] }, scopes: ["registry:catalog:*"])
            let answer = try await hub.server.request(.GET, "/v2/_catalog")
            struct List: Decodable { var repositories: [String] }
            return try JSONDecoder().decode(List.self, from: Data(answer.body)).repositories
        }
        #expect(try await catalog(nil) == ["alice/public"])
        #expect(try await catalog("bob") == ["acme/private", "alice/public"])
        #expect(try await catalog("alice") == ["acme/private", "alice/public", "alice/secret"])
        #expect(try await catalog("root") == ["acme/private", "alice/public", "alice/secret"])
        await hub.stop()
    }

    @Test func withoutCredentialsThePingIsAChallenge() async throws {
        let hub = try await Hub.start()
        let ping = try await hub.server.request(.GET, "/v2/")
        #expect(ping.status == 401)
        #expect(ping.header("WWW-Authenticate") == "Bearer realm=\"\(hub.server.base)/token\",service=\"strata-registry\"")
        // A public repository needs no token to pull (curl needs no dance); anything else asks for one.
        #expect(try await hub.server.request(.GET, "/v2/alice/public/manifests/1").status == 200)
        let push = try await hub.server.request(.POST, "/v2/alice/public/blobs/uploads/")
        #expect(push.header("WWW-Authenticate") == "Bearer realm=\"\(hub.server.base)/token\",service=\"strata-registry\",scope=\"repository:alice/public:pull,push\"")
        await hub.stop()
    }

    @Test func repeatedFailuresAreThrottledPerUserAndAddress() async throws {
        let hub = try await Hub.start()
        for _ in 0..<5 { #expect(try await hub.token("alice", "guess-password", scopes: []).0.status == 401) }
        let (blocked, _) = try await hub.token("alice", "alice-password", scopes: [])
        #expect(blocked.status == 429 && blocked.errorCode == "TOOMANYREQUESTS")
        // The wait counts down from 30 s at the fifth failure; a loaded machine may take a second or two to ask again.
        let wait = blocked.text.firstMatch(of: /too many failed sign-ins for alice from 127\.0\.0\.1: try again in (\d+) s/).flatMap { Int($0.1) }
        #expect(wait.map { (25...30).contains($0) } == true, "\(blocked.text)")
        // Another user from the same address is not held up.
        #expect(try await hub.token("bob", "bob-password", scopes: []).0.status == 200)
        await hub.stop()
    }

    // MARK: search

    @Test func searchAnswersInDockerHubsShapeAndHidesPrivateRepositories() async throws {
        let hub = try await Hub.start()
        try hub.storage.setDescription("alice/public", "Public tools for alice")
        try hub.storage.createRepository("library/alpine-tools", isPrivate: false, description: "Official tools")
        func search(_ query: String, as user: String? = nil) async throws -> SearchResults {
            hub.server.authorization = user.map { "Basic " + Data("\($0):\(Self.passwords[$0]!)".utf8).base64EncodedString() }
            let answer = try await hub.server.request(.GET, "/v1/search?\(query)")
            #expect(answer.status == 200, "\(answer.text)")
            return try JSONDecoder().decode(SearchResults.self, from: Data(answer.body))
        }
        let anonymous = try await search("q=alice&n=25")
        #expect(anonymous.results == [SearchResults.Result(name: "alice/public", description: "Public tools for alice", isOfficial: false)])
        #expect(anonymous.numResults == 1 && anonymous.pageSize == 25 && anonymous.query == "alice")
        #expect(try await search("q=alice", as: "alice").results.map(\.name) == ["alice/public", "alice/secret"])
        // Descriptions match too, and an official image is named as Docker names it.
        let tools = try await search("q=TOOLS")
        #expect(tools.results.map(\.name) == ["alice/public", "alpine-tools"])
        #expect(tools.results.first { $0.name == "alpine-tools" }?.isOfficial == true)
        // Pages.
        let first = try await search("q=&n=1&page=2")
        #expect(first.results.count == 1 && first.numPages == first.numResults && first.page == 2)
        hub.server.authorization = nil
        #expect(try await hub.server.request(.GET, "/v1/search?q=a&n=0").errorCode == "PAGINATION_NUMBER_INVALID")
        // The raw JSON keys are Docker Hub's.
        let raw = try await hub.server.request(.GET, "/v1/search?q=public").text
        for key in ["\"num_results\"", "\"star_count\"", "\"is_official\"", "\"is_automated\"", "\"description\""] { #expect(raw.contains(key)) }
        await hub.stop()
    }

    // MARK: the OAuth2 grants docker uses for identity tokens

    @Test func aPasswordGrantGivesARefreshTokenThatWorksUntilRevoked() async throws {
        let hub = try await Hub.start()
        let (pat, secret) = try hub.storage.createToken(user: "alice", scope: .write)
        let form = "grant_type=password&username=alice&password=\(secret)&service=strata-registry&client_id=docker&access_type=offline"
            + "&scope=repository%3Aalice%2Fapp%3Apull%2Cpush"
        let answer = try await hub.server.request(.POST, "/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8))
        let token = try JSONDecoder().decode(TokenAnswer.self, from: Data(answer.body))
        let refresh = try #require(token.refresh_token)
        #expect(refresh.hasPrefix("strata_rt_"))
        #expect(try Hub.claims(token.token).access.first?.actions == ["pull", "push"])

        let again = "grant_type=refresh_token&refresh_token=\(refresh)&service=strata-registry&client_id=docker&scope=repository%3Aalice%2Fapp%3Apull"
        let refreshed = try await hub.server.request(.POST, "/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(again.utf8))
        #expect(refreshed.status == 200, "\(refreshed.text)")
        try hub.storage.revokeToken(pat.id)
        let dead = try await hub.server.request(.POST, "/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(again.utf8))
        #expect(dead.status == 401 && dead.text.contains("was revoked on"), "\(dead.text)")
        await hub.stop()
    }

    // MARK: Basic

    @Test func basicModeChecksEveryRequest() async throws {
        let hub = try await Hub.start(.basic)
        let anonymous = try await hub.server.request(.GET, "/v2/")
        #expect(anonymous.status == 401 && anonymous.header("WWW-Authenticate") == "Basic realm=\"Strata registry\"")
        #expect(try await hub.server.request(.GET, "/v2/alice/public/manifests/1").status == 200)
        hub.server.authorization = "Basic " + Data("bob:bob-password".utf8).base64EncodedString()
        #expect(try await hub.server.request(.GET, "/v2/").status == 200)
        let denied = try await hub.server.request(.POST, "/v2/alice/app/blobs/uploads/")
        #expect(denied.status == 403 && denied.text.contains("only alice may push there, not bob"))
        #expect(try await hub.server.request(.POST, "/v2/bob/app/blobs/uploads/").status == 202)
        hub.server.authorization = "Basic " + Data("bob:wrong-password".utf8).base64EncodedString()
        #expect(try await hub.server.request(.GET, "/v2/").status == 401)
        await hub.stop()
    }

    // MARK: the audit trail

    @Test func theEventLogSaysWhoDidWhatFromWhere() async throws {
        let hub = try await Hub.start()
        let (token, secret) = try hub.storage.createToken(user: "bob", scope: .read, by: "local:ops")
        _ = try await hub.token("bob", "wrong-password", scopes: [])
        try await hub.signIn("bob", secret, scopes: ["repository:alice/public:pull"])
        #expect(try await hub.server.request(.GET, "/v2/alice/public/manifests/1").status == 200)
        _ = try await hub.token("alice", "alice-password", scopes: [])
        try hub.storage.revokeToken(token.id, by: "local:ops")
        let events = try hub.storage.events.read().events
        let summary = events.map { "\($0.action.rawValue) \($0.actor ?? "-") \($0.repository ?? "-") \($0.detail ?? "-")" }
        // The set-up: accounts and repositories by the local operator, then alice's two pushes.
        #expect(events.prefix(9).map(\.action) == [.userAdd, .userAdd, .userAdd, .organizationAdd, .memberChange,
                                                   .repositoryCreate, .repositoryCreate, .push, .push], "\(summary)")
        #expect(events[7].actor == "alice" && events[7].repository == "alice/public" && events[7].reference == "1"
                && events[7].digest?.hasPrefix("sha256:") == true && events[7].address == "127.0.0.1")
        // Then this test, in order: a token fetched for a pull is part of the pull, not a login.
        #expect(Array(summary.dropFirst(9)) == [
            "token-create local:ops - \(token.id) for bob, scope read",
            "login-failed bob - incorrect username or password",
            "pull bob alice/public -",
            "login alice - password",
            "token-revoke local:ops - \(token.id)",
        ], "\(summary)")
        // No secret is ever written to it.
        let file = try String(contentsOfFile: hub.storage.events.path, encoding: .utf8)
        for leaked in [secret, "alice-password", "bob-password", "wrong-password"] { #expect(!file.contains(leaked)) }
        await hub.stop()
    }

    // MARK: secrets

    /// Neither a password nor a token secret reaches the access log (they travel in headers and bodies).
    @Test func noSecretReachesTheAccessLog() async throws {
        let hub = try await Hub.start()
        let (_, secret) = try hub.storage.createToken(user: "alice", scope: .write)
        _ = try await hub.token("alice", secret, scopes: ["repository:alice/app:pull"], extra: "&offline_token=true")
        _ = try await hub.token("alice", "alice-password", scopes: [])
        let lines = hub.server.accessLog.map(\.line).joined(separator: "\n")
        for leaked in ["alice-password", secret, String(secret.suffix(20))] { #expect(!lines.contains(leaked)) }
        await hub.stop()
    }
}

/// The account store itself: names, passwords, htpasswd, tokens.
@Suite struct AccountStoreTests {
    func storage() throws -> RegistryStorage {
        try RegistryStorage(root: FileManager.default.temporaryDirectory.appendingPathComponent("strata-accounts-\(UUID().uuidString)").path)
    }

    @Test(arguments: [
        ("ab", nil), ("alice", nil), ("team-7_x", nil),
        ("a", "an account name has 2 to 30 characters"), ("Alice", "lower-case letters"), ("-x", "starts with a letter or digit"),
        ("library", "\"library\" is reserved"), ("al/ice", "lower-case letters"),
    ] as [(String, String?)])
    func accountNames(_ name: String, _ problem: String?) {
        let found = Account.nameProblem(name)
        if let problem { #expect(found?.contains(problem) == true, "\(name): \(found ?? "nil")") } else { #expect(found == nil, "\(name)") }
    }

    @Test func passwordsAreBcryptHashesAndChecked() throws {
        let storage = try storage()
        try storage.addUser("alice", password: "correct-horse")
        #expect(throws: StrataError.self) { try storage.addUser("alice", password: "another-one") }
        #expect(throws: StrataError.self) { try storage.addUser("shorty", password: "short") }
        #expect(try storage.authenticate(user: "alice", secret: "correct-horse").user == "alice")
        #expect(throws: StrataError(.unauthorized, "incorrect username or password")) { try storage.authenticate(user: "alice", secret: "wrong-horse") }
        try storage.setPassword("alice", password: "battery-staple")
        #expect(throws: StrataError.self) { try storage.authenticate(user: "alice", secret: "correct-horse") }
        #expect(try storage.authenticate(user: "alice", secret: "battery-staple").user == "alice")
        try storage.removeAccount("alice")
        #expect(throws: StrataError.self) { try storage.authenticate(user: "alice", secret: "battery-staple") }
    }

    /// distribution's htpasswd files are bcrypt with PHP's $2y$ prefix, which is OpenBSD's $2b$.
    @Test func htpasswdFilesImport() throws {
        let storage = try storage()
        let hash = Bcrypt.hash("daves-password", cost: 4).replacingOccurrences(of: "$2b$", with: "$2y$")
        #expect(try storage.importHtpasswd("# users\ndave:\(hash)\n") == ["dave"])
        #expect(try storage.authenticate(user: "dave", secret: "daves-password").user == "dave")
        #expect(throws: StrataError.self) { try storage.importHtpasswd("erin:{SHA}abcdef\n") }
        #expect(throws: StrataError.self) { try storage.importHtpasswd("dave:\(hash)\n") }
        #expect(try storage.accounts(kind: .user).map(\.name) == ["dave"])
    }

    @Test func tokensAreShownOnceAndStoredHashed() throws {
        let storage = try storage()
        try storage.addUser("alice", password: "correct-horse")
        let (token, secret) = try storage.createToken(user: "alice", scope: .read, repository: "alice/app")
        #expect(secret.hasPrefix("strata_pat_\(token.id)_"))
        let caller = try storage.authenticate(user: "alice", secret: secret)
        #expect(caller.scope == .read && caller.repository == "alice/app" && caller.tokenID == token.id)
        let database = String(decoding: FileManager.default.contents(atPath: storage.root + "/registry.db") ?? Data(), as: UTF8.self)
        #expect(!database.contains(String(secret.suffix(30))))
        #expect(throws: StrataError.self) { try storage.createToken(user: "nobody", scope: .read) }
    }

    @Test func organisationsHaveOwnersAndMembers() throws {
        let storage = try storage()
        try storage.addUser("alice", password: "correct-horse")
        try storage.addUser("bob", password: "correct-horse")
        try storage.addOrganization("acme", owner: "alice")
        try storage.setMember("acme", "bob", role: .member)
        #expect(try storage.members("acme").map { "\($0.user):\($0.role.rawValue)" } == ["alice:owner", "bob:member"])
        #expect(try storage.allowedActions(Caller(user: "bob"), on: "acme/x") == [.pull, .push])
        #expect(try storage.allowedActions(Caller(user: "alice"), on: "acme/x") == Set(RepositoryAction.allCases))
        try storage.removeMember("acme", "bob")
        #expect(try storage.allowedActions(Caller(user: "bob"), on: "acme/x") == [])
        #expect(throws: StrataError.self) { try storage.setMember("alice", "bob", role: .member) }
    }

    /// The same counts in memory and in the registry's database (what replicas share).
    @Test(arguments: ["memory", "database"])
    func theThrottleDoublesItsWait(_ kept: String) throws {
        let records: any PolicyRecords = kept == "memory" ? MemoryPolicyRecords()
            : try RegistryStorage(root: FileManager.default.temporaryDirectory.appendingPathComponent("strata-throttle-\(UUID().uuidString)").path)
        let throttle = LoginThrottle(allowance: 3, window: 900, firstWait: 10, maximumWait: 25, records: records)
        // Now, in whole seconds: the database forgets records past their time by its clock.
        let start = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded())
        for i in 0..<2 { try throttle.failed(user: "a", address: "x", now: start.addingTimeInterval(Double(i))) }
        #expect(try throttle.wait(user: "a", address: "x", now: start.addingTimeInterval(2)) == nil)
        try throttle.failed(user: "a", address: "x", now: start.addingTimeInterval(2))
        #expect(try throttle.wait(user: "a", address: "x", now: start.addingTimeInterval(2)) == 10)
        #expect(try throttle.wait(user: "a", address: "y", now: start.addingTimeInterval(2)) == nil)
        try throttle.failed(user: "a", address: "x", now: start.addingTimeInterval(3))
        #expect(try throttle.wait(user: "a", address: "x", now: start.addingTimeInterval(3)) == 20)
        try throttle.failed(user: "a", address: "x", now: start.addingTimeInterval(4))
        #expect(try throttle.wait(user: "a", address: "x", now: start.addingTimeInterval(4)) == 25)
        try throttle.succeeded(user: "a", address: "x")
        #expect(try throttle.wait(user: "a", address: "x", now: start.addingTimeInterval(4)) == nil)
    }

    @Test func aForgedOrExpiredBearerTokenIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let issuer = try await TokenIssuer(keyFile: "\(directory)/a.pem", service: "s", lifetime: 60)
        let other = try await TokenIssuer(keyFile: "\(directory)/b.pem", service: "s", lifetime: 60)
        let (token, _) = try await issuer.issue(user: "alice", access: [])
        #expect(try await issuer.verify(token).user == "alice")
        // The same key file gives the same key: replicas sharing it accept each other's tokens.
        #expect(try await TokenIssuer(keyFile: "\(directory)/a.pem", service: "s").verify(token).user == "alice")
        await #expect(throws: StrataError(.unauthorized, "the bearer token is not one this registry signed")) { try await other.verify(token) }
        let (old, _) = try await issuer.issue(user: "alice", access: [], now: Date(timeIntervalSinceNow: -120))
        await #expect(throws: StrataError(.unauthorized, "the bearer token has expired: fetch a new one from the token endpoint")) { try await issuer.verify(old) }
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/a.pem")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}

/// Docker Hub's anonymous pull limit.
@Suite struct PullLimitTests {
    @Test func anonymousPullsPastTheLimitAreRefusedWithDockerHubsHeaders() async throws {
        let server = try await TestServer.start { $0.anonymousPullLimit = "2/6h" }
        _ = try await server.pushImage("alice/app", tag: "1")
        let head = try await server.request(.HEAD, "/v2/alice/app/manifests/1")
        #expect(head.header("RateLimit-Limit") == "2;w=21600" && head.header("RateLimit-Remaining") == "2;w=21600")
        let first = try await server.request(.GET, "/v2/alice/app/manifests/1")
        #expect(first.status == 200 && first.header("RateLimit-Remaining") == "1;w=21600")
        #expect(try await server.request(.GET, "/v2/alice/app/manifests/1").header("RateLimit-Remaining") == "0;w=21600")
        let refused = try await server.request(.GET, "/v2/alice/app/manifests/1")
        #expect(refused.status == 429 && refused.errorCode == "TOOMANYREQUESTS")
        #expect(refused.text.contains("You have reached your pull rate limit as an anonymous user: 2 pulls per 6h"))
        #expect(refused.header("Retry-After") == "21600")
        await server.stop()
    }

    /// Two servers over one store count one limit: a client gains nothing by pulling from both.
    @Test func theLimitIsOneAcrossServersSharingTheirStore() async throws {
        let first = try await TestServer.start { $0.anonymousPullLimit = "3/1h" }
        defer { Task { await first.stop() } }
        _ = try await first.pushImage("alice/app", tag: "1")
        let second = try await TestServer.start(root: first.root) { $0.anonymousPullLimit = "3/1h" }
        defer { Task { await second.stop() } }
        try await expectOneLimit(across: first, second)
    }

    @Test(arguments: [("100/6h", 100, 21600.0), ("5/30m", 5, 1800.0)])
    func limitsParse(_ text: String, _ limit: Int, _ window: Double) throws {
        let parsed = try PullLimit(parsing: text)
        #expect(parsed.limit == limit && parsed.window == window)
    }

    @Test(arguments: ["100", "0/6h", "x/6h", "10/soon"])
    func badLimitsAreNamed(_ text: String) {
        #expect(throws: StrataError.self) { try PullLimit(parsing: text) }
    }
}

/// Three anonymous pulls in an hour, taken from two servers in turn: the fourth is refused by either.
func expectOneLimit(across first: TestServer, _ second: TestServer) async throws {
    var seen: [String] = []
    for (server, method) in [(first, HTTPMethod.GET), (second, .GET), (first, .HEAD), (first, .GET), (second, .GET), (first, .GET)] {
        let answer = try await server.request(method, "/v2/alice/app/manifests/1")
        seen.append("\(answer.status) \(answer.header("RateLimit-Remaining") ?? "-")")
    }
    #expect(seen == ["200 2;w=3600", "200 1;w=3600", "200 1;w=3600", "200 0;w=3600", "429 0;w=3600", "429 0;w=3600"])
}
