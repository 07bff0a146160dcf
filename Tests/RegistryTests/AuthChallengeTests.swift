import Foundation
import ImageSpec
import NIOCore
import Testing
@testable import Registry

struct AuthChallengeTests {
    static let cases: [(String, [AuthChallenge])] = [
        (#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#,
         [AuthChallenge(scheme: "Bearer", parameters: ["realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                                                       "scope": "repository:library/debian:pull"])]),
        (#"Basic realm="Registry Realm""#, [AuthChallenge(scheme: "Basic", parameters: ["realm": "Registry Realm"])]),
        (#"basic realm="a, b", Bearer realm="http://127.0.0.1:1/token",service=svc"#,
         [AuthChallenge(scheme: "basic", parameters: ["realm": "a, b"]),
          AuthChallenge(scheme: "Bearer", parameters: ["realm": "http://127.0.0.1:1/token", "service": "svc"])]),
        (#"Bearer realm="x\"y",error="invalid_token""#, [AuthChallenge(scheme: "Bearer", parameters: ["realm": #"x"y"#, "error": "invalid_token"])]),
        ("Negotiate", [AuthChallenge(scheme: "Negotiate")]),
        ("", []),
    ]

    @Test(arguments: cases.indices)
    func parsesChallenges(_ i: Int) {
        #expect(AuthChallenge.parse(Self.cases[i].0) == Self.cases[i].1)
    }

    @Test func scopesAreSpaceSeparated() {
        let c = AuthChallenge.parse(#"Bearer realm="r",scope="repository:a:pull repository:b:pull,push""#)[0]
        #expect(c.isBearer && c.scopes == ["repository:a:pull", "repository:b:pull,push"])
    }
}

struct Base64Tests {
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("strata:s3cret", "c3RyYXRhOnMzY3JldA==")])
    func roundTrips(_ plain: String, _ encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func decodesURLSafeAndUnpadded() {
        #expect(Base64.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8))
        #expect(Base64.decode("Zm9v!") == nil)
    }
}

struct RegistryEndpointTests {
    @Test(arguments: [
        ("127.0.0.1:5000", true), ("localhost", true), ("localhost:5000", true), ("[::1]:5000", true), ("127.1.2.3", true),
        ("registry.example.com", false), ("10.0.0.1:5000", false), ("127.0.0.1.example.com", false),
    ])
    func loopback(_ host: String, _ expected: Bool) {
        #expect(RegistryEndpoint.isLoopback(host) == expected)
    }

    @Test func transports() {
        #expect(RegistryEndpoint(registry: "docker.io", insecureRegistries: []).host == "registry-1.docker.io")
        #expect(RegistryEndpoint(registry: "ghcr.io", insecureRegistries: []).transports == [.https])
        #expect(RegistryEndpoint(registry: "ghcr.io", tlsVerify: false, insecureRegistries: []).transports == [.httpsUnverified, .http])
        #expect(RegistryEndpoint(registry: "my.registry:5000", insecureRegistries: ["my.registry:5000"]).transports == [.httpsUnverified, .http])
        #expect(RegistryEndpoint(registry: "127.0.0.1:5000", insecureRegistries: []).transports == [.http, .https])
    }

    @Test func linkPagination() {
        #expect(RegistryClient.nextLink(#"</v2/x/tags/list?n=2&last=b>; rel="next""#) == "/v2/x/tags/list?n=2&last=b")
        #expect(RegistryClient.nextLink(#"</v2/x/tags/list>; rel="prev""#) == nil)
    }

}

struct DockerConfigFileTests {
    func temp() -> String {
        let dir = NSTemporaryDirectory() + "strata-config-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/config.json"
    }

    @Test func storesReadsAndErasesKeepingOtherKeys() throws {
        let path = temp()
        try Data(#"{"psFormat":"table {{.ID}}","auths":{"other.io":{"auth":"dTpw"}}}"#.utf8).write(to: URL(fileURLWithPath: path))
        var config = try DockerConfigFile(path: path)
        try config.store(Credentials(username: "strata", password: "s3cret"), for: "127.0.0.1:5000")
        try config.store(Credentials(username: "hub", password: "pw"), for: "docker.io")

        let again = try DockerConfigFile(path: path)
        #expect(try again.credentials(for: "127.0.0.1:5000") == Credentials(username: "strata", password: "s3cret"))
        #expect(try again.credentials(for: "docker.io") == Credentials(username: "hub", password: "pw"))
        #expect(try again.credentials(for: "other.io") == Credentials(username: "u", password: "p"))
        #expect(try again.credentials(for: "nowhere.io") == nil)

        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        #expect(object["psFormat"] as? String == "table {{.ID}}")
        let auths = object["auths"] as! [String: Any]
        #expect(auths["https://index.docker.io/v1/"] != nil, "Docker Hub is filed under Docker's key")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
        #expect(mode == 0o600)

        var editable = again
        #expect(try editable.erase(registry: "127.0.0.1:5000"))
        #expect(try !editable.erase(registry: "127.0.0.1:5000"))
        #expect(try DockerConfigFile(path: path).credentials(for: "127.0.0.1:5000") == nil)
    }

    @Test func matchesKeysWrittenWithSchemeAndPath() throws {
        let path = temp()
        try Data(#"{"auths":{"https://127.0.0.1:5000/v1/":{"username":"a","password":"b"}}}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try DockerConfigFile(path: path).credentials(for: "127.0.0.1:5000") == Credentials(username: "a", password: "b"))
    }

    @Test func rejectsBrokenFilesWithTheirPath() throws {
        let path = temp()
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try DockerConfigFile(path: path) } throws: { String(describing: $0).contains(path) }
    }

    /// One directory for the fake helpers, put on PATH once: tests running at once never race
    /// to change PATH.
    static let helpers: String = {
        let dir = NSTemporaryDirectory() + "strata-helpers-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        setenv("PATH", "\(dir):" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"), 1)
        return dir
    }()

    @Test func usesTheConfiguredCredentialHelper() throws {
        // A helper that answers `get` with fixed credentials and records `store`.
        let dir = Self.helpers
        let helper = "\(dir)/docker-credential-fake"
        try Data("""
            #!/bin/sh
            case "$1" in
              get) read url; echo "{\\"ServerURL\\":\\"$url\\",\\"Username\\":\\"helped\\",\\"Secret\\":\\"pw\\"}" ;;
              store) cat > "\(dir)/stored.json" ;;
              erase) exit 0 ;;
            esac
            """.utf8).write(to: URL(fileURLWithPath: helper))
        chmod(helper, 0o755)
        let path = "\(PathHelper.directory(of: temp()))/config.json"
        try Data(#"{"credHelpers":{"127.0.0.1:5000":"fake"}}"#.utf8).write(to: URL(fileURLWithPath: path))
        var config = try DockerConfigFile(path: path)
        #expect(config.helper(for: "127.0.0.1:5000") == "fake")
        #expect(try config.credentials(for: "127.0.0.1:5000") == Credentials(username: "helped", password: "pw"))
        try config.store(Credentials(username: "x", password: "y"), for: "127.0.0.1:5000")
        let stored = try String(contentsOfFile: "\(dir)/stored.json", encoding: .utf8)
        let file = try String(contentsOfFile: path, encoding: .utf8)
        #expect(stored.contains("\"Secret\":\"y\"") && !file.contains("eDp5"), "the secret goes to the helper, not the file")
    }
}

extension DockerConfigFileTests {
    /// The helper protocol says "nothing stored" with one exact line; any other failure is an error.
    @Test(arguments: [("credentials not found in native keychain", true), ("keychain locked", false)])
    func aHelperWithoutCredentials(_ answer: String, _ meansNone: Bool) throws {
        let dir = Self.helpers
        let name = "nothing\(meansNone ? "stored" : "locked")"
        let helper = "\(dir)/docker-credential-\(name)"
        try Data("#!/bin/sh\necho '\(answer)'\nexit 1\n".utf8).write(to: URL(fileURLWithPath: helper))
        chmod(helper, 0o755)
        let path = "\(PathHelper.directory(of: temp()))/config.json"
        try Data(#"{"credsStore":"\#(name)"}"#.utf8).write(to: URL(fileURLWithPath: path))
        let config = try DockerConfigFile(path: path)
        if meansNone {
            #expect(try config.credentials(for: "registry.example") == nil)
        } else {
            #expect { try config.credentials(for: "registry.example") } throws: { ($0 as? StrataError)?.code == .unauthorized }
        }
    }
}

enum PathHelper {
    static func directory(of path: String) -> String { (path as NSString).deletingLastPathComponent }
}
