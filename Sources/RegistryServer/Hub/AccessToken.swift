import Foundation
import ImageSpec

/// A secret that stands in for a password: a personal access token (`registry token create`),
/// or the refresh token `docker login` keeps as its identity token. Only its SHA-256 is stored;
/// the secret is shown once, when it is made.
public struct AccessToken: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case personal
        /// Handed to a client at login (the OAuth2 `refresh_token`): the rights of what it logged in with.
        case login
    }

    public var id: String
    public var user: String
    public var kind: Kind
    public var scope: TokenScope
    /// Limits the token to one repository; nil: every repository the user may reach.
    public var repository: String?
    public var created: Date
    public var expires: Date?
    public var lastUsed: Date?
    public var revoked: Date?

    /// The prefix that tells a token from a password, so that login takes one path or the other
    /// without trying both (and a leaked token is easy to find in a log or a repository).
    public static let prefix = "strata_pat_"
    public static let loginPrefix = "strata_rt_"

    /// `strata_pat_<id>_<secret>`: the id finds the row, the secret is checked against its hash.
    public static func parse(_ text: String) -> (id: String, secret: String)? {
        let body: Substring
        if text.hasPrefix(prefix) { body = text.dropFirst(prefix.count) } else if text.hasPrefix(loginPrefix) { body = text.dropFirst(loginPrefix.count) } else { return nil }
        guard let separator = body.firstIndex(of: "_") else { return nil }
        let id = body[..<separator], secret = body[body.index(after: separator)...]
        guard id.count == 12, id.allSatisfy(\.isHexDigit), secret.count >= 32 else { return nil }
        return (String(id), String(secret))
    }
}

/// What a token may do, at most: the user's own rights narrow it further.
public enum TokenScope: String, Sendable, Codable, CaseIterable {
    case read
    case write
    case delete

    public var actions: Set<RepositoryAction> {
        switch self {
        case .read: return [.pull]
        case .write: return [.pull, .push]
        case .delete: return [.pull, .push, .delete]
        }
    }
}
