@testable import PostgresMetadata
import Testing

/// The one body of SQL, as PostgreSQL is given it: parameters numbered, migrations cut into statements.
@Suite struct PostgresSQLTests {
    @Test(arguments: [
        ("SELECT 1 FROM t WHERE a = ? AND b = ?", "SELECT 1 FROM t WHERE a = $1 AND b = $2"),
        ("SELECT 1 FROM a WHERE d = ?1 UNION ALL SELECT 1 FROM b WHERE d = ?1", "SELECT 1 FROM a WHERE d = $1 UNION ALL SELECT 1 FROM b WHERE d = $1"),
        ("INSERT INTO s (key, value) VALUES ('blob-store?', ?)", "INSERT INTO s (key, value) VALUES ('blob-store?', $1)"),
        ("SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1"),
        ("SELECT name FROM r", "SELECT name FROM r"),
        ("LIMIT ?", "LIMIT $1"),
    ])
    func parametersAreNumbered(_ sql: String, _ expected: String) {
        #expect(PostgreSQLDatabase.numberedParameters(sql) == expected)
    }

    @Test func aMigrationIsCutIntoItsStatements() {
        let script = """
            CREATE TABLE a (x TEXT);
            CREATE INDEX a_x ON a(x);
            ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT '';
            """
        #expect(PostgreSQLDatabase.statements(script) == [
            "CREATE TABLE a (x TEXT)", "CREATE INDEX a_x ON a(x)", "ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT ''",
        ])
    }

    @Test func lockKeysAreStableAndDistinct() {
        #expect(PostgreSQLDatabase.key("registry-gc") == PostgreSQLDatabase.key("registry-gc"))
        #expect(PostgreSQLDatabase.key("registry-gc") != PostgreSQLDatabase.key("writes"))
    }
}
