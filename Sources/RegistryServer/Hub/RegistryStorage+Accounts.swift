import Crypto
import Foundation
import HummingbirdBcrypt
import ImageSpec
import Metadata
import Synchronization

/// Users, organisations and access tokens, in the registry's own database: the Hub half of
/// `registry serve`. Passwords are bcrypt hashes; token secrets are stored as their SHA-256 (they
/// are 256 random bits, so a slow hash would add nothing) and compared in constant time.
extension RegistryStorage {
    static let accountsMigration = """
        CREATE TABLE accounts (
            name TEXT PRIMARY KEY, kind TEXT NOT NULL, password TEXT, admin INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL);
        CREATE TABLE organization_members (
            organization TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
            member TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
            role TEXT NOT NULL, PRIMARY KEY (organization, member));
        CREATE INDEX organization_members_member ON organization_members(member);
        CREATE TABLE access_tokens (
            id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
            kind TEXT NOT NULL, secret_sha256 TEXT NOT NULL, scope TEXT NOT NULL, repository TEXT,
            -- A login token made from a personal token dies with it.
            parent TEXT REFERENCES access_tokens(id) ON DELETE CASCADE,
            created INTEGER NOT NULL, expires INTEGER, last_used INTEGER, revoked INTEGER);
        CREATE INDEX access_tokens_user ON access_tokens(user);
        ALTER TABLE repositories ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
        ALTER TABLE manifests ADD COLUMN pushed_by TEXT;
        -- Docker's names: a repository of one component is an official image, library/NAME.
        UPDATE OR IGNORE repositories SET name = 'library/' || name WHERE instr(name, '/') = 0;
        UPDATE OR IGNORE repository_blobs SET repository = 'library/' || repository WHERE instr(repository, '/') = 0;
        UPDATE OR IGNORE manifests SET repository = 'library/' || repository WHERE instr(repository, '/') = 0;
        UPDATE OR IGNORE manifest_references SET repository = 'library/' || repository WHERE instr(repository, '/') = 0;
        UPDATE OR IGNORE tags SET repository = 'library/' || repository WHERE instr(repository, '/') = 0;
        UPDATE OR IGNORE uploads SET repository = 'library/' || repository WHERE instr(repository, '/') = 0;
        """

    /// bcrypt's work factor: about 60 ms a check on this class of machine, paid once per login
    /// (a token then carries the session), and enough to make a stolen database slow to crack.
    public static let bcryptCost: UInt8 = 10
    static let minimumPasswordLength = 8

    /// Who runs an account command on the server's machine, as the event log names them.
    public static var localOperator: String {
        let environment = ProcessInfo.processInfo.environment
        return "local:" + (environment["SUDO_USER"] ?? environment["USER"] ?? String(getuid()))
    }

    // MARK: users and organisations

    public func addUser(_ name: String, password: String, admin: Bool = false, by actor: String = localOperator) throws {
        try Self.checkNew(name)
        try Self.checkPassword(password)
        let hash = Bcrypt.hash(password, cost: Self.bcryptCost)
        try insertAccount(Account(name: name, kind: .user, isAdmin: admin), passwordHash: hash)
        try events.append(RegistryEvent(.userAdd, actor: actor, detail: "\(name)\(admin ? " (admin)" : "")"))
    }

    public func addOrganization(_ name: String, owner: String? = nil, by actor: String = localOperator) throws {
        try Self.checkNew(name)
        try withDatabase { db in
            try db.write {
                if let owner { _ = try Self.user(owner, in: db) }
                try Self.insert(Account(name: name, kind: .organization), passwordHash: nil, in: db)
                if let owner {
                    try db.execute("INSERT INTO organization_members (organization, member, role) VALUES (?, ?, ?)",
                                   [.text(name), .text(owner), .text(OrganizationRole.owner.rawValue)])
                }
            }
        }
        try events.append(RegistryEvent(.organizationAdd, actor: actor, detail: name + (owner.map { " (owner \($0))" } ?? "")))
    }

    private func insertAccount(_ account: Account, passwordHash: String?) throws {
        try withDatabase { db in try db.write { try Self.insert(account, passwordHash: passwordHash, in: db) } }
    }

