import Foundation
import ImageSpec
import NIOHTTP1

extension RegistryClient {
    /// `GET /v1/search`: Docker Hub's search, which a Strata registry serves too. Stored
    /// credentials go along (Basic, as docker's v1 session sends them), so private repositories
    /// the user may pull are found as well.
    public func search(_ term: String, limit: Int) async throws -> SearchResults {
        let target = "/v1/search?q=\(Self.percentEncode(term))&n=\(limit)"
        var headers = HTTPHeaders()
        if let credentials, credentials.identityToken == nil { headers.add(name: "Authorization", value: credentials.basicAuthorization) }
        let response = try await send(.GET, target, headers: headers, scopes: [], timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status.code == 200 else {
            let answer = await responseError(.GET, target, response, body: body)
            let code: StrataError.Code = response.status.code == 401 ? .unauthorized : .registry
            let said = answer.details.isEmpty ? "" : ": \(answer.details)"
            throw StrataError(code, response.status.code == 404
                ? "\(endpoint.name) does not offer search (GET /v1/search answered 404)"
                : "search on \(endpoint.name) failed: \(response.status.code) \(response.status.reasonPhrase)\(said)", cause: answer)
        }
        return try JSONCoding.decode(SearchResults.self, from: body.data, what: "the search results of \(endpoint.name)")
    }
}
