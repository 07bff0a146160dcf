/// What a registry's storage asks of its metadata database, so one body of SQL runs on SQLite (one
/// machine, the default) and on PostgreSQL (replicas sharing one database). The SQL is the part of
/// both dialects they share: `?` parameters (`?N` to reuse one), `INSERT … ON CONFLICT`, no rowid.
public protocol SQLDatabase: AnyObject {
    /// Runs a statement that returns no rows.
    func execute(_ sql: String, _ parameters: [SQLValue]) throws
    /// Runs a query and returns its rows.
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [Row]
    /// Runs `body` in one write transaction, ordered against every other writer of the database
    /// (of every process and machine): all of it commits, or none of it does.
    func write<T>(_ body: () throws -> T) throws -> T
    /// Brings the schema up to `migrations.count`, each migration once, in order; refuses a
    /// database a newer Strata migrated further.
    func migrate(_ migrations: [String]) throws
    /// Waits for, then holds, the lock called `name` across every process using the database,
    /// until the value returned is released (garbage collection runs on one replica at a time).
    func exclusiveLock(_ name: String) throws -> AnyObject
    /// Where the database is, for messages.
    var location: String { get }
}

extension SQLDatabase {
    public func execute(_ sql: String) throws { try execute(sql, []) }
    public func query(_ sql: String) throws -> [Row] { try query(sql, []) }
}