    private static func insert(_ account: Account, passwordHash: String?, in db: any SQLDatabase) throws {
        if try !db.query("SELECT 1 FROM accounts WHERE name = ?", [.text(account.name)]).isEmpty {
            throw StrataError(.conflict, "an account named \(account.name) already exists")
        }
        try db.execute("INSERT INTO accounts (name, kind, password, admin, created) VALUES (?, ?, ?, ?, ?)",
                       [.text(account.name), .text(account.kind.rawValue), .optional(passwordHash),
                        .integer(account.isAdmin ? 1 : 0), .integer(Int64(account.created.timeIntervalSince1970))])
    }

    public func setPassword(_ name: String, password: String, by actor: String = localOperator) throws {
        try Self.checkPassword(password)
        let hash = Bcrypt.hash(password, cost: Self.bcryptCost)
        try withDatabase { db in
            try db.write {
                _ = try Self.user(name, in: db)
                try db.execute("UPDATE accounts SET password = ? WHERE name = ?", [.text(hash), .text(name)])
            }
        }
        try events.append(RegistryEvent(.passwordChange, actor: actor, detail: name))
    }

    public func setAdmin(_ name: String, _ admin: Bool) throws {
        try withDatabase { db in
            try db.write {
                _ = try Self.user(name, in: db)
                try db.execute("UPDATE accounts SET admin = ? WHERE name = ?", [.integer(admin ? 1 : 0), .text(name)])
            }
        }
    }

    /// Removes a user (with their tokens and memberships) or an organisation. Their repositories
    /// stay, so nothing pushed is lost; only an admin can push to them until the name is taken again.
    public func removeAccount(_ name: String, by actor: String = localOperator) throws {
        let removed = try withDatabase { db in
            try db.write {
                let found = try !db.query("SELECT 1 FROM accounts WHERE name = ?", [.text(name)]).isEmpty
                try db.execute("DELETE FROM accounts WHERE name = ?", [.text(name)])
                return found
            }
        }
        guard removed else { throw StrataError(.accountUnknown, "no user or organisation named \(name)") }
        try events.append(RegistryEvent(.userRemove, actor: actor, detail: name))
    }

    public func accounts(kind: Account.Kind? = nil) throws -> [Account] {
        try withDatabase { db in
            var sql = "SELECT name, kind, admin, created FROM accounts"
            var parameters: [SQLValue] = []
            if let kind { sql += " WHERE kind = ?"; parameters.append(.text(kind.rawValue)) }
            return try db.query(sql + " ORDER BY name", parameters).compactMap(Self.account)
        }
    }

    public func account(_ name: String) throws -> Account? {
        try withDatabase { try $0.query("SELECT name, kind, admin, created FROM accounts WHERE name = ?", [.text(name)]).first.flatMap(Self.account) }
    }

    /// Whether any user exists: the server then asks for credentials by default.
    public func hasUsers() throws -> Bool {
        try withDatabase { try !$0.query("SELECT 1 FROM accounts WHERE kind = 'user' LIMIT 1").isEmpty }
    }

    private static func account(_ row: Row) -> Account? {
        guard let name = row.string(0), let kind = row.string(1).flatMap(Account.Kind.init(rawValue:)) else { return nil }
        return Account(name: name, kind: kind, isAdmin: row.int(2) == 1, created: Date(timeIntervalSince1970: TimeInterval(row.int(3) ?? 0)))
    }

    private static func user(_ name: String, in db: any SQLDatabase) throws -> Account {
        guard let account = try db.query("SELECT name, kind, admin, created FROM accounts WHERE name = ?", [.text(name)]).first.flatMap(account) else {
            throw StrataError(.accountUnknown, "no user named \(name)")
        }
        guard account.kind == .user else { throw StrataError(.invalidArgument, "\(name) is an organisation, not a user") }
        return account
    }

    private static func checkNew(_ name: String) throws {
        if let problem = Account.nameProblem(name) { throw StrataError(.invalidArgument, "invalid account name: \(problem)") }
    }

