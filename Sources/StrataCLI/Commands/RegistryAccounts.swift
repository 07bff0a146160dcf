import ArgumentParser
import Foundation
import RegistryServer
import StrataEngine

/// The registry's storage, for the commands that work on it beside the server (accounts, gc,
/// check): the root and the settings `registry serve` uses. They write to its database while the
/// server runs; the server reads accounts at every sign-in.
struct RegistryRootOption: ParsableArguments {
    @Option(help: ArgumentHelp("Registry storage (as for serve).", valueName: "dir")) var root: String?
    @Option(help: ArgumentHelp("The YAML settings the registry is served with: its blob storage and metadata database.", valueName: "file"))
    var config: String?

    func storage() throws -> RegistryStorage {
        var configuration = RegistryServer.Configuration(root: RegistryServe.defaultRoot)
        if let config { try configuration.load(file: config) }
        if let root { configuration.root = root }
        return try configuration.openStorage()
    }
}

/// A password from the terminal (asked twice), or the whole of stdin less its last newline.
func readNewPassword() throws -> String {
    if isatty(0) != 0 {
        guard let first = getpass("Password: ").map({ String(cString: $0) }), let second = getpass("Retype password: ").map({ String(cString: $0) }) else {
            throw StrataError(.invalidArgument, "cannot read a password from the terminal")
        }
        guard first == second else { throw StrataError(.invalidArgument, "the passwords do not match") }
        return first
    }
    var secret = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    while secret.hasSuffix("\n") || secret.hasSuffix("\r") { secret.removeLast() }
    guard !secret.isEmpty else { throw StrataError(.invalidArgument, "no password on stdin: pipe one in (echo \"$PASSWORD\" | strata registry user add NAME)") }
    return secret
}

