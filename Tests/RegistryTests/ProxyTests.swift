import Foundation
import ImageSpec
import Logging
import RegistryTestSupport
import Testing
@testable import Registry

/// Requests through `HTTPS_PROXY`/`HTTP_PROXY`, past `NO_PROXY`. The registry is named
/// `registry.strata.test`, a name only the test proxy knows (loopback names are never proxied):
/// an answer at all proves the request went through the proxy.
struct ProxyTests {
    static let name = "registry.strata.test"

    /// A registry holding one image, a proxy that knows where it is, and a client for it by name.
    struct Setup {
        let registry: InProcessRegistry
        let proxy: TestProxy
        let image: TestImage
        let transport: HTTPTransport
        let client: RegistryClient

        func stop() async throws {
            try await transport.shutdown()
            await proxy.stop()
            await registry.stop()
        }
    }

    static func setup(tls: Bool, environment: (TestProxy) -> [String: String], proxyCredentials: (String, String)? = nil,
                      hostOverrides: [String: String] = [:], logger: LogCapture? = nil) async throws -> Setup {
        let registry = try await InProcessRegistry.start(tls: tls)
        let image = try TestImage.random(layerSizes: [70_000, 1_000])
        registry.put(image, in: "proxied/app", tag: "1")
        let proxy = try await TestProxy.start(aliases: [name: "127.0.0.1"], credentials: proxyCredentials)
        let transport = HTTPTransport.forTests(proxies: ProxyConfiguration(environment: environment(proxy)), hostOverrides: hostOverrides,
                                               logger: logger?.logger() ?? Logger(label: "strata.registry"))
        let host = "\(name):\(registry.port)"
        let client = RegistryClient(endpoint: RegistryEndpoint(name: host, host: host, transports: [tls ? .httpsUnverified : .http]),
                                    credentials: nil, transport: transport)
        return Setup(registry: registry, proxy: proxy, image: image, transport: transport, client: client)
    }

    /// Manifest, config and layers, each checked against its digest.
    static func pull(_ setup: Setup) async throws {
        let manifest = try await setup.client.manifest("proxied/app", reference: "1")
        #expect(manifest.digest == setup.image.manifestDigest)
        for blob in setup.image.layers + [setup.image.config] {
            let bytes = try await download(setup.client, "proxied/app", blob)
            #expect(Digest.sha256(of: bytes) == blob.digest)
        }
    }

    /// async-http-client tunnels both schemes with CONNECT; over HTTPS, TLS runs inside the tunnel.
    @Test(arguments: [false, true])
    func aPullGoesThroughTheProxy(_ tls: Bool) async throws {
        let setup = try await Self.setup(tls: tls, environment: { [tls ? "HTTPS_PROXY" : "HTTP_PROXY": $0.url] })
        try await Self.pull(setup)
        let requests = setup.proxy.requests
        #expect(!requests.isEmpty && requests.allSatisfy { $0.method == "CONNECT" && $0.target == "\(Self.name):\(setup.registry.port)" && $0.relayed })
        #expect(setup.registry.requests.count == 4)
        try await setup.stop()
    }

    @Test func proxyCredentialsFromTheURLBecomeProxyAuthorization() async throws {
        let setup = try await Self.setup(tls: false, environment: { ["http_proxy": "http://proxy%20user:p%40ss@127.0.0.1:\($0.port)"] },
                                         proxyCredentials: ("proxy user", "p@ss"))
        try await Self.pull(setup)
        let expected = "Basic " + Data("proxy user:p@ss".utf8).base64EncodedString()
        #expect(!setup.proxy.requests.isEmpty && setup.proxy.requests.allSatisfy { $0.proxyAuthorization == expected && $0.relayed })
        try await setup.stop()
    }

    @Test func aProxyThatWantsCredentialsSaysSo() async throws {
        let setup = try await Self.setup(tls: false, environment: { ["HTTP_PROXY": $0.url] }, proxyCredentials: ("u", "p"))
        await #expect { try await setup.client.manifest("proxied/app", reference: "1") } throws: { error in
            guard let e = error as? StrataError, let failure = e.cause(as: ConnectionFailure.self) else { return false }
            return e.code == .unreachable && failure.kind == .proxy && !failure.isRetryable
                && e.message.contains("the proxy requires authentication (407) (through proxy \(setup.proxy.url))")
        }
        #expect(setup.proxy.requests.count == 1 && setup.registry.requests.isEmpty)
        try await setup.stop()
    }

    /// NO_PROXY as a domain with a leading dot, as the host itself, and as `*`.
    @Test(arguments: [".strata.test", "registry.strata.test", "*"])
    func noProxyBypassesTheProxy(_ noProxy: String) async throws {
        let setup = try await Self.setup(tls: false, environment: { ["HTTP_PROXY": $0.url, "NO_PROXY": "example.com,\(noProxy)"] },
                                         hostOverrides: [Self.name: "127.0.0.1"])
        try await Self.pull(setup)
        #expect(setup.proxy.requests.isEmpty)
        #expect(setup.registry.requests.count == 4)
        try await setup.stop()
    }

    /// As Go's rules: a loopback registry is reached directly, whatever HTTP_PROXY says.
    @Test func loopbackIsNeverProxied() async throws {
        let setup = try await Self.setup(tls: false, environment: { ["HTTP_PROXY": $0.url] })
        let direct = RegistryClient(endpoint: RegistryEndpoint(name: setup.registry.host, host: setup.registry.host, transports: [.http]),
                                    credentials: nil, transport: setup.transport)
        #expect(try await direct.manifest("proxied/app", reference: "1").digest == setup.image.manifestDigest)
        #expect(setup.proxy.requests.isEmpty)
        try await setup.stop()
    }

    @Test func aProxyVariableThatIsNoURLIsAClearError() async throws {
        let setup = try await Self.setup(tls: false, environment: { _ in ["HTTP_PROXY": "http://u:secret@proxy:port"] })
        await #expect { try await setup.client.manifest("proxied/app", reference: "1") } throws: { error in
            guard let e = error as? StrataError else { return false }
            return e.code == .invalidArgument && e.message.contains("HTTP_PROXY=http://u:***@proxy:port is not a proxy URL") && !e.message.contains("secret")
        }
        try await setup.stop()
    }
}
