import Foundation
import ImageSpec

/// Where a PostgreSQL database is, as libpq's URLs say it: `postgres://USER:PASSWORD@HOST:PORT/DATABASE`
/// (`postgresql://` too; the port defaults to 5432, the database to the user's name).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database ?? username
    }

    public init(parsing text: String) throws {
        func bad(_ problem: String) -> StrataError {
            StrataError(.invalidArgument, "invalid PostgreSQL URL \"\(Self.redacted(text))\": \(problem) (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme else { throw bad("not a URL") }
        guard scheme == "postgres" || scheme == "postgresql" else { throw bad("the scheme must be postgres://, not \(scheme)://") }
        guard let host = components.host, !host.isEmpty else { throw bad("no host") }
        guard let user = components.user, !user.isEmpty else { throw bad("no user") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else { throw bad("the path must be one database name") }
        self.init(host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
                  password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: path.isEmpty ? nil : path)
    }

    /// The URL without its password, for messages and logs.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "…"
        return components.string ?? "postgres://…"
    }
}
