import PostgresMetadata

/// Where a registry keeps its metadata (repositories, links, manifests, tags, accounts, leases):
/// SQLite under the root, for one server; or PostgreSQL, shared by replicas behind one name.
public enum RegistryMetadata: Sendable, Equatable, CustomStringConvertible {
    case sqlite
    case postgres(PostgresURL)

    public var description: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres(let url): url.description
        }
    }
}
