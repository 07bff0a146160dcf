import Foundation
import Host
import ImageSpec

/// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`): where `docker login` keeps
/// credentials, read and written here in the same format so Docker, Podman, skopeo and Strata
/// share one login. Keys this code does not know are kept as they are.
public struct DockerConfigFile {
    public let path: String
    private var object: [String: Any]

    /// The key Docker files Docker Hub's credentials under.
    public static let dockerHubKey = "https://index.docker.io/v1/"

    public static var defaultPath: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["DOCKER_CONFIG"], !dir.isEmpty { return "\(dir)/config.json" }
        return "\(env["HOME"] ?? NSHomeDirectory())/.docker/config.json"
    }

    /// Reads the file; a missing one is an empty configuration.
    public init(path: String = DockerConfigFile.defaultPath) throws {
        self.path = path
        guard FileSystem.exists(path) else {
            object = [:]
            return
        }
        let bytes = try FileSystem.readFile(path, limit: 16 << 20)
        guard !bytes.isEmpty else {
            object = [:]
            return
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw StrataError(.invalidJSON, "\(path) is not a valid Docker config file (a JSON object was expected)")
        }
        object = parsed
    }

    /// The key credentials for `registry` are filed under: Docker Hub's URL, else the host[:port].
    public static func key(for registry: String) -> String {
        registry == Reference.defaultDomain || registry == "index.docker.io" || registry == "registry-1.docker.io"
            ? dockerHubKey : registry
    }

    /// `https://host:port/v1/` → `host:port`, as Docker matches `auths` keys.
    public static func normalize(_ key: String) -> String {
        var k = Substring(key)
        if let range = k.range(of: "://") { k = k[range.upperBound...] }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        return String(k)
    }

    private var auths: [String: Any] { object["auths"] as? [String: Any] ?? [:] }

    /// The credential helper configured for a registry: its own in `credHelpers`, else `credsStore`.
    public func helper(for registry: String) -> String? {
        let key = Self.key(for: registry)
        if let helpers = object["credHelpers"] as? [String: String] {
            if let h = helpers[key] ?? helpers[Self.normalize(key)] ?? helpers[registry], !h.isEmpty { return h }
        }
        if let store = object["credsStore"] as? String, !store.isEmpty { return store }
        return nil
    }

    /// The stored credentials for a registry, from a helper if one is configured, else from `auths`.
    public func credentials(for registry: String) throws -> Credentials? {
        if let helper = helper(for: registry) {
            return try CredentialHelper(name: helper).get(serverURL: Self.key(for: registry))
        }
        let key = Self.key(for: registry)
        let entry = auths[key] ?? auths.first { Self.normalize($0.key) == Self.normalize(key) }?.value
        guard let entry = entry as? [String: Any] else { return nil }
        var username = entry["username"] as? String ?? ""
        var password = entry["password"] as? String ?? ""
        if let auth = entry["auth"] as? String, !auth.isEmpty {
            guard let decoded = Base64.decode(auth).map({ String(decoding: $0, as: UTF8.self) }),
                  let colon = decoded.firstIndex(of: ":") else {
                throw StrataError(.invalidJSON, "\(path): the \"auth\" entry for \(key) is not base64 of USER:PASSWORD")
            }
            username = String(decoded[..<colon])
            password = String(decoded[decoded.index(after: colon)...])
        }
        let token = (entry["identitytoken"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        guard !username.isEmpty || token != nil else { return nil }
        return Credentials(username: username, password: password, identityToken: token)
    }

    /// Stores credentials (in the helper if configured), replacing older ones for the registry.
    public mutating func store(_ credentials: Credentials, for registry: String) throws {
        let key = Self.key(for: registry)
        if let helper = helper(for: registry) {
            try CredentialHelper(name: helper).store(credentials, serverURL: key)
            var all = auths
            all[key] = [String: Any]()  // Docker leaves an empty entry so `docker info` lists the login
            object["auths"] = all
        } else {
            var all = auths
            var entry: [String: Any] = ["auth": Base64.encode(Array("\(credentials.username):\(credentials.password)".utf8))]
            if let token = credentials.identityToken { entry["identitytoken"] = token }
            all[key] = entry
            object["auths"] = all
        }
        try save()
    }

    /// Removes the credentials for a registry; returns whether there were any.
    @discardableResult
    public mutating func erase(registry: String) throws -> Bool {
        let key = Self.key(for: registry)
        var all = auths
        let matching = all.keys.filter { $0 == key || Self.normalize($0) == Self.normalize(key) }
        var found = !matching.isEmpty
        if let helper = helper(for: registry) {
            found = try CredentialHelper(name: helper).erase(serverURL: key) || found
        }
        guard found else { return false }
        for k in matching { all.removeValue(forKey: k) }
        object["auths"] = all
        try save()
        return true
    }

    /// Written to a temp file and renamed, mode 0600: it holds secrets, and is never seen half-written.
    public func save() throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try FileSystem.createDirectory(PathString(path).deletingLastComponent, mode: 0o700)
        try FileSystem.writeAtomically(path, Array(data) + [0x0A], mode: 0o600)
    }
}

/// A `docker-credential-NAME` program (the docker-credential-helpers protocol): `get`, `store` and
/// `erase`, talking JSON on stdin and stdout.
public struct CredentialHelper: Sendable {
    public var name: String

    public init(name: String) { self.name = name }

    var program: String { "docker-credential-\(name)" }

    static let notFoundMessage = "credentials not found in native keychain"

    public func get(serverURL: String) throws -> Credentials? {
        let (status, out, err) = try run("get", input: Array(serverURL.utf8))
        if status != 0 {
            // The protocol's one way of saying "nothing stored": this exact line on stdout
            // (docker-credential-helpers' errCredentialsNotFoundMessage).
            if String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == Self.notFoundMessage { return nil }
            let message = String(decoding: out + err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw StrataError(.unauthorized, "credential helper \(program) failed for \(serverURL): \(message)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(out)) as? [String: Any] else {
            throw StrataError(.invalidJSON, "credential helper \(program) answered something that is not JSON")
        }
        let user = object["Username"] as? String ?? ""
        let secret = object["Secret"] as? String ?? ""
        // "<token>" as the user name means the secret is an identity (refresh) token.
        if user == "<token>" { return Credentials(username: "", password: "", identityToken: secret) }
        return Credentials(username: user, password: secret)
    }

    public func store(_ credentials: Credentials, serverURL: String) throws {
        let payload: [String: String] = [
            "ServerURL": serverURL,
            "Username": credentials.identityToken == nil ? credentials.username : "<token>",
            "Secret": credentials.identityToken ?? credentials.password,
        ]
        let (status, out, err) = try run("store", input: Array(try JSONSerialization.data(withJSONObject: payload)))
        guard status == 0 else {
            throw StrataError(.unauthorized, "credential helper \(program) could not store credentials: \(String(decoding: out + err, as: UTF8.self))")
        }
    }

    public func erase(serverURL: String) throws -> Bool {
        let (status, _, _) = try run("erase", input: Array(serverURL.utf8))
        return status == 0
    }

    private func run(_ verb: String, input: [UInt8]) throws -> (Int32, [UInt8], [UInt8]) {
        let path: String
        do { path = try Subprocess.resolve(program) } catch let error as StrataError {
            throw StrataError(.invalidArgument, "credential helper \(program) is not installed (configured in the Docker config file)",
                              cause: error)
        }
        let output = try Subprocess.capture(path, [verb], input: input)
        return (output.status, output.stdout, output.stderr)
    }
}
