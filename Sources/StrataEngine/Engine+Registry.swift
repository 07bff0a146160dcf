import Foundation

extension Engine {
    /// A client for `registry` with the credentials stored for it (Docker's config file and its
    /// credential helpers), if any. `tlsVerify` overrides the engine's setting for one call.
    public func registryClient(for registry: String, tlsVerify: Bool? = nil) throws -> RegistryClient {
        var settings = options.registry
        if let tlsVerify { settings.tlsVerify = tlsVerify }
        let credentials = try DockerConfigFile().credentials(for: registry)
        return RegistryClient(registry: registry, credentials: credentials, options: settings)
    }

    public struct LoginResult: Sendable {
        /// The registry's name as credentials are stored under it.
        public var registry: String
        /// The config file that now holds the password in the clear, when no credential helper does.
        public var storedUnencryptedIn: String?
    }

    /// `strata login`: checks the credentials against the registry, then keeps them (in the
    /// registry's credential helper if one is configured, else in Docker's config file).
    public func login(_ server: String?, credentials: Credentials, tlsVerify: Bool? = nil) async throws -> LoginResult {
        let name = Self.registryName(server)
        var settings = options.registry
        if let tlsVerify { settings.tlsVerify = tlsVerify }
        let client = RegistryClient(registry: name, credentials: credentials, options: settings)
        do {
            try await client.checkLogin()
        } catch let error as StrataError {
            throw error.context("login to \(name) failed")
        }
        var config = try DockerConfigFile()
        try config.store(credentials, for: name)
        return LoginResult(registry: name, storedUnencryptedIn: config.helper(for: name) == nil ? config.path : nil)
    }

    /// `strata logout`: forgets a registry's credentials; false when there were none.
    public func logout(_ server: String?) throws -> Bool {
        var config = try DockerConfigFile()
        return try config.erase(registry: Self.registryName(server))
    }

    /// `https://host:port/v1/` or `host:port` → the registry's name; none → Docker Hub.
    public static func registryName(_ server: String?) -> String {
        guard let server, !server.isEmpty else { return Reference.defaultDomain }
        let trimmed = DockerConfigFile.normalize(server)
        return trimmed == "index.docker.io" || trimmed == "registry-1.docker.io" ? Reference.defaultDomain : trimmed
    }
}
