import Foundation
import ImageSpec
import Metadata

/// Who may do what to which repository, decided in one place for every way in (token, Basic,
/// the web page, search):
/// - `library/NAME` (what a bare `NAME` means, as Docker normalises it) is pushed to by admins;
/// - `USER/…` by that user; `ORG/…` by the organisation's members, and deleted from by its owners;
/// - a public repository is pulled by anyone, a private one only by those who may push to it;
/// - a repository someone may not pull is, to them, one that does not exist;
/// - an access token narrows all of this to its scope (and its repository).
extension RegistryStorage {
    /// A repository as the Hub shows it.
    public struct RepositoryInfo: Sendable, Equatable {
        public var name: String
        public var isPrivate: Bool
        public var description: String
        public var created: Date
    }

    /// `busybox` is `library/busybox`, as Docker reads it.
    public static func canonical(_ name: String) -> String {
        name.contains("/") ? name : "library/" + name
    }

    /// The namespace a repository is in: its first component.
    public static func namespace(of repository: String) -> String {
        String(canonical(repository).prefix { $0 != "/" })
    }

    /// The actions `caller` may take on `repository`, of the three.
    public func allowedActions(_ caller: Caller, on repository: String) throws -> Set<RepositoryAction> {
        let repository = Self.canonical(repository)
        if let only = caller.repository, only != repository { return [] }
        var actions = try withDatabase { db in try Self.rights(caller, on: repository, in: db) }
        if let scope = caller.scope { actions.formIntersection(scope.actions) }
        return actions
    }

    private static func rights(_ caller: Caller, on repository: String, in db: any SQLDatabase) throws -> Set<RepositoryAction> {
        if caller.isAdmin { return Set(RepositoryAction.allCases) }
        let namespace = namespace(of: repository)
        if let user = caller.user {
            if namespace == user { return Set(RepositoryAction.allCases) }
            if let role = try db.query("SELECT role FROM organization_members WHERE organization = ? AND member = ?",
                                       [.text(namespace), .text(user)]).first?.string(0).flatMap(OrganizationRole.init(rawValue:)) {
                return role == .owner ? Set(RepositoryAction.allCases) : [.pull, .push]
            }
        }
        let visibility = try db.query("SELECT private FROM repositories WHERE name = ?", [.text(repository)]).first?.int(0)
        return visibility == 0 ? [.pull] : []
    }

    /// Why `caller` may not take `action` on `repository`, in words that say whose it is.
    public func denial(_ caller: Caller, _ action: RepositoryAction, on repository: String) throws -> String {
        let repository = Self.canonical(repository)
        let who = caller.displayName
        if let only = caller.repository, only != repository {
            return "\(who)'s access token is for \(only) only, not \(repository)"
        }
        if let scope = caller.scope, !scope.actions.contains(action),
           try withDatabase({ try Self.rights(caller, on: repository, in: $0) }).contains(action) {
            return "\(who)'s access token has the \(scope.rawValue) scope, which does not allow \(action.rawValue)"
        }
        let namespace = Self.namespace(of: repository)
        if namespace == "library" {
            return "library/ holds the official images, which only an admin may \(action.rawValue); \(who) is not an admin"
        }
        switch try account(namespace)?.kind {
        case .user?:
            return "\(repository) is in \(namespace)'s namespace: only \(namespace) may \(action.rawValue) there, not \(who)"
        case .organization?:
            let role = try members(namespace).first { $0.user == caller.user }?.role
            if let role {
                return "\(action.rawValue) in \(namespace)/ needs the owner role in the organisation \(namespace); \(who) is a \(role.rawValue)"
            }
            return "\(repository) belongs to the organisation \(namespace), of which \(who) is not a member"
        case nil:
            return "no user or organisation is named \(namespace), so nobody but an admin may \(action.rawValue) in \(namespace)/"
        }
    }

    // MARK: repositories as the Hub shows them

