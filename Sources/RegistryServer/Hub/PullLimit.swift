import Foundation
import ImageSpec
import Synchronization

/// Docker Hub's anonymous pull limit: at most `limit` manifest GETs per address in any `window`
/// (a HEAD is free, as on Docker Hub, so a client may check for updates without spending one).
public final class PullLimit: Sendable {
    public let limit: Int
    public let window: TimeInterval
    private let pulls = Mutex<[String: [Date]]>([:])

    public init(limit: Int, window: TimeInterval) {
        self.limit = limit
        self.window = window
    }

    /// `100/6h`: a count and a window.
    public convenience init(parsing text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let limit = Int(parts[0]), limit >= 1 else {
            throw StrataError(.invalidArgument, "invalid pull limit \"\(text)\": expected PULLS/WINDOW, such as 100/6h")
        }
        self.init(limit: limit, window: try DurationText.seconds(String(parts[1]), "the window of --anonymous-pull-limit"))
    }

    /// Counts one pull from `address` and returns how many remain, or nil when none did (the pull is refused).
    public func take(_ address: String, now: Date = Date()) -> Int? {
        pulls.withLock { pulls in
            var recent = (pulls[address] ?? []).filter { now.timeIntervalSince($0) < window }
            defer {
                pulls[address] = recent
                if pulls.count > 100_000 { pulls = pulls.filter { $0.value.contains { now.timeIntervalSince($0) < window } } }
            }
            guard recent.count < limit else { return nil }
            recent.append(now)
            return limit - recent.count
        }
    }

    /// How many remain for `address`, without taking one.
    public func remaining(_ address: String, now: Date = Date()) -> Int {
        pulls.withLock { pulls in limit - (pulls[address] ?? []).filter { now.timeIntervalSince($0) < window }.count }
    }

    /// The headers Docker Hub sends: `RateLimit-Limit: 100;w=21600`, `RateLimit-Remaining: 76;w=21600`.
    public func headers(remaining: Int) -> [(String, String)] {
        let w = Int(window)
        return [("RateLimit-Limit", "\(limit);w=\(w)"), ("RateLimit-Remaining", "\(max(remaining, 0));w=\(w)")]
    }
}
