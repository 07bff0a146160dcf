import Foundation
import ImageSpec
import PostgresMetadata
import Synchronization

/// PostgreSQL 15 from Debian on a loopback port, from a temporary data directory: started by
/// Tests/Support/postgres/postgres.py (initdb and pg_ctl as the `postgres` user), stopped by PID
/// when the test process exits, or by the script's watchdog should it crash.
public final class TestPostgres: Sendable {
    public struct Started: Decodable, Sendable {
        public var url: String
        public var port: Int
        public var pid: Int32
        public var user: String
        public var password: String
    }

    public let directory: String
    public let started: Started
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/postgres/postgres.py").path
    public static var installed: Bool { !((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).isEmpty }

    /// The process's server, started at first use.
    public static func shared() async throws -> TestPostgres { try await sharedStart.value }

    private static let sharedStart = Task {
        let server = try await TestPostgres.start()
        running.withLock { $0 = server }
        atexit { TestPostgres.running.withLock { $0 }?.stop() }
        return server
    }

    private static let running = Mutex<TestPostgres?>(nil)

    /// A server of the caller's own (to restart it, say), started on a thread of its own.
    public static func start() async throws -> TestPostgres { try await onThread("postgres") { try TestPostgres() } }

    private init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-postgres-\(UUID().uuidString)").path
        started = try Self.run(["start", directory], environment: ["STRATA_PG_WATCH_PID": "\(getpid())"])
    }

    /// The server's administrative database.
    public var url: PostgresURL { try! PostgresURL(parsing: started.url) }

    /// A database of its own (created), so tests never see each other's rows.
    public func database() async throws -> PostgresURL {
        let name = "t_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))"
        var made = url
        made.database = name
        let admin = url
        try await onThread("postgres") { try PostgreSQLDatabase(admin).execute("CREATE DATABASE \(name)") }
        return made
    }

    /// Stops the server and starts it again on the same port and data, as an administrator would.
    public func restart() async throws {
        let directory = directory
        _ = try await onThread("postgres") { try Self.run(["restart", directory]) }
    }

    /// Stops the server, keeping its data: `restart` brings it back.
    public func stopServer() async throws {
        let directory = directory
        _ = try await onThread("postgres") { try Self.run(["stop", directory]) }
    }

    public func stop() {
        _ = try? Self.run(["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Started {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let line = String(decoding: stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0 else {
            throw TestPostgresFailure(description: "postgres.py \(arguments[0]) failed (exit \(process.terminationStatus)): \(String(decoding: stderr, as: UTF8.self))")
        }
        guard arguments[0] != "stop" else { return Started(url: "", port: 0, pid: 0, user: "", password: "") }
        guard let started = try? JSONDecoder().decode(Started.self, from: Data(line.utf8)) else {
            throw TestPostgresFailure(description: "postgres.py \(arguments[0]) printed no JSON: \(line)")
        }
        return started
    }
}

public struct TestPostgresFailure: Error, CustomStringConvertible {
    public var description: String
}
