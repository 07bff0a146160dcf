import Foundation
import ImageSpec
import RegistryTestSupport
import Testing
@testable import Registry

/// Debug logs say what was asked, answered and retried — and never a credential.
struct LoggingTests {
    @Test func requestsRetriesAndTokensAreLoggedWithoutSecrets() async throws {
        let capture = LogCapture()
        let manifest = Array(#"{"schemaVersion":2}"#.utf8)

        // Basic credentials, a 503 retried, through a proxy that wants its own credentials.
        let basic = try await InProcessRegistry.start(auth: .basic(username: "alice", password: "basic-secret-1"))
        basic.putManifest(manifest, mediaType: .ociManifest, in: "logged/app", tag: "1")
        basic.inject(.status(503, headers: ["Retry-After": "0"])) { $0.header("Authorization") != nil }
        let proxy = try await TestProxy.start(aliases: ["registry.strata.test": "127.0.0.1"], credentials: ("proxyuser", "proxy-secret-2"))
        let proxied = HTTPTransport.forTests(proxies: ProxyConfiguration(environment: ["HTTP_PROXY": "http://proxyuser:proxy-secret-2@127.0.0.1:\(proxy.port)"]),
                                             logger: capture.logger())
        let host = "registry.strata.test:\(basic.port)"
        let basicClient = RegistryClient(endpoint: RegistryEndpoint(name: host, host: host, transports: [.http]),
                                         credentials: Credentials(username: "alice", password: "basic-secret-1"), transport: proxied)
        #expect(try await basicClient.manifest("logged/app", reference: "1").bytes == manifest)

        // Bearer tokens fetched with a password, and with an identity token.
        let transport = HTTPTransport.forTests(logger: capture.logger())
        let bearer = try await InProcessRegistry.start(auth: .bearer(.init(username: "bob", password: "token-secret-3",
                                                                            identityToken: "identity-secret-4", anonymousPull: false)))
        bearer.putManifest(manifest, mediaType: .ociManifest, in: "logged/app", tag: "1")
        for credentials in [Credentials(username: "bob", password: "token-secret-3"),
                            Credentials(username: "", password: "", identityToken: "identity-secret-4")] {
            let c = RegistryClient(endpoint: RegistryEndpoint(name: bearer.host, host: bearer.host, transports: [.http]),
                                   credentials: credentials, transport: transport)
            #expect(try await c.manifest("logged/app", reference: "1").bytes == manifest)
        }
        #expect(bearer.tokensIssued == 2)

        let text = capture.text
        #expect(capture.lines.allSatisfy { $0.level == .debug })
        #expect(text.contains("GET http://\(host)/v2/logged/app/manifests/1 → 401 Unauthorized"), "\(text)")
        #expect(text.contains("GET http://\(host)/v2/logged/app/manifests/1 → 503 Service Unavailable"))
        #expect(text.contains("retry 1 of 4 of GET http://\(host)/v2/logged/app/manifests/1 in 0.00s: 503 Service Unavailable"))
        #expect(text.contains("GET http://\(host)/v2/logged/app/manifests/1 → 200 OK"))
        #expect(text.contains("ms, via proxy http://127.0.0.1:\(proxy.port))"))
        #expect(text.contains("token for repository:logged/app:pull from http://\(bearer.host)/token with credentials"))
        #expect(text.contains("token for repository:logged/app:pull from http://\(bearer.host)/token with an identity token"))
        #expect(text.contains("POST http://\(bearer.host)/token → 200 OK"))
        // The token request's query (service, scope) is left out, like every query.
        #expect(text.contains("GET http://\(bearer.host)/token?… → 200 OK"))

        var secrets = ["basic-secret-1", "proxy-secret-2", "token-secret-3", "identity-secret-4", "Authorization", "Basic ", "Bearer "]
        secrets += [Data("alice:basic-secret-1".utf8).base64EncodedString(), Data("proxyuser:proxy-secret-2".utf8).base64EncodedString(),
                    Data("bob:token-secret-3".utf8).base64EncodedString()]
        secrets += bearer.issuedTokens
        for secret in secrets {
            #expect(!text.contains(secret), "the log shows \(secret)")
        }

        try await proxied.shutdown()
        try await transport.shutdown()
        await proxy.stop()
        await basic.stop()
        await bearer.stop()
    }
}
