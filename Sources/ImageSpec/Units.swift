import Foundation

/// Sizes and ages the way Docker prints them (docker/go-units).
public enum Units {
    /// Decimal units with `precision` significant digits: 117MB, 1.98MB, 210kB, 0B.
    public static func humanSize(_ size: Int64, precision: Int = 3) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
        var value = Double(size)
        var i = 0
        while value >= 1000, i < units.count - 1 {
            value /= 1000
            i += 1
        }
        return String(format: "%.\(precision)g", value) + units[i]
    }

    /// docker/go-units RAMInBytes, `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`: "64m", "1.5g",
    /// "512kb", "16MiB", "100"; binary multiples. Nil when the text is not a size.
    public static func ramInBytes(_ text: String) -> Int64? {
        var body = Substring(text.lowercased())
        if body.hasSuffix("b") { body = body.dropLast() }
        if body.hasSuffix("i") { body = body.dropLast() }
        var multiplier = 1.0
        if let last = body.last, let power = ["k", "m", "g", "t", "p"].firstIndex(of: String(last)) {
            multiplier = Double(Int64(1) << (10 * (power + 1)))
            body = body.dropLast()
        }
        if body.hasSuffix(" ") { body = body.dropLast() }
        guard let first = body.first, first.isNumber, let last = body.last, last.isNumber,
              body.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), !body.contains(".."),
              let number = Double(body) else { return nil }
        return Int64(number * multiplier)
    }

    /// "52 minutes ago", "About an hour ago", "Less than a second ago".
    public static func humanDuration(since date: Date, now: Date = Date()) -> String {
        let d = now.timeIntervalSince(date)
        let seconds = Int(d)
        if seconds < 1 { return "Less than a second" }
        if seconds == 1 { return "1 second" }
        if seconds < 60 { return "\(seconds) seconds" }
        let minutes = Int(d / 60)
        if minutes == 1 { return "About a minute" }
        if minutes < 60 { return "\(minutes) minutes" }
        let hours = Int((d / 3600).rounded())
        if hours == 1 { return "About an hour" }
        if hours < 48 { return "\(hours) hours" }
        if hours < 24 * 7 * 2 { return "\(hours / 24) days" }
        if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks" }
        if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months" }
        return "\(Int(d / 3600) / 24 / 365) years"
    }

    public static func ago(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "N/A" }
        return humanDuration(since: date, now: now) + " ago"
    }

    /// Go's `time.Time.String()`-like stamp Docker uses for CreatedAt: `2026-11-22 15:27:53 +0000 UTC`.
    public static func createdAt(_ date: Date?) -> String {
        guard let date else { return "" }
        var tm = tm()
        var t = time_t(date.timeIntervalSince1970)
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d +0000 UTC", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// Docker's ellipsis: cut to `width` characters, the last one an ellipsis.
    public static func ellipsis(_ s: String, _ width: Int) -> String {
        let scalars = Array(s.unicodeScalars)
        guard scalars.count > width else { return s }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[0..<(width - 1)])
        return String(out) + "…"
    }
}
