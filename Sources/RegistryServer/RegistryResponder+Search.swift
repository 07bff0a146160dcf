import Foundation
import HTTPTypes
import Hummingbird
import ImageSpec
import NIOCore

/// `GET /v1/search?q=&n=&page=`: Docker Hub's search, as `docker search HOST/TERM` calls it. A
/// term matches a repository's name or description; each caller sees only what they may pull.
extension RegistryResponder {
    static let searchPageSize = 25
    static let searchMaximumPageSize = 100

    func search(_ request: Request, from address: String?) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw DistributionError(.unsupported, "\(request.method) is not supported on /v1/search")
        }
        let query = request.uri.queryParameters
        let term = query["q"].map(String.init) ?? ""
        func number(_ key: String, default value: Int) throws -> Int {
            guard let text = query[key[...]] else { return value }
            guard let n = Int(text), n >= 1 else {
                throw DistributionError(.paginationNumberInvalid, "invalid \(key)=\(text.prefix(40)): expected a number from 1 up")
            }
            return n
        }
        let size = min(try number("n", default: Self.searchPageSize), Self.searchMaximumPageSize)
        let page = try number("page", default: 1)
        let identity = try await identify(request, from: address)
        // Search term `busybox` finds library/busybox; `library/` itself is not part of what is typed.
        let matches = try await blocking { [storage] in try storage.visibleRepositories(identity.caller, matching: term, limit: 10_000) }
        let results = matches.dropFirst((page - 1) * size).prefix(size).map { info in
            let official = RegistryStorage.namespace(of: info.name) == "library"
            return SearchResults.Result(name: official ? String(info.name.dropFirst("library/".count)) : info.name,
                                        description: info.description, isOfficial: official)
        }
        let answer = SearchResults(numResults: matches.count, numPages: max(1, (matches.count + size - 1) / size), page: page,
                                   pageSize: size, query: term, results: Array(results))
        let bytes = Array(try JSONCoding.encoder.encode(answer))
        var headers: HTTPFields = [:]
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
