import Foundation
import Testing
@testable import Metadata
import ImageSpec

func temporaryPath(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "strata-metadata-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return "\(dir)/\(name)"
}

@Suite struct DatabaseTests {
    @Test func aNewDatabaseMigratesToTheLatestSchemaOnce() throws {
        let path = temporaryPath("metadata.db")
        let db = try Database(path: path)
        try db.migrate()
        #expect(db.userVersion == Schema.migrations.count)
        // Every table the store relies on is there.
        let tables = Set(try db.query("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0.string(0) })
        for table in ["images", "tags", "repo_digests", "layers", "image_blobs", "containers", "blob_sources", "layer_variants", "build_cache"] {
            #expect(tables.contains(table), "\(table)")
        }
        try db.migrate()
        #expect(try Database(path: path).userVersion == Schema.migrations.count)
    }

    /// A store written by an older Strata is brought up to date, step by step, keeping its rows.
    @Test func anOlderSchemaIsMigratedKeepingItsRows() throws {
        let db = try Database(path: temporaryPath("old.db"))
        try db.write {
            try db.executeScript(Schema.migrations[0])
            try db.execute("PRAGMA user_version = 1")
        }
        let columns = try db.query("PRAGMA table_info(images)").compactMap { $0.string(1) }
        let values = columns.map { column -> SQLValue in column == "id" ? .text("sha256:" + String(repeating: "a", count: 64)) : .text("0") }
        try db.execute("INSERT INTO images (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))", values)
        try db.migrate()
        #expect(db.userVersion == Schema.migrations.count)
        #expect(try db.query("SELECT count(*) FROM images").first?.int(0) == 1)
    }

    @Test func aNewerSchemaIsRefusedAndLeftAlone() throws {
        let path = temporaryPath("newer.db")
        let db = try Database(path: path)
        try db.migrate()
        try db.execute("PRAGMA user_version = \(Schema.migrations.count + 5)")
        #expect {
            try Database(path: path).migrate()
        } throws: { error in
            (error as? StrataError)?.code == .database && "\(error)".contains("newer than this Strata's")
        }
        #expect(try Database(path: path).userVersion == Schema.migrations.count + 5)
    }

    @Test func aFailedWriteLeavesNothing() throws {
        let db = try Database(path: temporaryPath("tx.db"))
        try db.execute("CREATE TABLE t (v TEXT NOT NULL)")
        #expect(throws: StrataError.self) {
            try db.write {
                try db.execute("INSERT INTO t VALUES ('one')")
                try db.execute("INSERT INTO t VALUES (NULL)")  // violates NOT NULL
            }
        }
        #expect(try db.query("SELECT count(*) FROM t").first?.int(0) == 0)
    }

    @Test func sqliteErrorsKeepTheirCodeAsTheCause() throws {
        let db = try Database(path: temporaryPath("err.db"))
        do {
            try db.execute("SELECT * FROM no_such_table")
            Issue.record("expected an error")
        } catch let error as StrataError {
            #expect(error.code == .database)
            #expect(error.cause(as: SQLiteError.self)?.code == 1)  // SQLITE_ERROR
            #expect(error.message.contains("no such table"))
        }
    }

    /// Two processes' worth of connections write to one store in turn (WAL, BEGIN IMMEDIATE, busy timeout).
    @Test func twoConnectionsWriteInTurn() async throws {
        let path = temporaryPath("shared.db")
        try Database(path: path).execute("CREATE TABLE n (v INTEGER)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    let db = try Database(path: path)
                    for i in 0..<50 { try db.write { try db.execute("INSERT INTO n VALUES (?)", [.integer(Int64(worker * 100 + i))]) } }
                }
            }
            try await group.waitForAll()
        }
        #expect(try Database(path: path).query("SELECT count(*) FROM n").first?.int(0) == 100)
    }
}

@Suite struct FileLockTests {
    @Test func sharedLocksCoexistAndKeepExclusiveOut() throws {
        let path = temporaryPath("gc.lock")
        var first: FileLock? = try FileLock(path: path, mode: .shared)
        var second: FileLock? = try FileLock(path: path, mode: .shared)
        #expect(FileLock(tryExclusive: path) == nil)
        first = nil
        #expect(FileLock(tryExclusive: path) == nil)
        second = nil
        #expect(FileLock(tryExclusive: path) != nil)
        withExtendedLifetime((first, second)) {}
    }

    @Test func anExclusiveLockWaitsForTheSharedOnes() async throws {
        let path = temporaryPath("wait.lock")
        let shared = try FileLock(path: path, mode: .shared)
        let started = Date()
        let waiter = Task.detached { () -> Double in
            let exclusive = try FileLock(path: path, mode: .exclusive)
            withExtendedLifetime(exclusive) {}
            return Date().timeIntervalSince(started)
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        withExtendedLifetime(shared) {}
        _ = consume shared
        let waited = try await waiter.value
        #expect(waited >= 0.25)
    }
}