    private static func checkPassword(_ password: String) throws {
        guard password.count >= minimumPasswordLength else {
            throw StrataError(.invalidArgument, "a password has at least \(minimumPasswordLength) characters")
        }
        // bcrypt reads at most 72 bytes: a longer password would be accepted by its first 72 alone.
        guard password.utf8.count <= 72 else { throw StrataError(.invalidArgument, "a password has at most 72 bytes (bcrypt reads no more)") }
        guard !password.hasPrefix(AccessToken.prefix), !password.hasPrefix(AccessToken.loginPrefix) else {
            throw StrataError(.invalidArgument, "a password may not look like an access token")
        }
    }

    /// Imports the users of a distribution htpasswd file (`user:$2y$…` per line, bcrypt only, as
    /// distribution accepts). Returns the names imported; existing names are an error, and then
    /// nothing is imported.
    public func importHtpasswd(_ text: String) throws -> [String] {
        var entries: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw StrataError(.invalidArgument, "htpasswd line \(number + 1): expected USER:HASH")
            }
            let name = String(trimmed[..<colon])
            var hash = String(trimmed[trimmed.index(after: colon)...])
            if let problem = Account.nameProblem(name) { throw StrataError(.invalidArgument, "htpasswd line \(number + 1): \(problem)") }
            // $2y$ is PHP's name for what OpenBSD calls $2b$: the same algorithm, the same hash.
            if hash.hasPrefix("$2y$") { hash = "$2b$" + hash.dropFirst(4) }
            guard hash.hasPrefix("$2a$") || hash.hasPrefix("$2b$"), hash.count == 60 else {
                throw StrataError(.invalidArgument, "htpasswd line \(number + 1): \(name)'s password is not a bcrypt hash (make the file with htpasswd -B, as distribution requires)")
            }
            entries.append((name, hash))
        }
        try withDatabase { db in
            try db.write {
                for (name, hash) in entries { try Self.insert(Account(name: name, kind: .user), passwordHash: hash, in: db) }
            }
        }
        for (name, _) in entries { try events.append(RegistryEvent(.userAdd, actor: Self.localOperator, detail: "\(name) (from htpasswd)")) }
        return entries.map(\.0)
    }

    // MARK: organisation members

    public func setMember(_ organization: String, _ user: String, role: OrganizationRole, by actor: String = localOperator) throws {
        try withDatabase { db in
            try db.write {
                _ = try Self.organization(organization, in: db)
                _ = try Self.user(user, in: db)
                try db.execute("""
                    INSERT INTO organization_members (organization, member, role) VALUES (?, ?, ?)
                    ON CONFLICT (organization, member) DO UPDATE SET role = excluded.role
                    """,
                               [.text(organization), .text(user), .text(role.rawValue)])
            }
        }
        try events.append(RegistryEvent(.memberChange, actor: actor, detail: "\(user) is a \(role.rawValue) of \(organization)"))
    }

    public func removeMember(_ organization: String, _ user: String, by actor: String = localOperator) throws {
        let removed = try withDatabase { db in
            try db.write {
                _ = try Self.organization(organization, in: db)
                let found = try !db.query("SELECT 1 FROM organization_members WHERE organization = ? AND member = ?", [.text(organization), .text(user)]).isEmpty
                try db.execute("DELETE FROM organization_members WHERE organization = ? AND member = ?", [.text(organization), .text(user)])
                return found
            }
        }
        guard removed else { throw StrataError(.accountUnknown, "\(user) is not a member of \(organization)") }
        try events.append(RegistryEvent(.memberChange, actor: actor, detail: "\(user) left \(organization)"))
    }

    public func members(_ organization: String) throws -> [(user: String, role: OrganizationRole)] {
        try withDatabase { db in
            _ = try Self.organization(organization, in: db)
            return try db.query("SELECT member, role FROM organization_members WHERE organization = ? ORDER BY member", [.text(organization)]).compactMap { row in
                guard let user = row.string(0), let role = row.string(1).flatMap(OrganizationRole.init(rawValue:)) else { return nil }
                return (user, role)
            }
        }
    }

    private static func organization(_ name: String, in db: any SQLDatabase) throws -> Account {
        guard let account = try db.query("SELECT name, kind, admin, created FROM accounts WHERE name = ?", [.text(name)]).first.flatMap(account) else {
            throw StrataError(.accountUnknown, "no organisation named \(name)")
        }
        guard account.kind == .organization else { throw StrataError(.invalidArgument, "\(name) is a user, not an organisation") }
        return account
    }

    // MARK: access tokens

    /// Makes a token and returns it with its secret, which is shown once and stored only hashed.
    public func createToken(user: String, kind: AccessToken.Kind = .personal, scope: TokenScope, repository: String? = nil,
                            expires: Date? = nil, parent: String? = nil, by actor: String = localOperator) throws -> (token: AccessToken, secret: String) {
        if let repository { try Self.validate(repository: repository) }
        var random = SystemRandomNumberGenerator()
        let id = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let secret = Data(secretBytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let token = AccessToken(id: id, user: user, kind: kind, scope: scope, repository: repository.map(Self.canonical),
                                created: Date(), expires: expires)
        try withDatabase { db in
            try db.write {
                _ = try Self.user(user, in: db)
                try db.execute("""
                    INSERT INTO access_tokens (id, "user", kind, secret_sha256, scope, repository, parent, created, expires)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.text(id), .text(user), .text(kind.rawValue), .text(Self.sha256(secret)), .text(scope.rawValue),
                          .optional(token.repository), .optional(parent), .integer(Self.now),
                          expires.map { .integer(Int64($0.timeIntervalSince1970)) } ?? .null])
            }
        }
        // A login token is part of the login the event log records; a personal one is a change of its own.
        if kind == .personal {
            try events.append(RegistryEvent(.tokenCreate, actor: actor, repository: token.repository,
                                            detail: "\(id) for \(user), scope \(scope.rawValue)\(expires.map { ", expires \(RFC3339.format($0))" } ?? "")"))
        }
        let prefix = kind == .personal ? AccessToken.prefix : AccessToken.loginPrefix
        return (token, "\(prefix)\(id)_\(secret)")
    }

    public func tokens(user: String? = nil, includeLogin: Bool = false) throws -> [AccessToken] {
        try withDatabase { db in
            var sql = #"SELECT id, "user", kind, scope, repository, created, expires, last_used, revoked FROM access_tokens WHERE TRUE"#
            var parameters: [SQLValue] = []
            if let user { sql += #" AND "user" = ?"#; parameters.append(.text(user)) }
            if !includeLogin { sql += " AND kind = 'personal'" }
            return try db.query(sql + " ORDER BY created, id", parameters).compactMap(Self.token)
        }
    }

    /// Revokes a token (and the login tokens made from it): it stays listed, as revoked.
    public func revokeToken(_ id: String, by actor: String = localOperator) throws {
        let id = AccessToken.parse(id)?.id ?? id
        let found = try withDatabase { db in
            try db.write {
                let found = try !db.query("SELECT 1 FROM access_tokens WHERE id = ?", [.text(id)]).isEmpty
                try db.execute("UPDATE access_tokens SET revoked = ? WHERE (id = ? OR parent = ?) AND revoked IS NULL",
                               [.integer(Self.now), .text(id), .text(id)])
                return found
            }
        }
        guard found else { throw StrataError(.accountUnknown, "no access token with id \(id)") }
        try events.append(RegistryEvent(.tokenRevoke, actor: actor, detail: id))
    }

    private static func token(_ row: Row) -> AccessToken? {
        guard let id = row.string(0), let user = row.string(1), let kind = row.string(2).flatMap(AccessToken.Kind.init(rawValue:)),
              let scope = row.string(3).flatMap(TokenScope.init(rawValue:)) else { return nil }
        func date(_ i: Int) -> Date? { row.int(i).map { Date(timeIntervalSince1970: TimeInterval($0)) } }
        return AccessToken(id: id, user: user, kind: kind, scope: scope, repository: row.string(4), created: date(5) ?? Date(),
                           expires: date(6), lastUsed: date(7), revoked: date(8))
    }

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: signing in

    /// Checks a user's password or access token and says who the caller is. Every refusal is an
    /// `.unauthorized` error whose message names the problem without telling a guesser which half
    /// was wrong; a token's own state (expired, revoked) is told, since only its holder can ask.
    /// `user` nil: whoever owns the token (an OAuth2 refresh grant names no user).
    public func authenticate(user: String?, secret: String) throws -> Caller {
        if let (id, tokenSecret) = AccessToken.parse(secret) {
            return try authenticate(user: user, tokenID: id, secret: tokenSecret)
        }
        guard let user else { throw StrataError(.unauthorized, "incorrect username or password") }
        let row = try withDatabase { try $0.query("SELECT password, admin, kind FROM accounts WHERE name = ?", [.text(user)]).first }
        guard let row, row.string(2) == Account.Kind.user.rawValue, let hash = row.string(0) else {
            // The same work as a real check, so that the time taken does not tell which names exist.
            _ = Bcrypt.verify(secret, hash: Self.decoyHash)
            throw StrataError(.unauthorized, "incorrect username or password")
        }
        // Basic clients send the password with every request: bcrypt runs once per password and
        // stored hash, so a changed password (or a removed user) is checked afresh at once.
        let remembered = RegistryStorage.sha256("\(user)\u{0}\(secret)")
        if !passwordChecks.passed(remembered, hash) {
            guard Bcrypt.verify(secret, hash: hash) else { throw StrataError(.unauthorized, "incorrect username or password") }
            passwordChecks.record(remembered, hash)
        }
        return Caller(user: user, isAdmin: row.int(1) == 1)
    }

    private func authenticate(user: String?, tokenID id: String, secret: String) throws -> Caller {
        let found = try withDatabase { db in
            try db.query("""
                SELECT t."user", t.kind, t.scope, t.repository, t.expires, t.revoked, t.secret_sha256, a.admin, t.parent
                FROM access_tokens t JOIN accounts a ON a.name = t."user" WHERE t.id = ?
                """, [.text(id)]).first
        }
        guard let found, let owner = found.string(0), let stored = found.string(6),
              ConstantTime.equal(Array(Self.sha256(secret).utf8), Array(stored.utf8)) else {
            throw StrataError(.unauthorized, "incorrect username or access token")
        }
        if let user, owner != user { throw StrataError(.unauthorized, "this access token is not \(user)'s: sign in as its owner") }
        if let revoked = found.int(5) {
            throw StrataError(.unauthorized, "access token \(id) was revoked on \(Self.day(revoked)): create a new one with strata registry token create")
        }
        if let expires = found.int(4), expires <= Self.now {
            throw StrataError(.unauthorized, "access token \(id) expired on \(Self.day(expires)): create a new one with strata registry token create")
        }
        try withDatabase { try $0.execute("UPDATE access_tokens SET last_used = ? WHERE id = ?", [.integer(Self.now), .text(id)]) }
        let kind = found.string(1).flatMap(AccessToken.Kind.init(rawValue:))
        // A login token carries the rights of what the user logged in with; a password login's are the user's own.
        let limited = kind == .personal || found.string(8) != nil
        return Caller(user: owner, isAdmin: found.int(7) == 1,
                      scope: limited ? found.string(2).flatMap(TokenScope.init(rawValue:)) : nil,
                      repository: found.string(3), tokenID: kind == .personal ? id : found.string(8))
    }

    /// The caller a bearer token names: the user, narrowed by the access token they signed in with.
    public func caller(_ user: String, tokenID: String?) throws -> Caller {
        try withDatabase { db in
            let admin = try db.query("SELECT admin FROM accounts WHERE name = ?", [.text(user)]).first?.int(0) == 1
            guard let tokenID, let row = try db.query("SELECT scope, repository FROM access_tokens WHERE id = ?", [.text(tokenID)]).first else {
                return Caller(user: user, isAdmin: admin)
            }
            return Caller(user: user, isAdmin: admin, scope: row.string(0).flatMap(TokenScope.init(rawValue:)), repository: row.string(1), tokenID: tokenID)
        }
    }

    private static func day(_ seconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// A bcrypt hash of nothing anyone knows, at the same cost: checked against when the user does not exist.
    static let decoyHash = Bcrypt.hash(UUID().uuidString, cost: bcryptCost)
}

/// Passwords that matched their stored bcrypt hash, by a SHA-256 of user and password.
final class PasswordChecks: Sendable {
    private let passes = Mutex<[String: String]>([:])

    func passed(_ key: String, _ hash: String) -> Bool { passes.withLock { $0[key] == hash } }

    func record(_ key: String, _ hash: String) {
        passes.withLock { passes in
            if passes.count >= 1000 { passes.removeAll() }
            passes[key] = hash
        }
    }
}

/// Comparison whose time does not depend on where two secrets first differ.
enum ConstantTime {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
