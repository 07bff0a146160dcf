import Foundation
import Synchronization

/// Slows a password guesser down: after `allowance` failed sign-ins for one user from one address
/// within `window`, that pair is refused — even with the right password — for a wait that doubles
/// with every further failure, up to `maximumWait`. A success clears the pair.
public final class LoginThrottle: Sendable {
    struct Record {
        var failures: Int
        var first: Date
        var blockedUntil: Date?
    }

    public let allowance: Int
    public let window: TimeInterval
    public let firstWait: TimeInterval
    public let maximumWait: TimeInterval
    private let records = Mutex<[String: Record]>([:])

    public init(allowance: Int = 5, window: TimeInterval = 900, firstWait: TimeInterval = 30, maximumWait: TimeInterval = 900) {
        self.allowance = allowance
        self.window = window
        self.firstWait = firstWait
        self.maximumWait = maximumWait
    }

    private static func key(_ user: String, _ address: String?) -> String { "\(user)\u{0}\(address ?? "-")" }

    /// How long the pair must still wait, or nil when it may try.
    public func wait(user: String, address: String?, now: Date = Date()) -> TimeInterval? {
        records.withLock { records in
            guard let until = records[Self.key(user, address)]?.blockedUntil, until > now else { return nil }
            return until.timeIntervalSince(now)
        }
    }

    public func failed(user: String, address: String?, now: Date = Date()) {
        records.withLock { records in
            let key = Self.key(user, address)
            var record = records[key] ?? Record(failures: 0, first: now)
            if now.timeIntervalSince(record.first) > window, record.blockedUntil.map({ $0 < now }) ?? true {
                record = Record(failures: 0, first: now)
            }
            record.failures += 1
            if record.failures >= allowance {
                let wait = min(maximumWait, firstWait * pow(2, Double(record.failures - allowance)))
                record.blockedUntil = now.addingTimeInterval(wait)
            }
            records[key] = record
            // Forget pairs long quiet, so a scan of many names cannot grow this without bound.
            if records.count > 10_000 {
                records = records.filter { now.timeIntervalSince($0.value.first) < window || ($0.value.blockedUntil ?? .distantPast) > now }
            }
        }
    }

    public func succeeded(user: String, address: String?) {
        _ = records.withLock { $0.removeValue(forKey: Self.key(user, address)) }
    }
}
