import Foundation

/// Slows a password guesser down: after `allowance` failed sign-ins for one user from one address
/// within `window`, that pair is refused — even with the right password — for a wait that doubles
/// with every further failure, up to `maximumWait`. A success clears the pair. The counts live in
/// `records`: the registry's database when it serves, so a guesser gains nothing by spreading
/// guesses over replicas.
public final class LoginThrottle: Sendable {
    struct Record: Codable, Sendable {
        var failures: Int
        var first: Date
        var blockedUntil: Date?
    }

    public let allowance: Int
    public let window: TimeInterval
    public let firstWait: TimeInterval
    public let maximumWait: TimeInterval
    private let records: any PolicyRecords
    private static let kind = "login-failures"

    public init(allowance: Int = 5, window: TimeInterval = 900, firstWait: TimeInterval = 30, maximumWait: TimeInterval = 900,
                records: any PolicyRecords = MemoryPolicyRecords()) {
        self.allowance = allowance
        self.window = window
        self.firstWait = firstWait
        self.maximumWait = maximumWait
        self.records = records
    }

    // An address has no space in it; a name may.
    private static func key(_ user: String, _ address: String?) -> String { "\(address ?? "-") \(user)" }

    /// How long the pair must still wait, or nil when it may try.
    public func wait(user: String, address: String?, now: Date = Date()) throws -> TimeInterval? {
        guard let until = try records.read(Self.kind, Self.key(user, address), as: Record.self)?.blockedUntil, until > now else { return nil }
        return until.timeIntervalSince(now)
    }

    public func failed(user: String, address: String?, now: Date = Date()) throws {
        try records.update(Self.kind, Self.key(user, address), kept: kept) { (stored: inout Record?) in
            var record = stored ?? Record(failures: 0, first: now)
            if now.timeIntervalSince(record.first) > window, record.blockedUntil.map({ $0 < now }) ?? true {
                record = Record(failures: 0, first: now)
            }
            record.failures += 1
            if record.failures >= allowance {
                let wait = min(maximumWait, firstWait * pow(2, Double(record.failures - allowance)))
                record.blockedUntil = now.addingTimeInterval(wait)
            }
            stored = record
        }
    }

    public func succeeded(user: String, address: String?) throws {
        try records.update(Self.kind, Self.key(user, address), kept: kept) { (stored: inout Record?) in stored = nil }
    }

    /// A pair's failures matter for the window, and a block until it ends.
    private func kept(_ record: Record) -> Date {
        max(record.first.addingTimeInterval(window), record.blockedUntil ?? .distantPast)
    }
}