    public func repositoryInfo(_ name: String) throws -> RepositoryInfo? {
        try withDatabase { db in
            try db.query("SELECT name, private, description, created FROM repositories WHERE name = ?", [.text(Self.canonical(name))]).first.flatMap(Self.info)
        }
    }

    /// Makes a repository before its first push (a private one, typically). One that exists is an error.
    public func createRepository(_ name: String, isPrivate: Bool, description: String = "", by actor: String = localOperator) throws {
        let name = Self.canonical(name)
        try Self.validate(repository: name)
        try withDatabase { db in
            try db.write {
                if try !db.query("SELECT 1 FROM repositories WHERE name = ?", [.text(name)]).isEmpty {
                    throw StrataError(.conflict, "repository \(name) already exists")
                }
                try db.execute("INSERT INTO repositories (name, created, private, description) VALUES (?, ?, ?, ?)",
                               [.text(name), .integer(Self.now), .integer(isPrivate ? 1 : 0), .text(description)])
            }
        }
        try events.append(RegistryEvent(.repositoryCreate, actor: actor, repository: name, detail: isPrivate ? "private" : "public"))
    }

    public func setVisibility(_ name: String, isPrivate: Bool, by actor: String = localOperator) throws {
        try updateRepository(name, "private = ?", .integer(isPrivate ? 1 : 0))
        try events.append(RegistryEvent(.visibilityChange, actor: actor, repository: Self.canonical(name), detail: isPrivate ? "private" : "public"))
    }

    public func setDescription(_ name: String, _ description: String) throws {
        guard description.count <= 1000 else { throw StrataError(.invalidArgument, "a description has at most 1000 characters") }
        try updateRepository(name, "description = ?", .text(description))
    }

    private func updateRepository(_ name: String, _ assignment: String, _ value: SQLValue) throws {
        let name = Self.canonical(name)
        let found = try withDatabase { db in
            try db.write {
                let found = try !db.query("SELECT 1 FROM repositories WHERE name = ?", [.text(name)]).isEmpty
                try db.execute("UPDATE repositories SET \(assignment) WHERE name = ?", [value, .text(name)])
                return found
            }
        }
        guard found else { throw StrataError(.accountUnknown, "no repository named \(name)") }
    }

    /// Repositories `caller` may pull, in name order after `last`: what `_catalog`, search and
    /// the web page list. A private one is left out for everyone else, as if it did not exist.
    public func visibleRepositories(_ caller: Caller, matching term: String? = nil, after last: String? = nil, limit: Int) throws -> [RepositoryInfo] {
        try withDatabase { db in
            var sql = "SELECT name, private, description, created FROM repositories WHERE name > ?"
            var parameters: [SQLValue] = [.text(last ?? "")]
            if !caller.isAdmin {
                sql += """
                     AND (private = 0 OR substr(name, 1, instr(name, '/') - 1) IN
                         (SELECT ? UNION SELECT organization FROM organization_members WHERE member = ?))
                    """
                parameters += [.text(caller.user ?? ""), .text(caller.user ?? "")]
            }
            if let only = caller.repository { sql += " AND name = ?"; parameters.append(.text(only)) }
            if let term, !term.isEmpty {
                sql += " AND (instr(name, ?) > 0 OR instr(lower(description), ?) > 0)"
                parameters += [.text(term.lowercased()), .text(term.lowercased())]
            }
            parameters.append(.integer(Int64(limit)))
            return try db.query(sql + " ORDER BY name LIMIT ?", parameters).compactMap(Self.info)
        }
    }

    private static func info(_ row: Row) -> RepositoryInfo? {
        guard let name = row.string(0) else { return nil }
        return RepositoryInfo(name: name, isPrivate: row.int(1) == 1, description: row.string(2) ?? "",
                              created: Date(timeIntervalSince1970: TimeInterval(row.int(3) ?? 0)))
    }
}
