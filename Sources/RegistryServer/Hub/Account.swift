import Foundation
import ImageSpec

/// A registry account: a user who signs in, or an organisation whose members push to its
/// namespace. Users and organisations share one set of names, as on Docker Hub, because each
/// name is also a namespace (`NAME/repo`).
public struct Account: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case user
        case organization = "org"
    }

    public var name: String
    public var kind: Kind
    /// Admins push to `library/` (the official images) and may do anything anywhere.
    public var isAdmin: Bool
    public var created: Date

    public init(name: String, kind: Kind, isAdmin: Bool = false, created: Date = Date()) {
        self.name = name
        self.kind = kind
        self.isAdmin = isAdmin
        self.created = created
    }

    /// Names that would read as something else in a path: the official namespace and the
    /// server's own endpoints.
    static let reserved: Set<String> = ["library", "v1", "v2", "token", "search", "static", "signin", "signout", "admin"]

    /// What is wrong with an account name, or nil: 2 to 30 lower-case letters, digits, `-` or
    /// `_`, starting with a letter or digit, so that it is one valid repository path component.
    public static func nameProblem(_ name: String) -> String? {
        guard (2...30).contains(name.count) else { return "an account name has 2 to 30 characters (\"\(name.prefix(40))\" has \(name.count))" }
        let allowed = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
        guard allowed, let first = name.unicodeScalars.first, first != "-", first != "_" else {
            return "an account name holds only lower-case letters, digits, - and _, and starts with a letter or digit (not \"\(name)\")"
        }
        if reserved.contains(name) { return "\"\(name)\" is reserved" }
        return nil
    }
}

/// A member's role in an organisation: owners manage members and delete; members push.
public enum OrganizationRole: String, Sendable, Codable, CaseIterable {
    case owner
    case member
}

/// What a repository scope asks for, in the distribution token spec's words.
public enum RepositoryAction: String, Sendable, Codable, CaseIterable, Comparable {
    case pull
    case push
    case delete

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

    /// `pull,push`, `*` or `delete` as a scope writes them; unknown words are ignored, as the spec says.
    public static func parse(_ text: Substring) -> Set<RepositoryAction> {
        var actions: Set<RepositoryAction> = []
        for word in text.split(separator: ",") {
            if word == "*" { return Set(allCases) }
            if let action = RepositoryAction(rawValue: String(word)) { actions.insert(action) }
        }
        return actions
    }
}
