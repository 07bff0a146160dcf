import Foundation
import ImageSpec
import Logging
import Metadata
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// A registry's metadata in PostgreSQL, shared by every replica. The registry's storage calls it
/// from threads allowed to block (NIO's thread pool, a command's own thread), so each statement
/// waits for its answer; PostgresNIO's own event loops carry the bytes.
///
/// Writes are ordered as SQLite orders them, one writer at a time: every write transaction first
/// takes one transaction-level advisory lock, so each of its statements sees every earlier
/// commit, and the storage's invariants (a manifest committed only with its blobs linked, a
/// collection that cannot interleave with a push) hold across replicas as they do in one process.
/// A connection that breaks (the server restarted, the network went) fails the request it was
/// serving, whose transaction the server rolls back; the next request connects again.
public final class PostgreSQLDatabase: SQLDatabase, @unchecked Sendable {
    public let configuration: PostgresURL
    private let logger: Logger
    /// One connection, one statement (or transaction) at a time; recursive, as `write`'s body runs statements.
    private let lock = NSRecursiveLock()
    private var connection: PostgresConnection?
    /// The connection a write transaction began on: its statements run there or fail, never on
    /// a new connection outside the transaction.
    private var transaction: PostgresConnection?
    private var nextConnectionID = 0

    public init(_ configuration: PostgresURL, logger: Logger = Logger(label: "strata.postgres")) throws {
        self.configuration = configuration
        self.logger = logger
        // Connect now, so a wrong address or password stops the server before it listens.
        _ = try lock.withLock { try connected() }
    }

    // Not waited for: the last reference may go on any thread, and the server ends the session either way.
    deinit { connection.map(Self.closeQuietly) }

    public var location: String { configuration.description }

    public func execute(_ sql: String, _ parameters: [SQLValue]) throws {
        _ = try run(sql, parameters)
    }

    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [Row] {
        let result = try run(sql, parameters)
        do {
            return try result.rows.map { row in Row(values: try row.map(Self.value)) }
        } catch {
            throw StrataError(.database, "metadata database \(location): cannot read the answer to \(sql.prefix(60)): \(error)", cause: error)
        }
    }

