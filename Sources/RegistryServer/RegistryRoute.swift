import HTTPTypes
import ImageSpec

/// A distribution-spec URL, read from the right: a repository name has slashes (and may hold
/// components such as `blobs` or `tags`), while what follows it never has.
public enum RegistryRoute: Equatable, Sendable {
    case ping
    case catalog
    case tags(String)
    case manifest(String, String)
    case blob(String, String)
    case uploads(String)
    case upload(String, String)
    case referrers(String, String)

    /// nil for a path outside `/v2/` or one that names no endpoint.
    public init?(path: String) {
        guard path.hasPrefix("/v2/") || path == "/v2" else { return nil }
        var parts = path.dropFirst(4).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }
        func name(dropping n: Int) -> String { parts.dropLast(n).joined(separator: "/") }
        let count = parts.count
        switch count {
        case 0: self = .ping
        case 1 where parts[0] == "_catalog": self = .catalog
        case _ where count >= 3 && parts[count - 2] == "blobs" && parts[count - 1] == "uploads":
            self = .uploads(name(dropping: 2))
        case _ where count >= 4 && parts[count - 3] == "blobs" && parts[count - 2] == "uploads":
            self = .upload(name(dropping: 3), parts[count - 1])
        case _ where count >= 3 && parts[count - 2] == "tags" && parts[count - 1] == "list":
            self = .tags(name(dropping: 2))
        case _ where count >= 3 && parts[count - 2] == "manifests": self = .manifest(name(dropping: 2), parts[count - 1])
        case _ where count >= 3 && parts[count - 2] == "blobs": self = .blob(name(dropping: 2), parts[count - 1])
        case _ where count >= 3 && parts[count - 2] == "referrers": self = .referrers(name(dropping: 2), parts[count - 1])
        default: return nil
        }
    }

    /// The same route with its repository named as Docker normalises it (`busybox` → `library/busybox`).
    public var canonical: RegistryRoute {
        func c(_ name: String) -> String { RegistryStorage.canonical(name) }
        switch self {
        case .ping, .catalog: return self
        case .tags(let n): return .tags(c(n))
        case .manifest(let n, let r): return .manifest(c(n), r)
        case .blob(let n, let d): return .blob(c(n), d)
        case .uploads(let n): return .uploads(c(n))
        case .upload(let n, let id): return .upload(c(n), id)
        case .referrers(let n, let d): return .referrers(c(n), d)
        }
    }

    /// The repository the route names, if any.
    public var repository: String? {
        switch self {
        case .ping, .catalog: return nil
        case .tags(let n), .manifest(let n, _), .blob(let n, _), .uploads(let n), .upload(let n, _), .referrers(let n, _): return n
        }
    }
}

extension HTTPField.Name {
    static let dockerDistributionAPIVersion = HTTPField.Name("Docker-Distribution-API-Version")!
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let dockerUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
    static let ociSubject = HTTPField.Name("OCI-Subject")!
    static let link = HTTPField.Name("Link")!
    static let ociFiltersApplied = HTTPField.Name("OCI-Filters-Applied")!
    /// Internal: marks a response for `SendfileHandler`, which removes it before the head is sent.
    static let strataSendfile = HTTPField.Name(SendfileRequest.header)!
}
