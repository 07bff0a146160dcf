import Foundation

extension Engine {
    /// `strata search [HOST/]TERM`: a registry's search (Docker Hub's without a host), with the
    /// credentials stored for it, as `docker search` splits the term.
    public func search(_ term: String, limit: Int = 25, tlsVerify: Bool? = nil) async throws -> SearchResults {
        guard (1...100).contains(limit) else { throw StrataError(.invalidArgument, "invalid --limit \(limit): from 1 to 100") }
        var registry = Reference.defaultDomain
        var query = term
        if let slash = term.firstIndex(of: "/") {
            let host = term[..<slash]
            if host.contains(".") || host.contains(":") || host == "localhost" {
                registry = String(host)
                query = String(term[term.index(after: slash)...])
            }
        }
        guard !query.isEmpty else { throw StrataError(.invalidArgument, "search needs a term: strata search [HOST/]TERM") }
        return try await registryClient(for: Self.registryName(registry), tlsVerify: tlsVerify).search(query, limit: limit)
    }
}
