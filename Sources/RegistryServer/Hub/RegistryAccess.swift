import Foundation
import HummingbirdBcrypt
import ImageSpec
import NIOPosix

/// How `registry serve` asks for credentials.
public enum AuthMode: String, Sendable, CaseIterable, Codable {
    /// Anyone may do anything: a private registry on a trusted network, as distribution without auth.
    case none
    /// Every request may carry a user's password or access token (HTTP Basic).
    case basic
    /// Docker's token authentication: clients get a short-lived signed token from `/token`.
    case token
}

/// Signing in, for every way in: the throttle, and bcrypt off the event loop.
public final class RegistryAccess: Sendable {
    public let mode: AuthMode
    public let issuer: TokenIssuer?
    /// Signs the web page's session cookies (the same key as `issuer`, another audience).
    public let sessions: TokenIssuer?
    public let throttle: LoginThrottle
    /// The token endpoint's URL when it is not this server's own `/token` (behind a proxy).
    public let realm: String?
    let storage: RegistryStorage
    /// Docker Hub's limit on anonymous pulls, when one is set.
    public let pullLimit: PullLimit?

    public init(mode: AuthMode, storage: RegistryStorage, issuer: TokenIssuer?, sessions: TokenIssuer? = nil,
                throttle: LoginThrottle? = nil, realm: String? = nil, pullLimit: PullLimit? = nil) {
        self.mode = mode
        self.pullLimit = pullLimit
        self.sessions = sessions
        self.storage = storage
        self.issuer = issuer
        self.throttle = throttle ?? LoginThrottle(records: storage)
        self.realm = realm
    }

    /// No checks at all: the fuzzer's and `--auth none`'s.
    public static func open(_ storage: RegistryStorage) -> RegistryAccess {
        RegistryAccess(mode: .none, storage: storage, issuer: nil)
    }

    /// Checks `secret` (a password or an access token) for `user`, refusing a pair that failed
    /// too often. Failures are `.unauthorized`, throttling is `.tooManyRequests`.
    public func signIn(user: String?, secret: String, address: String?) async throws -> Caller {
        let name = user ?? "a token's owner"
        // The throttle's counts may be in the database, as the accounts are: off the event loop too.
        return try await NIOThreadPool.singleton.runIfActive { [storage, throttle] in
            if let wait = try throttle.wait(user: name, address: address) {
                throw StrataError(.tooManyRequests, "too many failed sign-ins for \(name) from \(address ?? "this address"): try again in \(Int(wait.rounded(.up))) s")
            }
            do {
                let caller = try storage.authenticate(user: user, secret: secret)
                try throttle.succeeded(user: name, address: address)
                return caller
            } catch let error as StrataError where error.code == .unauthorized {
                try throttle.failed(user: name, address: address)
                throw error
            }
        }
    }

    /// What `caller` gets of each scope asked for: the actions they may take, of those asked.
    public func grant(_ scopes: [ResourceActions], to caller: Caller) throws -> [ResourceActions] {
        try scopes.compactMap { scope in
            switch scope.type {
            case "repository":
                guard RegistryStorage.repositoryNameProblemAfterCanonical(scope.name) == nil else { return nil }
                let asked = RepositoryAction.parse(Substring(scope.actions.joined(separator: ",")))
                let granted = asked.intersection(try storage.allowedActions(caller, on: scope.name))
                return ResourceActions(type: "repository", name: scope.name, actions: granted.sorted().map(\.rawValue))
            case "registry" where scope.name == "catalog":
                // Everyone may list; the listing shows each caller only what they may pull.
                return ResourceActions(type: "registry", name: "catalog", actions: ["*"])
            default:
                return nil
            }
        }
    }
}

extension RegistryStorage {
    static func repositoryNameProblemAfterCanonical(_ name: String) -> String? {
        Reference.repositoryNameProblem(canonical(name))
    }
}
