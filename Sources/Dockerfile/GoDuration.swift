/// Go's time.ParseDuration, which HEALTHCHECK's duration flags use ("1m30s", "500ms", "1.5h").
enum GoDuration {
    /// Nanoseconds, or nil when the text is not a Go duration.
    static func nanoseconds(_ text: String) -> Int64? {
        var scalars = Substring(text).unicodeScalars[...]
        var negative = false
        if let sign = scalars.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            scalars = scalars.dropFirst()
        }
        if String(String.UnicodeScalarView(scalars)) == "0" { return 0 }
        guard !scalars.isEmpty else { return nil }
        let units: [(String, Double)] = [
            ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
        ]
        let isDigit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        var total = 0.0
        while !scalars.isEmpty {
            let number = scalars.prefix(while: { isDigit($0) || $0 == "." })
            let numberText = String(String.UnicodeScalarView(number))
            guard !number.isEmpty, number.contains(where: isDigit), number.filter({ $0 == "." }).count <= 1,
                  let value = Double(numberText.hasPrefix(".") ? "0" + numberText : numberText) else { return nil }
            scalars = scalars.dropFirst(number.count)
            let unitScalars = scalars.prefix(while: { !isDigit($0) && $0 != "." })
            guard let multiplier = units.first(where: { $0.0 == String(String.UnicodeScalarView(unitScalars)) })?.1
            else { return nil }
            scalars = scalars.dropFirst(unitScalars.count)
            total += value * multiplier
        }
        guard total < 9.2e18 else { return nil }
        return Int64(negative ? -total : total)
    }
}
