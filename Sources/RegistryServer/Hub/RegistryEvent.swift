import Foundation
import ImageSpec

/// One line of the registry's audit trail: who did what, to what, when, and from where. Never a
/// password or a token's secret: a token is named by its id.
public struct RegistryEvent: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        case push, pull, delete
        case login
        case loginFailed = "login-failed"
        case tokenCreate = "token-create"
        case tokenRevoke = "token-revoke"
        case userAdd = "user-add"
        case userRemove = "user-remove"
        case passwordChange = "password-change"
        case organizationAdd = "org-add"
        case memberChange = "member-change"
        case repositoryCreate = "repo-create"
        case visibilityChange = "visibility-change"
    }

    public var time: Date
    public var action: Action
    /// The user who acted (nil: anonymous; for the account commands, the operator at the server).
    public var actor: String?
    public var address: String?
    public var repository: String?
    /// A tag or a digest.
    public var reference: String?
    public var digest: String?
    /// What else there is to say: the token id, the new visibility, why a login failed.
    public var detail: String?

    public init(_ action: Action, actor: String?, address: String? = nil, repository: String? = nil, reference: String? = nil,
                digest: String? = nil, detail: String? = nil, time: Date = Date()) {
        self.time = time
        self.action = action
        self.actor = actor
        self.address = address
        self.repository = repository
        self.reference = reference
        self.digest = digest
        self.detail = detail
    }

    /// As `docker events` prints: `TIME ACTION TARGET (key=value, …)`.
    public var line: String {
        var target = repository ?? "-"
        if let reference { target += reference.hasPrefix("sha256:") ? "@\(reference)" : ":\(reference)" }
        let attributes = [("actor", actor ?? "anonymous"), ("address", address), ("digest", digest), ("detail", detail)]
            .compactMap { key, value in value.map { "\(key)=\($0)" } }
        return "\(RFC3339.format(time)) \(action.rawValue) \(target) (\(attributes.joined(separator: ", ")))"
    }
}
