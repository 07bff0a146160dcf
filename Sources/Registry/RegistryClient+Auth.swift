import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// The `Authorization` value for a request needing `scopes`, once the registry has said how it
    /// authenticates: Basic credentials, or a Bearer token (fetched once per scope set, reused until it expires).
    func authorization(for scopes: [String]) async throws -> String? {
        guard let challenge = await state.challenge else { return nil }
        if challenge.isBasic { return credentials?.basicAuthorization }
        guard challenge.isBearer, let realm = challenge.realm else { return nil }
        let wanted = Array(Set(scopes)).sorted()
        let key = wanted.joined(separator: " ")
        if let token = await state.token(key) { return "Bearer \(token)" }
        let (token, lifetime) = try await fetchToken(realm: realm, service: challenge.service, scopes: wanted)
        // A little early, so a token never expires between the check and the request.
        await state.store(token: token, key: key, expires: Date().addingTimeInterval(max(lifetime - 10, 5)))
        return "Bearer \(token)"
    }

    /// Asks the token server for a token (distribution's token authentication spec): GET with
    /// Basic credentials, or the OAuth2 refresh-token grant when an identity token is stored.
    func fetchToken(realm: String, service: String?, scopes: [String]) async throws -> (String, TimeInterval) {
        var query: [(String, String)] = []
        if let service { query.append(("service", service)) }
        for scope in scopes { query.append(("scope", scope)) }
        let method: HTTPMethod
        let url: String
        var headers: HTTPHeaders = [:]
        var body: HTTPTransport.BodyFactory?
        if let refresh = credentials?.identityToken {
            method = .POST
            url = realm
            headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let form = ([("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "strata")] + query)
                .map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
            body = { .bytes(ByteBuffer(string: form)) }
        } else {
            method = .GET
            let separator = realm.contains("?") ? "&" : "?"
            let queryString = query.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
            url = queryString.isEmpty ? realm : realm + separator + queryString
            if let credentials { headers.add(name: "Authorization", value: credentials.basicAuthorization) }
        }
        let grant = credentials?.identityToken != nil ? "an identity token" : credentials != nil ? "credentials" : "no credentials"
        logger.debug("token for \(scopes.isEmpty ? "no scope" : scopes.joined(separator: " ")) from \(HTTPTransport.loggable(realm)) with \(grant)")
        let response: HTTPClientResponse
        do {
            response = try await transport.send(method, url, headers: headers, body: body,
                                                verifyCertificates: options.tlsVerify || realm.hasPrefix("http://"), timeout: .seconds(60))
        } catch let failure as ConnectionFailure {
            throw StrataError(.unreachable, "cannot reach the token server of \(endpoint.name) (\(HTTPTransport.loggable(realm))): \(failure.reason)",
                              cause: failure)
        }
        let bytes = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            let cause = RegistryResponseError(status: code, method: method.rawValue, url: url, headers: response.headers, body: bytes)
            switch code {
            case 401, 403:
                // A token server that says what is wrong (a revoked token, an expired one) is quoted.
                let said = cause.errors.first?.message ?? ""
                throw StrataError(.unauthorized, credentials == nil
                    ? "unauthorized: authentication required by \(endpoint.name)"
                    : "unauthorized: \(said.isEmpty ? "incorrect username or password" : said) for \(endpoint.name)", cause: cause)
            case 429:
                let said = cause.errors.first?.message ?? ""
                throw StrataError(.tooManyRequests, "the token server of \(endpoint.name) answered 429 Too Many Requests\(said.isEmpty ? "" : ": \(said)")", cause: cause)
            default:
                throw StrataError(.registry, "the token server of \(endpoint.name) answered \(code): \(String(decoding: bytes.prefix(200), as: UTF8.self))",
                                  cause: cause)
            }
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        guard let parsed = try? JSONDecoder().decode(TokenResponse.self, from: Data(bytes)),
              let token = parsed.token ?? parsed.access_token, !token.isEmpty else {
            throw StrataError(.registry, "the token server of \(endpoint.name) answered without a token")
        }
        // As Docker: a token lives at least 60 seconds (the spec's default); a registry that
        // refuses it sooner gets a 401, and the token is fetched again.
        let lifetime = TimeInterval(max(parsed.expires_in ?? 60, 60))
        logger.debug("token for \(scopes.isEmpty ? "no scope" : scopes.joined(separator: " ")) received, valid \(Int(lifetime))s")
        return (token, lifetime)
    }

    static func percentEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// `strata login`: checks the credentials against the registry (`GET /v2/`, answering its
    /// challenge). Throws `unauthorized` when the registry refuses them.
    public func checkLogin() async throws {
        let response = try await send(.GET, "/v2/", scopes: [])
        let bytes = Array(buffer: (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer())
        let code = Int(response.status.code)
        if (200..<300).contains(code) { return }
        let cause = RegistryResponseError(status: code, method: "GET", url: endpoint.baseURL(await state.transport ?? endpoint.transports[0]) + "/v2/",
                                          headers: response.headers, body: bytes)
        switch code {
        case 401, 403:
            throw StrataError(code == 401 ? .unauthorized : .denied, "unauthorized: incorrect username or password", cause: cause)
        case 429:
            throw StrataError(.tooManyRequests, "\(endpoint.name): toomanyrequests: \(cause.details.isEmpty ? "too many requests" : cause.details)", cause: cause)
        default:
            throw StrataError(.registry, "\(endpoint.name) does not look like a registry: GET /v2/ answered \(code)", cause: cause)
        }
    }
}
