import Foundation
import HTTPTypes
import Hummingbird
import ImageSpec
import NIOCore

/// `/token`: Docker's token authentication. GET with Basic credentials (or none, for an
/// anonymous token), as `docker pull` and `docker login` ask; POST with the OAuth2 `password` and
/// `refresh_token` grants, as clients holding an identity token ask. The answer grants, of each
/// scope asked, what the caller may do — never an error for asking more.
extension RegistryResponder {
    func tokenEndpoint(_ request: Request, from address: String?) async throws -> Response {
        guard access.mode == .token, let issuer = access.issuer else {
            throw DistributionError(.unsupported, "this registry does not use token authentication (it runs with --auth \(access.mode.rawValue))", status: .notFound)
        }
        var fields: [String: [String]] = [:]
        let caller: Caller
        var offline = false
        var refreshToken: String?
        var method = "password"
        let realm = access.realm ?? "\(scheme)://\(request.head.authority ?? "localhost")/token"
        do {
            switch request.method {
            case .get:
                for (key, value) in request.uri.queryParameters { fields[String(key), default: []].append(String(value)) }
                offline = fields["offline_token"]?.first == "true"
                if let header = request.headers[.authorization] {
                    guard Self.splitAuthorization(header).scheme == "basic", let (user, secret) = Self.decodeBasic(Self.splitAuthorization(header).value) else {
                        throw StrataError(.unauthorized, "the token endpoint takes Basic credentials (user:password or user:access-token)")
                    }
                    caller = try await access.signIn(user: user, secret: secret, address: address)
                    if secret.hasPrefix(AccessToken.loginPrefix) { refreshToken = secret; method = "identity token" }
                } else {
                    caller = .anonymous
                }
            case .post:
                let body = try await request.body.collect(upTo: 64 * 1024)
                fields = Self.formFields(String(buffer: body))
                switch fields["grant_type"]?.first {
                case "password":
                    guard let user = fields["username"]?.first, let password = fields["password"]?.first else {
                        throw DistributionError(.unsupported, "the password grant needs username and password", status: .badRequest)
                    }
                    caller = try await access.signIn(user: user, secret: password, address: address)
                    offline = fields["access_type"]?.first == "offline"
                case "refresh_token":
                    guard let token = fields["refresh_token"]?.first else {
                        throw DistributionError(.unsupported, "the refresh_token grant needs refresh_token", status: .badRequest)
                    }
                    caller = try await access.signIn(user: fields["username"]?.first, secret: token, address: address)
                    refreshToken = token
                    method = "identity token"
                case let other:
                    throw DistributionError(.unsupported, "unsupported grant_type \(other.map { "\"\($0.prefix(40))\"" } ?? "(none)"): use password or refresh_token",
                                            status: .badRequest)
                }
            default:
                throw DistributionError(.unsupported, "\(request.method) is not supported on /token")
            }
        } catch let error as StrataError where error.code == .unauthorized {
            record(RegistryEvent(.loginFailed, actor: Self.claimedUser(request, fields), address: address, detail: error.message))
            var challenge = DistributionError(.unauthorized, error.message)
            challenge.headers[.wwwAuthenticate] = "Basic realm=\"\(realm)\""
            throw challenge
        }
        if let service = fields["service"]?.first, service != issuer.service {
            throw DistributionError(.unsupported, "this token endpoint serves \(issuer.service), not \(service.prefix(100))", status: .badRequest)
        }
        // GET repeats `scope=`; the OAuth2 form separates scopes with spaces.
        let asked = (fields["scope"] ?? []).flatMap { $0.split(separator: " ") }.compactMap(ResourceActions.init(scope:))
        let granted = try await blocking { [access] in try access.grant(asked, to: caller) }
        let (token, expiresIn) = try await issuer.issue(user: caller.user, access: granted, tokenID: caller.tokenID)
        if offline, refreshToken == nil, let user = caller.user {
            let parent = caller.tokenID
            refreshToken = try await blocking { [storage] in
                try storage.createToken(user: user, kind: .login, scope: caller.scope ?? .delete, repository: caller.repository, parent: parent).secret
            }
        }
        // A login asks for no scope (docker login, strata login) or for a refresh token; a token
        // for a pull or a push is part of that pull or push, which the log records itself.
        if let user = caller.user, asked.isEmpty || offline {
            if method == "password", let id = caller.tokenID { method = "access token \(id)" }
            record(RegistryEvent(.login, actor: user, address: address, detail: method))
        }
        struct Answer: Encodable {
            var token: String
            var access_token: String
            var expires_in: Int
            var issued_at: String
            var refresh_token: String?
            var scope: String?
        }
        let answer = Answer(token: token, access_token: token, expires_in: expiresIn, issued_at: ISO8601DateFormatter().string(from: Date()),
                            refresh_token: refreshToken, scope: granted.filter { !$0.actions.isEmpty }.map(\.scope).joined(separator: " "))
        let bytes = Array(try JSONCoding.encoder.encode(answer))
        var headers: HTTPFields = [:]
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The user a failed sign-in named, for the event log: Basic's user, or the form's.
    static func claimedUser(_ request: Request, _ fields: [String: [String]]) -> String? {
        if let header = request.headers[.authorization], let (user, _) = decodeBasic(splitAuthorization(header).value) { return user }
        return fields["username"]?.first
    }

    /// `application/x-www-form-urlencoded` fields, each name with its values in order.
    static func formFields(_ body: String) -> [String: [String]] {
        var fields: [String: [String]] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text) }
            guard let key = parts.first else { continue }
            fields[decode(key), default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        return fields
    }
}
