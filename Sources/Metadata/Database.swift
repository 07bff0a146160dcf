import CSQLite
import Foundation
import ImageSpec
import Synchronization

/// A SQLite database in WAL mode: many readers, one writer at a time across processes, and a
/// journal that survives `kill -9` at any instant. Writes go through `write {}`, which takes
/// the write lock up front (BEGIN IMMEDIATE) so two processes never deadlock upgrading a read.
public final class Database: SQLDatabase {
    private var handle: OpaquePointer?
    public let path: String
    /// What a WAL is cut back to when a checkpoint lets it start again: SQLite's checkpoint size.
    static let walSizeLimit = 4 << 20

    public init(path: String) throws {
        self.path = path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw StrataError(.database, "cannot open metadata database \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, 30_000)
        strata_sqlite_persist_wal(handle)
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=FULL")
        try execute("PRAGMA foreign_keys=ON")
        // With the WAL kept at close, a limit makes the last connection truncate it to nothing after
        // its checkpoint; without one, a WAL of frames already checkpointed stays valid and every
        // process that opens the store first replays all of it (30 ms for 36 MB).
        try execute("PRAGMA journal_size_limit=\(Self.walSizeLimit)")
        Self.checkpointAtExit(path)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Databases this process opened, checkpointed once more as it exits.
    private static let opened = Mutex<Set<String>>([])

    /// A connection still referenced when the process exits is never closed, so its WAL would be
    /// left for the next process to replay (a task's closure let go of after `exit`, a signal's
    /// handler). At exit, a connection of its own checkpoints and truncates each WAL that is not
    /// empty: safe beside any connection still open, where closing that one would not be.
    private static func checkpointAtExit(_ path: String) {
        let first = opened.withLock { opened in
            defer { opened.insert(path) }
            return opened.isEmpty
        }
        guard first else { return }
        atexit {
            for path in Database.opened.withLock({ $0 }) {
                var status = stat()
                guard stat(path + "-wal", &status) == 0, status.st_size > 0 else { continue }
                var handle: OpaquePointer?
                if sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK {
                    sqlite3_busy_timeout(handle, 100)
                    sqlite3_exec(handle, "PRAGMA wal_checkpoint(TRUNCATE)", nil, nil, nil)
                }
                sqlite3_close(handle)
            }
        }
    }

    /// Runs statements that return no rows.
    public func execute(_ sql: String, _ parameters: [SQLValue] = []) throws {
        let statement = try prepare(sql, parameters)
        defer { sqlite3_finalize(statement) }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            if rc != SQLITE_ROW { throw error("\(sql.prefix(60))") }
        }
    }

    /// Runs a query and returns its rows.
    public func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [Row] {
        let statement = try prepare(sql, parameters)
        defer { sqlite3_finalize(statement) }
        var rows: [Row] = []
        let columns = sqlite3_column_count(statement)
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return rows }
            guard rc == SQLITE_ROW else { throw error("\(sql.prefix(60))") }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columns))
            for i in 0..<columns {
                switch sqlite3_column_type(statement, i) {
                case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(statement, i)))
                case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(statement, i)))
                case SQLITE_TEXT: values.append(.text(String(cString: sqlite3_column_text(statement, i))))
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(statement, i))
                    let p = sqlite3_column_blob(statement, i)
                    values.append(.blob(p.map { Array(UnsafeRawBufferPointer(start: $0, count: n)) } ?? []))
                default: values.append(.null)
                }
            }
            rows.append(Row(values: values))
        }
    }

    /// Runs `body` in one write transaction: all of it commits, or none of it does.
    @discardableResult
    public func write<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in a read transaction, so it sees one consistent snapshot.
    public func read<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN DEFERRED")
        defer { try? execute("COMMIT") }
        return try body()
    }

    public var location: String { path }

    /// A lock file beside the database, `NAME.lock`.
    public func exclusiveLock(_ name: String) throws -> AnyObject {
        try FileLock(path: (path as NSString).deletingLastPathComponent + "/\(name).lock", mode: .exclusive)
    }

    public var userVersion: Int {
        Int((try? query("PRAGMA user_version").first?.int(0)) ?? 0)
    }

    private func prepare(_ sql: String, _ parameters: [SQLValue]) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            throw error("\(sql.prefix(60))")
        }
        for (i, p) in parameters.enumerated() {
            let index = Int32(i + 1)
            switch p {
            case .null: sqlite3_bind_null(statement, index)
            case .integer(let v): sqlite3_bind_int64(statement, index, v)
            case .real(let v): sqlite3_bind_double(statement, index, v)
            case .text(let v): sqlite3_bind_text(statement, index, v, -1, sqliteTransient)
            case .blob(let v): _ = v.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), sqliteTransient) }
            }
        }
        return statement
    }

    private func error(_ context: String) -> StrataError {
        let cause = SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
        let code = sqlite3_errcode(handle)
        if code == SQLITE_BUSY || code == SQLITE_LOCKED {
            return StrataError(.conflict, "the store is busy: another strata process held the metadata lock for over 30 s (\(cause.message))",
                               cause: cause)
        }
        return StrataError(.database, "metadata database \(path): \(cause.message) (in: \(context))", cause: cause)
    }
}

/// What SQLite said: its extended result code and message (the cause of a `.database` error).
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public static func optional(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }
}

public struct Row: Sendable {
    public let values: [SQLValue]
    public init(values: [SQLValue]) { self.values = values }
    public func string(_ i: Int) -> String? { if case .text(let s) = values[i] { return s }; return nil }
    public func int(_ i: Int) -> Int64? {
        switch values[i] {
        case .integer(let v): return v
        case .real(let v): return Int64(v)
        default: return nil
        }
    }
    public func double(_ i: Int) -> Double? {
        switch values[i] {
        case .integer(let v): return Double(v)
        case .real(let v): return v
        default: return nil
        }
    }
}

extension Database {
    /// Runs several `;`-separated statements (a migration).
    public func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &message) == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw StrataError(.database, "metadata database \(path): migration failed: \(text)")
        }
    }
}