struct RegistryUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage the registry's users.",
        subcommands: [Add.self, Remove.self, List.self, Password.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a user, with the password from stdin; or import an htpasswd file.")
        @OptionGroup var registry: RegistryRootOption
        @Flag(help: "Make the user an admin (admins push to library/, the official images).") var admin = false
        @Option(name: .customLong("import-htpasswd"), help: ArgumentHelp("Import the users of a distribution htpasswd file (bcrypt entries).", valueName: "file"))
        var htpasswd: String?
        @Argument(help: "NAME") var name: String?

        func validate() throws {
            if (name == nil) == (htpasswd == nil) { throw ValidationError("give a NAME, or --import-htpasswd FILE") }
        }

        func run() async throws {
            let storage = try registry.storage()
            if let htpasswd {
                let text: String
                do { text = try String(contentsOfFile: htpasswd, encoding: .utf8) } catch {
                    throw StrataError(.invalidArgument, "cannot read \(htpasswd): \(error.localizedDescription)", cause: error)
                }
                let names = try storage.importHtpasswd(text)
                if admin { for name in names { try storage.setAdmin(name, true) } }
                emit("Imported \(names.count) user\(names.count == 1 ? "" : "s") from \(htpasswd): \(names.joined(separator: ", "))\n")
            } else if let name {
                try storage.addUser(name, password: try readNewPassword(), admin: admin)
                emit("Added user \(name)\(admin ? " (admin)" : "")\n")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove users (their tokens and memberships go; their repositories stay).")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "NAME") var names: [String]

        func run() async throws {
            let storage = try registry.storage()
            for name in names {
                guard try storage.account(name)?.kind == .user else { throw StrataError(.accountUnknown, "no user named \(name)") }
                try storage.removeAccount(name)
                emit("\(name)\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List users.")
        @OptionGroup var registry: RegistryRootOption

        func run() async throws {
            var table = Table(["NAME", "ROLE", "CREATED"])
            for account in try registry.storage().accounts(kind: .user) {
                table.append([account.name, account.isAdmin ? "admin" : "user", Units.ago(account.created)])
            }
            emit(table.render())
        }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "passwd", abstract: "Set a user's password, from stdin.")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "NAME") var name: String

        func run() async throws {
            try registry.storage().setPassword(name, password: try readNewPassword())
            emit("Password of \(name) changed\n")
        }
    }
}

struct RegistryToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage personal access tokens: passwords for docker login, with a scope.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create a token; it is shown once. Use it as the password of docker login.")
        @OptionGroup var registry: RegistryRootOption
        @Option(help: "The user the token signs in as.") var user: String
        @Option(help: "What it may do: read (pull), write (pull, push) or delete (pull, push, delete).") var scope: String
        @Option(help: ArgumentHelp("Only this repository.", valueName: "ns/name")) var repo: String?
        @Option(help: ArgumentHelp("Lifetime (30d, 12h; default: no expiry).", valueName: "duration")) var expires: String?

        func run() async throws {
            guard let parsed = TokenScope(rawValue: scope) else {
                throw StrataError(.invalidArgument, "invalid --scope \"\(scope)\": read, write or delete")
            }
            let expiry = try expires.map { Date().addingTimeInterval(try RegistryServer.Configuration.duration($0, "--expires")) }
            let (token, secret) = try registry.storage().createToken(user: user, scope: parsed, repository: repo, expires: expiry)
            emit(secret + "\n")
            let limits = [token.repository.map { "for \($0) only" }, expiry.map { "expires \(ISO8601DateFormatter().string(from: $0))" }].compactMap { $0 }
            warn("Token \(token.id) for \(user), scope \(parsed.rawValue)\(limits.isEmpty ? "" : ", " + limits.joined(separator: ", ")). It is not shown again.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List tokens (never their secrets).")
        @OptionGroup var registry: RegistryRootOption
        @Option(help: "Only this user's.") var user: String?
        @Flag(help: "Also the tokens clients were given at login (identity tokens).") var all = false

        func run() async throws {
            var table = Table(["ID", "USER", "KIND", "SCOPE", "REPOSITORY", "CREATED", "EXPIRES", "LAST USED", "STATUS"])
            let now = Date()
            for token in try registry.storage().tokens(user: user, includeLogin: all) {
                let status = token.revoked != nil ? "revoked" : (token.expires.map { $0 <= now } ?? false) ? "expired" : "active"
                table.append([token.id, token.user, token.kind.rawValue, token.scope.rawValue, token.repository ?? "*", Units.ago(token.created),
                              token.expires.map { ISO8601DateFormatter().string(from: $0) } ?? "never",
                              token.lastUsed.map { Units.ago($0) } ?? "never", status])
            }
            emit(table.render())
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke tokens (and the login tokens made from them).")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "ID (or the token itself)") var ids: [String]

        func run() async throws {
            let storage = try registry.storage()
            for id in ids {
                try storage.revokeToken(id)
                emit("Revoked \(AccessToken.parse(id)?.id ?? id)\n")
            }
        }
    }
}

struct RegistryOrganization: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "org", abstract: "Manage organisations: namespaces their members push to.",
        subcommands: [Add.self, Remove.self, List.self, Member.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an organisation.")
        @OptionGroup var registry: RegistryRootOption
        @Option(help: "Its first owner.") var owner: String?
        @Argument(help: "ORG") var name: String

        func run() async throws {
            try registry.storage().addOrganization(name, owner: owner)
            emit("Added organisation \(name)\(owner.map { " (owner \($0))" } ?? "")\n")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an organisation (its repositories stay).")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "ORG") var name: String

        func run() async throws {
            let storage = try registry.storage()
            guard try storage.account(name)?.kind == .organization else { throw StrataError(.accountUnknown, "no organisation named \(name)") }
            try storage.removeAccount(name)
            emit("\(name)\n")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List organisations.")
        @OptionGroup var registry: RegistryRootOption

        func run() async throws {
            let storage = try registry.storage()
            var table = Table(["NAME", "MEMBERS", "CREATED"])
            for account in try storage.accounts(kind: .organization) {
                table.append([account.name, String(try storage.members(account.name).count), Units.ago(account.created)])
            }
            emit(table.render())
        }
    }

    struct Member: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "member", abstract: "Manage an organisation's members.", subcommands: [MemberAdd.self, MemberRemove.self, MemberList.self])
    }

    struct MemberAdd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a member, or change a member's role.")
        @OptionGroup var registry: RegistryRootOption
        @Option(help: "owner (manages, deletes) or member (pushes).") var role = "member"
        @Argument(help: "ORG") var organization: String
        @Argument(help: "USER") var user: String

        func run() async throws {
            guard let parsed = OrganizationRole(rawValue: role) else { throw StrataError(.invalidArgument, "invalid --role \"\(role)\": owner or member") }
            try registry.storage().setMember(organization, user, role: parsed)
            emit("\(user) is now a\(parsed == .owner ? "n" : "") \(parsed.rawValue) of \(organization)\n")
        }
    }

    struct MemberRemove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a member.")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "ORG") var organization: String
        @Argument(help: "USER") var user: String

        func run() async throws {
            try registry.storage().removeMember(organization, user)
            emit("\(user) is no longer a member of \(organization)\n")
        }
    }

    struct MemberList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List members.")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "ORG") var organization: String

        func run() async throws {
            var table = Table(["USER", "ROLE"])
            for (user, role) in try registry.storage().members(organization) { table.append([user, role.rawValue]) }
            emit(table.render())
        }
    }
}

