import Foundation
import ImageSpec

/// Docker Hub's anonymous pull limit: at most `limit` manifest GETs per address in any `window`
/// (a HEAD is free, as on Docker Hub, so a client may check for updates without spending one).
/// The pulls are counted in `records`: the registry's database when it serves, so the limit is
/// one across replicas, not one per replica.
public final class PullLimit: Sendable {
    public let limit: Int
    public let window: TimeInterval
    private let records: any PolicyRecords
    private static let kind = "anonymous-pulls"

    public init(limit: Int, window: TimeInterval, records: any PolicyRecords = MemoryPolicyRecords()) {
        self.limit = limit
        self.window = window
        self.records = records
    }

    /// `100/6h`: a count and a window.
    public convenience init(parsing text: String, records: any PolicyRecords = MemoryPolicyRecords()) throws {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let limit = Int(parts[0]), limit >= 1 else {
            throw StrataError(.invalidArgument, "invalid pull limit \"\(text)\": expected PULLS/WINDOW, such as 100/6h")
        }
        self.init(limit: limit, window: try DurationText.seconds(String(parts[1]), "the window of --anonymous-pull-limit"), records: records)
    }

    /// Counts one pull from `address` and returns how many remain, or nil when none did (the pull is refused).
    public func take(_ address: String, now: Date = Date()) throws -> Int? {
        try records.update(Self.kind, address, kept: { ($0.last ?? now).addingTimeInterval(self.window) }) { (stored: inout [Date]?) -> Int? in
            var recent = (stored ?? []).filter { now.timeIntervalSince($0) < window }
            defer { stored = recent.isEmpty ? nil : recent }
            guard recent.count < limit else { return nil }
            recent.append(now)
            return limit - recent.count
        }
    }

    /// How many remain for `address`, without taking one.
    public func remaining(_ address: String, now: Date = Date()) throws -> Int {
        limit - (try records.read(Self.kind, address, as: [Date].self) ?? []).filter { now.timeIntervalSince($0) < window }.count
    }

    /// The headers Docker Hub sends: `RateLimit-Limit: 100;w=21600`, `RateLimit-Remaining: 76;w=21600`.
    public func headers(remaining: Int) -> [(String, String)] {
        let w = Int(window)
        return [("RateLimit-Limit", "\(limit);w=\(w)"), ("RateLimit-Remaining", "\(max(remaining, 0));w=\(w)")]
    }
}
