import Testing
@testable import Registry

/// Go's `httpproxy` rules, checked with the cases of its own tests (golang.org/x/net/http/httpproxy).
struct ProxyConfigurationTests {
    static let noProxy = "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, "
        + "2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64"

    /// Host (port 80, an http:// request) → whether it goes through the proxy.
    static let useProxyCases: [(String, Bool)] = [
        // Never proxied: localhost and loopback addresses.
        ("localhost", false), ("127.0.0.1", false), ("127.0.0.2", false), ("[::1]", false),
        ("[::2]", true),
        ("192.168.1.1", false),  // an address listed
        ("192.168.1.2", true),   // listed with another port
        ("192.168.1.3", false),  // listed with this port
        ("192.168.1.4", true),
        ("10.0.0.2", false),     // in a listed CIDR
        ("[2001:db8::52:0:1]", false), ("[2001:db8::52:0:2]", true), ("[2001:db8::52:0:3]", false),
        ("[2002:db8:a::123]", false), ("[fe80::424b:c8be:1643:a1b6]", true),
        ("barbaz.net", true),           // ".barbaz.net" matches subdomains only
        ("www.barbaz.net", false),
        ("foobar.com", false),          // "foobar.com" matches itself…
        ("www.foobar.com", false),      // …and its subdomains
        ("foofoobar.com", true), ("baz.com", true), ("localhost.net", true), ("local.localhost", true), ("barbarbaz.net", true),
        ("wildcard.io", true),          // "*.wildcard.io" matches subdomains only
        ("nested.wildcard.io", false), ("awildcard.io", true),
    ]

    @Test(arguments: useProxyCases)
    func noProxyRules(_ host: String, _ proxied: Bool) {
        let config = ProxyConfiguration(environment: ["HTTP_PROXY": "http://proxy.example.com", "NO_PROXY": Self.noProxy])
        #expect((config.proxy(for: "http://\(host)/v2/") != nil) == proxied)
    }

    @Test func aStarExcludesEverything() {
        let config = ProxyConfiguration(environment: ["HTTPS_PROXY": "proxy:3128", "no_proxy": " * "])
        #expect(config.proxy(for: "https://registry-1.docker.io/v2/") == nil)
    }

    @Test func schemesPickTheirVariableAndUpperCaseWins() {
        let config = ProxyConfiguration(environment: ["HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128",
                                                      "http_proxy": "plain:8080"])
        #expect(config.proxy(for: "https://ghcr.io/v2/") == .server(.init(host: "upper", port: 3128)))
        #expect(config.proxy(for: "http://example.com/file") == .server(.init(host: "plain", port: 8080)))
        // HTTPS requests never fall back to HTTP_PROXY.
        let plainOnly = ProxyConfiguration(environment: ["HTTP_PROXY": "http://p:1"])
        #expect(plainOnly.proxy(for: "https://ghcr.io/v2/") == nil)
        #expect(ProxyConfiguration(environment: [:]).proxy(for: "https://ghcr.io/v2/") == nil)
    }

    @Test func noProxyPortsMatchTheRequestsDefaultPort() {
        let config = ProxyConfiguration(environment: ["HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1",
                                                      "NO_PROXY": "registry.local:443,other.local:5000"])
        #expect(config.proxy(for: "https://registry.local/v2/") == nil)
        #expect(config.proxy(for: "http://registry.local/v2/") != nil)
        #expect(config.proxy(for: "https://other.local:5000/v2/") == nil)
        #expect(config.proxy(for: "https://other.local/v2/") != nil)
    }

    @Test(arguments: [
        ("proxy.example.com:3128", ProxyConfiguration.Server(host: "proxy.example.com", port: 3128)),
        ("http://proxy.example.com", ProxyConfiguration.Server(host: "proxy.example.com", port: 80)),
        ("https://proxy.example.com", ProxyConfiguration.Server(scheme: .https, host: "proxy.example.com", port: 443)),
        ("socks5://127.0.0.1", ProxyConfiguration.Server(scheme: .socks5, host: "127.0.0.1", port: 1080)),
        ("http://[fd00::1]:3128", ProxyConfiguration.Server(host: "fd00::1", port: 3128)),
        ("http://us%40er:p%3Ass@proxy:3128", ProxyConfiguration.Server(host: "proxy", port: 3128, username: "us@er", password: "p:ss")),
        ("http://alice@proxy:3128/", ProxyConfiguration.Server(host: "proxy", port: 3128, username: "alice")),
    ])
    func proxyURLs(_ value: String, _ expected: ProxyConfiguration.Server) {
        #expect(ProxyConfiguration.parse(value, variable: "HTTPS_PROXY") == .server(expected))
    }

    @Test func aValueThatIsNoProxyURLIsKeptAsAnErrorWithoutItsPassword() {
        let setting = ProxyConfiguration.parse("http://bob:s3cret@proxy:notaport", variable: "HTTPS_PROXY")
        #expect(setting == .invalid(variable: "HTTPS_PROXY", value: "http://bob:***@proxy:notaport"))
    }

    @Test func aServerIsShownWithoutCredentials() {
        let server = ProxyConfiguration.Server(host: "proxy", port: 3128, username: "bob", password: "s3cret")
        #expect(server.description == "http://proxy:3128")
    }
}
