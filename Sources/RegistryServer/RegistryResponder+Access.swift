import Foundation
import HTTPTypes
import Hummingbird
import ImageSpec

/// Who is asking, and whether they may: every `/v2/` request passes here before its handler.
extension RegistryResponder {
    /// The caller of one request, and the token they showed (token mode).
    struct Identity: Sendable {
        var caller: Caller
        var claims: RegistryTokenClaims?
        /// Whether the request carried credentials at all (a token, or a user and password).
        var presented: Bool
        /// Where a challenge sends the client for a token.
        var realm: String
    }

    func identify(_ request: Request, from address: String?) async throws -> Identity {
        let realm = access.realm ?? "\(scheme)://\(request.head.authority ?? "localhost")/token"
        guard access.mode != .none else { return Identity(caller: Caller(user: nil, isAdmin: true), claims: nil, presented: false, realm: realm) }
        guard let header = request.headers[.authorization] else { return Identity(caller: .anonymous, claims: nil, presented: false, realm: realm) }
        let (scheme, value) = Self.splitAuthorization(header)
        switch (access.mode, scheme) {
        case (.token, "bearer"):
            guard let issuer = access.issuer else { break }
            do {
                let claims = try await issuer.verify(value)
                var caller = Caller.anonymous
                if let user = claims.user { caller = try storage.caller(user, tokenID: claims.tok) }
                return Identity(caller: caller, claims: claims, presented: true, realm: realm)
            } catch let error as StrataError {
                throw challenge(error.message, scope: nil, error: "invalid_token", realm: realm)
            }
        case (.basic, "basic"), (.token, "basic"):
            // Token mode takes Basic too, as distribution's token servers do not: a client that
            // sends a password first (curl -u) needs no token dance for one request.
            guard let (user, secret) = Self.decodeBasic(value) else {
                throw challenge("the Authorization header is not Basic base64(user:password)", scope: nil, realm: realm)
            }
            do {
                let caller = try await access.signIn(user: user, secret: secret, address: address)
                return Identity(caller: caller, claims: nil, presented: true, realm: realm)
            } catch let error as StrataError where error.code == .unauthorized {
                record(RegistryEvent(.loginFailed, actor: user, address: address, detail: error.message))
                throw challenge(error.message, scope: nil, realm: realm)
            }
        default:
            break
        }
        throw challenge("this registry takes \(access.mode == .token ? "a Bearer token from its token endpoint" : "Basic credentials"), not \(scheme)", scope: nil, realm: realm)
    }

    /// Refuses the request unless the caller may do what the route does.
    func authorize(_ route: RegistryRoute, _ method: HTTPRequest.Method, _ identity: Identity) throws {
        guard access.mode != .none else { return }
        switch route {
        case .ping:
            // `docker login` trusts a 200 here: without credentials it must be a challenge.
            if !identity.presented { throw challenge("authentication required", scope: nil, realm: identity.realm) }
        case .catalog:
            if access.mode == .token, identity.claims?.allows(registry: "catalog") != true {
                throw challenge("authentication required", scope: "registry:catalog:*", error: identity.presented ? "insufficient_scope" : nil, realm: identity.realm)
            }
        default:
            guard let name = route.repository else { return }
            let action = Self.action(route, method)
            guard try !allows(identity, action, on: name) else { return }
            throw try refusal(identity, action, on: name, route: route)
        }
    }

    func allows(_ identity: Identity, _ action: RepositoryAction, on name: String) throws -> Bool {
        guard access.mode != .none else { return true }
        if access.mode == .token, let claims = identity.claims { return claims.allows(action, on: name) }
        return try storage.allowedActions(identity.caller, on: name).contains(action)
    }

    /// The action a route is: reading, writing, or deleting.
    static func action(_ route: RegistryRoute, _ method: HTTPRequest.Method) -> RepositoryAction {
        switch (route, method) {
        case (.manifest, .delete), (.blob, .delete): return .delete
        case (.manifest, .put), (.uploads, _), (.upload, _): return .push
        default: return .pull
        }
    }

    /// An anonymous caller is asked to sign in. A signed-in one who may not pull is told what
    /// anyone is told of a repository that does not exist; one who may not write is told whose it is.
    private func refusal(_ identity: Identity, _ action: RepositoryAction, on name: String, route: RegistryRoute) throws -> DistributionError {
        let scope = "repository:\(name):\(action == .push ? "pull,push" : action.rawValue)"
        if identity.caller.user == nil {
            return challenge("authentication required", scope: scope, error: identity.presented ? "insufficient_scope" : nil, realm: identity.realm)
        }
        if action == .pull { return Self.unknown(route) }
        // A token from before a right was given says nothing of it: the caller is asked to fetch another.
        if access.mode == .token, try storage.allowedActions(identity.caller, on: name).contains(action) {
            return challenge("the bearer token does not grant \(action.rawValue) on \(name): fetch a new one", scope: scope, error: "insufficient_scope", realm: identity.realm)
        }
        return DistributionError(.denied, try storage.denial(identity.caller, action, on: name))
    }

    /// What a route answers for a repository that does not exist.
    static func unknown(_ route: RegistryRoute) -> DistributionError {
        switch route {
        case .manifest(let name, let reference): return DistributionError(.manifestUnknown, "manifest \(reference.prefix(200)) is not in repository \(name)")
        case .blob(let name, let digest): return DistributionError(.blobUnknown, "blob \(digest.prefix(200)) is not in repository \(name)", detail: digest)
        default:
            let name = route.repository ?? ""
            return DistributionError(.nameUnknown, "repository \(name) is not known to this registry", detail: name)
        }
    }

    /// 401 with the header that tells a client where to get credentials.
    func challenge(_ message: String, scope: String?, error: String? = nil, realm: String) -> DistributionError {
        var headers: HTTPFields = [:]
        switch access.mode {
        case .token:
            var value = "Bearer realm=\"\(realm)\",service=\"\(access.issuer?.service ?? "")\""
            if let scope { value += ",scope=\"\(scope)\"" }
            if let error { value += ",error=\"\(error)\"" }
            headers[.wwwAuthenticate] = value
        case .basic, .none:
            headers[.wwwAuthenticate] = "Basic realm=\"Strata registry\""
        }
        return DistributionError(.unauthorized, message, headers: headers)
    }

    static func splitAuthorization(_ header: String) -> (scheme: String, value: String) {
        let parts = header.split(separator: " ", maxSplits: 1)
        return (parts.first.map { $0.lowercased() } ?? "", parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
    }

    static func decodeBasic(_ value: String) -> (String, String)? {
        guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}