    public func write<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try execute("BEGIN")
            transaction = connection
            defer { transaction = nil }
            do {
                try execute("SELECT pg_advisory_xact_lock(\(Self.key("writes")))")
                let result = try body()
                try execute("COMMIT")
                return result
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Versions in `strata_schema`; the migrations run inside one write transaction (PostgreSQL's
    /// DDL is transactional), so two replicas starting at once migrate once, and a failure leaves
    /// the schema as it was.
    public func migrate(_ migrations: [String]) throws {
        try write {
            try execute("CREATE TABLE IF NOT EXISTS strata_schema (version BIGINT NOT NULL)")
            let current: Int64
            if let version = try query("SELECT version FROM strata_schema").first?.int(0) {
                current = version
            } else {
                try execute("INSERT INTO strata_schema (version) VALUES (0)")
                current = 0
            }
            guard current <= migrations.count else {
                throw StrataError(.database,
                    "\(location) has schema version \(current), newer than this Strata's \(migrations.count): upgrade Strata to use this database")
            }
            for migration in migrations.dropFirst(Int(current)) {
                for statement in Self.statements(migration) { try execute(statement) }
            }
            try execute("UPDATE strata_schema SET version = ?", [.integer(Int64(migrations.count))])
        }
    }

    /// A session-level advisory lock on a connection of its own, so waiting for it holds up no
    /// statement of this process; it goes with the connection (a killed replica's lock too).
    public func exclusiveLock(_ name: String) throws -> AnyObject {
        let connection = try connect()
        do {
            _ = try connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_lock(\(Self.key(name)))"), logger: logger).wait()
        } catch {
            try? connection.close().wait()
            throw failure(error, "lock \(name)")
        }
        return HeldAdvisoryLock(connection: connection)
    }

    // MARK: the connection

    private func run(_ sql: String, _ parameters: [SQLValue]) throws -> PostgresQueryResult {
        try lock.withLock {
            let connection: PostgresConnection
            if let pinned = transaction {
                guard !pinned.isClosed else {
                    throw StrataError(.databaseUnavailable, "metadata database \(location) went away during a transaction: none of it was committed; try again")
                }
                connection = pinned
            } else {
                connection = try connected()
            }
            var binds = PostgresBindings(capacity: parameters.count)
            for parameter in parameters {
                switch parameter {
                case .null: binds.appendNull()
                case .integer(let v): binds.append(v)
                case .real(let v): binds.append(v)
                case .text(let v): binds.append(v)
                case .blob(let v): binds.append(ByteBuffer(bytes: v))
                }
            }
            do {
                let answer = connection.query(PostgresQuery(unsafeSQL: Self.numberedParameters(sql), binds: binds), logger: logger)
                return try answered(answer, on: connection, String(sql.prefix(60)))
            } catch let error as StrataError {
                throw error
            } catch {
                if connection.isClosed { self.connection = nil }
                throw failure(error, String(sql.prefix(60)))
            }
        }
    }

    /// How long a statement may go unanswered. A connection the server dropped while a query was
    /// being sent can leave that query's answer pending for ever; this fails it instead, drops the
    /// connection, and lets the next request connect again. (Waiting for the collection lock is
    /// not bounded: a collection may take minutes.)
    static let answerTimeout: TimeInterval = 30

    private func answered<T: Sendable>(_ future: EventLoopFuture<T>, on connection: PostgresConnection, _ context: String) throws -> T {
        guard let outcome = Self.within(future) else {
            Self.closeQuietly(connection)
            if self.connection === connection { self.connection = nil }
            throw StrataError(.databaseUnavailable,
                              "metadata database \(location) did not answer within \(Int(Self.answerTimeout)) s (in: \(context)): nothing was changed; try again")
        }
        return try outcome.get()
    }

    /// Closes without waiting (a deinit, a connection given up on), holding the connection until
    /// it is closed, as PostgresNIO requires.
    static func closeQuietly(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// The future's outcome, or nil when it has none within `answerTimeout`.
    private static func within<T: Sendable>(_ future: EventLoopFuture<T>) -> Result<T, any Error>? {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<T, any Error>?>(nil)
        future.whenComplete { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        guard done.wait(timeout: .now() + answerTimeout) == .success else { return nil }
        return outcome.withLock { $0 }
    }

    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let made = try connect()
        connection = made
        return made
    }

    private func connect() throws -> PostgresConnection {
        let id = lock.withLock { () -> Int in
            nextConnectionID += 1
            return nextConnectionID
        }
        let settings = PostgresConnection.Configuration(host: configuration.host, port: configuration.port, username: configuration.username,
                                                        password: configuration.password, database: configuration.database, tls: .disable)
        let connecting = PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(), configuration: settings, id: id, logger: logger)
        guard let outcome = Self.within(connecting) else {
            connecting.whenSuccess(Self.closeQuietly)
            throw StrataError(.databaseUnavailable, "cannot reach the metadata database at \(location): no answer within \(Int(Self.answerTimeout)) s; try again")
        }
        do {
            return try outcome.get()
        } catch {
            throw failure(error, "connect")
        }
    }

    /// PostgreSQL's own words when it answered; "cannot reach" when it did not.
    private func failure(_ error: any Error, _ context: String) -> StrataError {
        guard let psql = error as? PSQLError else {
            return StrataError(.database, "metadata database \(location): \(error) (in: \(context))", cause: error)
        }
        if psql.code == .server, let info = psql.serverInfo {
            let message = info[.message] ?? "error"
            let state = info[.sqlState] ?? ""
            // 57P01..57P03: the server is shutting down or starting: the request can be tried again.
            if state.hasPrefix("57P") {
                return StrataError(.databaseUnavailable, "metadata database \(location) is restarting (\(message)): nothing was changed; try again",
                                   cause: error)
            }
            if state == "28P01" || state == "28000" {
                return StrataError(.database, "metadata database \(location) refused the credentials: \(message); check the user and password in metadata.url",
                                   cause: error)
            }
            if state == "3D000" {
                return StrataError(.database, "metadata database \(location): \(message); create it (createdb) or fix metadata.url", cause: error)
            }
            return StrataError(.database, "metadata database \(location): \(message) [\(state)] (in: \(context))", cause: error)
        }
        return StrataError(.databaseUnavailable, "cannot reach the metadata database at \(location) (\(psql.code)): nothing was changed; try again",
                           cause: error)
    }

    // MARK: SQL

    /// A column's value as the storage reads it: integers, reals, text, bytes or NULL.
    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        default: return .text(try cell.decode(String.self))
        }
    }

    /// `?` becomes `$1`, `$2`, … in order, and `?N` becomes `$N`; quoted text is left alone.
    static func numberedParameters(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var next = 0
        var quoted = false
        var characters = sql.makeIterator()
        var pending = characters.next()
        while let c = pending {
            pending = characters.next()
            if c == "'" { quoted.toggle() }
            guard c == "?", !quoted else {
                out.append(c)
                continue
            }
            var digits = ""
            while let d = pending, d.isASCII, d.isNumber {
                digits.append(d)
                pending = characters.next()
            }
            if digits.isEmpty {
                next += 1
                out += "$\(next)"
            } else {
                out += "$" + digits
            }
        }
        return out
    }

    /// A migration's statements: split at the `;` that end lines (the migrations hold no other).
    static func statements(_ script: String) -> [String] {
        script.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }
            .filter { statement in statement.split(separator: "\n").contains { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") && !$0.isEmpty } }
    }

    /// The advisory lock key for `name`: 64 bits of FNV-1a, the same in every process.
    static func key(_ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "strata:\(name)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}

/// An advisory lock held by its own connection, let go with it.
final class HeldAdvisoryLock {
    let connection: PostgresConnection
    init(connection: PostgresConnection) { self.connection = connection }
    deinit { PostgreSQLDatabase.closeQuietly(connection) }
}
