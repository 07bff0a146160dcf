import Foundation

/// Who is asking, once their credentials are checked: a user (with what their token allows), or
/// nobody. Every permission decision takes one of these.
public struct Caller: Sendable, Equatable {
    /// nil: an anonymous caller, who may pull public repositories.
    public var user: String?
    public var isAdmin: Bool
    /// Set when the caller signed in with an access token: at most these actions...
    public var scope: TokenScope?
    /// ...and only on this repository, when it is set.
    public var repository: String?
    /// The token used, to name it in the event log and to derive a login token from.
    public var tokenID: String?

    public init(user: String?, isAdmin: Bool = false, scope: TokenScope? = nil, repository: String? = nil, tokenID: String? = nil) {
        self.user = user
        self.isAdmin = isAdmin
        self.scope = scope
        self.repository = repository
        self.tokenID = tokenID
    }

    public static let anonymous = Caller(user: nil)

    /// How the caller is named in messages and the event log.
    public var displayName: String { user ?? "anonymous" }
}
