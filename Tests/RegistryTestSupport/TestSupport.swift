import Foundation
import Logging
import Registry

extension HTTPTransport {
    /// A transport for tests: quick retries (1 ms backoff), no proxy unless given, and the logger given.
    public static func forTests(proxies: ProxyConfiguration = ProxyConfiguration(), hostOverrides: [String: String] = [:],
                                retries: Int = 4, logger: Logger = Logger(label: "strata.registry")) -> HTTPTransport {
        var configuration = Configuration()
        configuration.retry = RetryPolicy(retries: retries, initialDelay: 0.001, maxDelay: 5)
        configuration.proxies = proxies
        configuration.hostOverrides = hostOverrides
        configuration.readTimeout = .seconds(20)
        return HTTPTransport(configuration: configuration, logger: logger)
    }

    /// A quick-retrying transport shared by tests that need nothing else (never shut down, as `shared`).
    public static let quick = HTTPTransport.forTests()
}

/// Log lines a test collects: a `Logger` made with `LogCapture.logger()` writes here only, so
/// tests running at once never see each other's lines and nothing global is bootstrapped.
public final class LogCapture: @unchecked Sendable {
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: String
    }

    private let lock = NSLock()
    private var collected: [Line] = []

    public init() {}

    public var lines: [Line] { lock.withLock { collected } }
    /// Everything logged, messages and metadata, as one text.
    public var text: String { lines.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n") }

    func append(_ line: Line) { lock.withLock { collected.append(line) } }

    public func logger(label: String = "strata.registry") -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append(Line(level: event.level, message: event.message.description,
                                metadata: all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")))
        }
    }
}

/// The descriptors this process holds open on a file (from `/proc/self/fd`).
public func openDescriptors(on path: String) -> Int {
    let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return entries.filter { entry in
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")) == resolved
    }.count
}

/// Waits (up to `seconds`) until `condition` holds; returns whether it did.
public func eventually(within seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return condition()
}

/// A port of 127.0.0.1 nothing listens on now (bound, read, closed), for a server to start on.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A flag one thread sets and another reads.
public final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    public init() {}
    public var value: Bool {
        get { lock.withLock { flag } }
        set { lock.withLock { flag = newValue } }
    }
}
