import ArgumentParser
import Foundation
import StrataEngine

/// `strata login`: checks credentials against a registry and keeps them in the Docker config file.
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "login", abstract: "Log in to a registry (default: Docker Hub).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Option(name: .shortAndLong, help: "Username.") var username: String?
    @Option(name: .shortAndLong, help: "Password.") var password: String?
    @Flag(name: .customLong("password-stdin"), help: "Take the password from stdin.") var passwordStdin = false
    @Argument(help: "SERVER") var server: String?

    func run() async throws {
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
        let result = try await global.engine().login(server, credentials: Credentials(username: user, password: secret),
                                                     tlsVerify: registry.tlsVerify)
        if let path = result.storedUnencryptedIn {
            warn("WARNING! Your password will be stored unencrypted in \(path).")
        }
        emit("Login Succeeded\n")
    }
}

/// `strata logout`: forgets a registry's credentials.
struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Log out from a registry (default: Docker Hub).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "SERVER") var server: String?

    func run() async throws {
        let name = Engine.registryName(server)
        let shown = name == Reference.defaultDomain ? DockerConfigFile.dockerHubKey : name
        if try global.engine().logout(server) {
            emit("Removing login credentials for \(shown)\n")
        } else {
            emit("Not logged in to \(shown)\n")
        }
    }
}
