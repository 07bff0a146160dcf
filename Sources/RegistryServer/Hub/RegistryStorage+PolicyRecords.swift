import Foundation
import Metadata

/// The policy records in the registry's database: one table for SQLite and PostgreSQL alike.
/// A write transaction per update keeps read-and-rewrite one step across replicas.
extension RegistryStorage: PolicyRecords {
    static let policyRecordsMigration = """
        CREATE TABLE policy_records (
            kind TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, kept BIGINT NOT NULL,
            PRIMARY KEY (kind, name));
        CREATE INDEX policy_records_kept ON policy_records(kept);
        """

    public func update<Record: Codable & Sendable, Result: Sendable>(_ kind: String, _ key: String, kept: (Record) -> Date,
                                                _ body: (inout Record?) -> Result) throws -> Result {
        try withDatabase { db in
            try db.write {
                let row = try db.query("SELECT value FROM policy_records WHERE kind = ? AND name = ?", [.text(kind), .text(key)]).first
                var record = Self.decode(row?.string(0), as: Record.self)
                let result = body(&record)
                if let record {
                    try db.execute("""
                        INSERT INTO policy_records (kind, name, value, kept) VALUES (?, ?, ?, ?)
                        ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value, kept = excluded.kept
                        """, [.text(kind), .text(key), .text(try Self.encode(record)), .integer(Int64(kept(record).timeIntervalSince1970.rounded(.up)))])
                } else if row != nil {
                    try db.execute("DELETE FROM policy_records WHERE kind = ? AND name = ?", [.text(kind), .text(key)])
                }
                // Records no longer kept go as others are written: the index makes it a short range.
                try db.execute("DELETE FROM policy_records WHERE kept < ?", [.integer(Self.now)])
                return result
            }
        }
    }

    public func read<Record: Codable & Sendable>(_ kind: String, _ key: String, as type: Record.Type) throws -> Record? {
        try withDatabase { db in
            Self.decode(try db.query("SELECT value FROM policy_records WHERE kind = ? AND name = ?", [.text(kind), .text(key)]).first?.string(0), as: type)
        }
    }
}
