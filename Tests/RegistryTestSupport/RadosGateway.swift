import Foundation
import ImageSpec
import ObjectStore
import Synchronization

/// Ceph's RADOS Gateway, the real S3 server Debian has: a one-node cluster (one monitor, one OSD
/// on a sparse file) and radosgw on 127.0.0.1, started once per test process by
/// Tests/Support/s3/radosgw.py and stopped by PID when the process exits (or, should it crash,
/// by the script's watchdog).
public final class RadosGateway: Sendable {
    public struct Started: Decodable, Sendable {
        public var endpoint: String
        public var access_key: String
        public var secret_key: String
        public var region: String
        public var pids: [Int32]
    }

    public let directory: String
    public let started: Started
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/s3/radosgw.py").path
    public static var installed: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/radosgw") }

    /// The process's gateway, started at first use; the error says why it could not start.
    public static func shared() async throws -> RadosGateway { try await sharedStart.value }

    private static let sharedStart = Task {
        let gateway = try await RadosGateway.start()
        running.withLock { $0 = gateway }
        atexit { RadosGateway.running.withLock { $0 }?.stop() }
        return gateway
    }

    private static let running = Mutex<RadosGateway?>(nil)

    /// A gateway of the caller's own. Starting takes seconds (a monitor, an OSD, the gateway), so it
    /// waits on a thread of its own, never on the cooperative pool every in-process test shares.
    public static func start() async throws -> RadosGateway { try await onThread("radosgw") { try RadosGateway() } }

    private init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-radosgw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (status, stdout, stderr) = try Self.run(["start", directory], environment: ["STRATA_S3_WATCH_PID": "\(getpid())"])
        guard status == 0, let line = stdout.split(separator: "\n").last, let started = try? JSONDecoder().decode(Started.self, from: Data(line.utf8)) else {
            throw RadosGatewayFailure(description: "radosgw did not start (exit \(status)): \(stderr)")
        }
        self.started = started
    }

    public func stop() {
        _ = try? Self.run(["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A client of a bucket of its own (created), so tests never see each other's keys.
    public func client(bucket: String? = nil, secret: String? = nil, accessKey: String? = nil, clock: @escaping @Sendable () -> Date = { Date() },
                create: Bool = true) async throws -> S3Client {
        let name = bucket ?? "t-\(UUID().uuidString.lowercased().prefix(18))"
        let configuration = S3Configuration(endpoint: started.endpoint, region: started.region, bucket: name, prefix: "registry/",
                                            credentials: .init(accessKey: accessKey ?? started.access_key, secretKey: secret ?? started.secret_key),
                                            partSize: S3Configuration.minimumPartSize)
        let client = S3Client(configuration, clock: clock)
        if create { try await client.createBucket() }
        return client
    }

    private static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting, so a chatty child never blocks on a full pipe.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

public struct RadosGatewayFailure: Error, CustomStringConvertible {
    public var description: String
}
