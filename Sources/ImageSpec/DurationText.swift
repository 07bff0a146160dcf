import Foundation

/// Durations as users write them in flags, settings and the environment: `90s`, `30m`, `1h`,
/// `2d`, or plain seconds.
public enum DurationText {
    /// The duration in seconds; `what` names the flag or setting in the error.
    public static func seconds(_ text: String, _ what: String) throws -> TimeInterval {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let factor = units[unit], let value = Double(text.dropLast()), value >= 0 { return value * factor }
        if let value = Double(text), value >= 0 { return value }
        throw StrataError(.invalidArgument, "invalid \(what) \"\(text)\": expected a duration such as 90s, 30m, 1h or 2d")
    }

    /// The other way: `6h`, `30m`, `90s`, `2d`, in the largest unit that divides it.
    public static func describe(_ seconds: TimeInterval) -> String {
        let whole = Int(seconds.rounded())
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] where whole >= size && whole % size == 0 { return "\(whole / size)\(unit)" }
        return "\(whole)s"
    }
}