struct RegistryRepository: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo", abstract: "Manage repositories: create before the first push, visibility, description.",
        subcommands: [Create.self, Visibility.self, Describe.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a repository (public unless --private).")
        @OptionGroup var registry: RegistryRootOption
        @Flag(help: "Only those who may push to it may pull it, or see it listed.") var `private` = false
        @Option(help: "What it holds, as search and the web page show it.") var description = ""
        @Argument(help: "NS/NAME") var name: String

        func run() async throws {
            try registry.storage().createRepository(name, isPrivate: `private`, description: description)
            emit("Created \(`private` ? "private" : "public") repository \(RegistryStorage.canonical(name))\n")
        }
    }

    struct Visibility: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-visibility", abstract: "Make a repository public or private.")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "NS/NAME") var name: String
        @Argument(help: "public or private") var visibility: String

        func run() async throws {
            guard visibility == "public" || visibility == "private" else {
                throw StrataError(.invalidArgument, "invalid visibility \"\(visibility)\": public or private")
            }
            try registry.storage().setVisibility(name, isPrivate: visibility == "private")
            emit("\(RegistryStorage.canonical(name)) is now \(visibility)\n")
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-description", abstract: "Set a repository's description.")
        @OptionGroup var registry: RegistryRootOption
        @Argument(help: "NS/NAME") var name: String
        @Argument(help: "TEXT") var text: String

        func run() async throws {
            try registry.storage().setDescription(name, text)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List repositories.")
        @OptionGroup var registry: RegistryRootOption

        func run() async throws {
            var table = Table(["NAME", "VISIBILITY", "DESCRIPTION", "CREATED"])
            for info in try registry.storage().visibleRepositories(Caller(user: nil, isAdmin: true), limit: Int.max) {
                table.append([info.name, info.isPrivate ? "private" : "public", info.description, Units.ago(info.created)])
            }
            emit(table.render())
        }
    }
}

/// `strata registry events`: the audit trail, as `docker events` prints, or one JSON object per line.
struct RegistryEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Show the registry's audit trail: pushes, pulls, deletes, logins, failed logins, token and account changes.")
    @OptionGroup var registry: RegistryRootOption
    @Flag(name: .shortAndLong, help: "Keep printing events as they happen, until interrupted.") var follow = false
    @Option(help: "Output: text (default) or json (one object per line).") var format: String?

    func run() async throws {
        guard format == nil || format == "json" || format == "text" else {
            throw StrataError(.invalidArgument, "invalid --format \"\(format!)\": text or json")
        }
        let log = try registry.storage().events
        let encoder = EventLog.encoder
        var offset: Int64 = 0
        repeat {
            let (events, next) = try log.read(from: offset)
            for event in events {
                emit(format == "json" ? String(decoding: try encoder.encode(event), as: UTF8.self) + "\n" : event.line + "\n")
            }
            offset = next
            if follow { try await Task.sleep(for: .milliseconds(250)) }
        } while follow
    }
}
