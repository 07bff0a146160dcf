import ArgumentParser
import Foundation
import ImageSpec
import Registry

/// `strata login`: checks credentials against a registry and keeps them in the Docker config file.
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log in to a registry (default: Docker Hub).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Option(name: .shortAndLong, help: "Username.") var username: String?
    @Option(name: .shortAndLong, help: "Password.") var password: String?
    @Flag(name: .customLong("password-stdin"), help: "Take the password from stdin.") var passwordStdin = false
    @Argument(help: "SERVER") var server: String?

    func run() async throws {
        let name = Self.registryName(server)
        if password != nil && passwordStdin {
            throw ValidationError("--password and --password-stdin are mutually exclusive")
        }
        var user = username ?? ""
        if user.isEmpty {
            guard isatty(0) != 0, !passwordStdin else {
                throw StrataError(.invalidArgument, "Must provide --username with --password-stdin (or when stdin is not a terminal)")
            }
            FileHandle.standardOutput.write(Data("Username: ".utf8))
            user = (readLine() ?? "").trimmingCharacters(in: .whitespaces)
        }
        var secret: String
        if let password {
            warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
            secret = password
        } else if passwordStdin {
            secret = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            while secret.hasSuffix("\n") || secret.hasSuffix("\r") { secret.removeLast() }
        } else {
            guard isatty(0) != 0, let typed = getpass("Password: ") else {
                throw StrataError(.invalidArgument, "Cannot perform an interactive login from a non TTY device")
            }
            secret = String(cString: typed)
        }
        guard !user.isEmpty, !secret.isEmpty else { throw StrataError(.invalidArgument, "Error: Username and password are required") }
        let credentials = Credentials(username: user, password: secret)
        let client = RegistryClient(registry: name, credentials: credentials, options: RegistryOptions(tlsVerify: registry.tlsVerify))
        do {
            try await client.checkLogin()
        } catch let error as StrataError {
            throw StrataError(error.code, "login to \(name) failed: \(error.message)")
        }
        var config = try DockerConfigFile()
        try config.store(credentials, for: name)
        if config.helper(for: name) == nil {
            warn("WARNING! Your password will be stored unencrypted in \(config.path).")
        }
        emit("Login Succeeded\n")
    }

    /// `https://host:port/v1/` or `host:port` → the registry's name; none → Docker Hub.
    static func registryName(_ server: String?) -> String {
        guard let server, !server.isEmpty else { return Reference.defaultDomain }
        let trimmed = DockerConfigFile.normalize(server)
        return trimmed == "index.docker.io" || trimmed == "registry-1.docker.io" ? Reference.defaultDomain : trimmed
    }
}

/// `strata logout`: forgets a registry's credentials.
struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log out from a registry (default: Docker Hub).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "SERVER") var server: String?

    func run() async throws {
        let name = Login.registryName(server)
        var config = try DockerConfigFile()
        let shown = name == Reference.defaultDomain ? DockerConfigFile.dockerHubKey : name
        if try config.erase(registry: name) {
            emit("Removing login credentials for \(shown)\n")
        } else {
            emit("Not logged in to \(shown)\n")
        }
    }
}
