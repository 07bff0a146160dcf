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
        var request: HTTPClientRequest
        if let refresh = credentials?.identityToken {
            request = HTTPClientRequest(url: realm)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let form = ([("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "strata")] + query)
                .map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: form))
        } else {
            let separator = realm.contains("?") ? "&" : "?"
            let queryString = query.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
            request = HTTPClientRequest(url: queryString.isEmpty ? realm : realm + separator + queryString)
            if let credentials { request.headers.add(name: "Authorization", value: credentials.basicAuthorization) }
        }
        request.headers.add(name: "User-Agent", value: "strata/\(Self.version)")
        let transport: RegistryEndpoint.Transport = realm.hasPrefix("http://") ? .http : (options.tlsVerify ? .https : .httpsUnverified)
        var attempt = 0
        while true {
            let response: HTTPClientResponse
            do {
                response = try await Self.client(for: transport).execute(request, timeout: .seconds(60))
            } catch {
                if attempt < options.retries, Self.isTransient(error) {
                    attempt += 1
                    continue
                }
                throw StrataError(.unreachable, "cannot reach the token server of \(endpoint.name) (\(realm)): \(error)")
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            switch response.status.code {
            case 200..<300:
                struct TokenResponse: Decodable {
                    var token: String?
                    var access_token: String?
                    var expires_in: Int?
                }
                guard let parsed = try? JSONDecoder().decode(TokenResponse.self, from: body.data),
                      let token = parsed.token ?? parsed.access_token, !token.isEmpty else {
                    throw StrataError(.registry, "the token server of \(endpoint.name) answered without a token")
                }
                // The spec's default lifetime is 60 seconds.
                return (token, TimeInterval(max(parsed.expires_in ?? 60, 60)))
            case 401, 403:
                throw StrataError(.unauthorized, credentials == nil
                    ? "unauthorized: authentication required by \(endpoint.name)"
                    : "unauthorized: incorrect username or password for \(endpoint.name)")
            case 500...599 where attempt < options.retries:
                attempt += 1
                continue
            default:
                throw StrataError(.registry, "the token server of \(endpoint.name) answered \(response.status.code): \(String(buffer: body).prefix(200))")
            }
        }
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
        _ = try? await response.body.collect(upTo: 1 << 20)
        switch response.status.code {
        case 200..<300: return
        case 401, 403:
            throw StrataError(.unauthorized, "unauthorized: incorrect username or password")
        default:
            throw StrataError(.registry, "\(endpoint.name) does not look like a registry: GET /v2/ answered \(response.status.code)")
        }
    }
}
