/// Go's fmt and strconv formatting where Docker's history text depends on it: `%q` of strings
/// and string slices (CMD, ENTRYPOINT), `%v` of slices (SHELL, VOLUME), quoted runes and
/// `time.Duration.String()` (HEALTHCHECK's `%q` of its config).
enum GoFormat {
    /// `strconv.Quote`: double quotes, `\"` and `\\`, Go's named escapes, `\xNN`/`\uNNNN`/`\UNNNNNNNN`
    /// for what Go does not print as is.
    static func quote(_ text: String) -> String { quoted(text.unicodeScalars, quote: "\"") }

    /// `strconv.QuoteRune` of an integer, as `%q` prints an int: `'\x03'`, `'A'`.
    static func quoteRune(_ value: Int) -> String {
        guard let scalar = Unicode.Scalar(UInt32(clamping: max(value, 0))), value <= 0x10FFFF else { return "'\\ufffd'" }
        return quoted([scalar], quote: "'")
    }

    /// `fmt.Sprintf("%q", []string{…})`: `["a" "b c"]`.
    static func quotedList(_ words: [String]) -> String { "[" + words.map(quote).joined(separator: " ") + "]" }

    /// `fmt.Sprintf("%v", []string{…})`: `[a b c]`.
    static func list(_ words: [String]) -> String { "[" + words.joined(separator: " ") + "]" }

    /// `time.Duration(nanoseconds).String()`: `0s`, `1.5s`, `1m30s`, `1h0m0s`, `500ms`, `2µs`.
    static func duration(_ nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let sign = nanoseconds < 0 ? "-" : ""
        var u = nanoseconds.magnitude
        if u < 1_000_000_000 {
            let (precision, unit) = u < 1_000 ? (0, "ns") : u < 1_000_000 ? (3, "µs") : (6, "ms")
            let (whole, fraction) = split(u, precision: precision)
            return sign + String(whole) + fraction + unit
        }
        let (seconds, fraction) = split(u, precision: 9)
        u = seconds
        var text = String(u % 60) + fraction + "s"
        u /= 60
        if u > 0 {
            text = String(u % 60) + "m" + text
            u /= 60
            if u > 0 { text = String(u) + "h" + text }
        }
        return sign + text
    }

    /// Go's fmtFrac: the whole part and `.digits` without trailing zeros (nothing when zero).
    private static func split(_ value: UInt64, precision: Int) -> (UInt64, String) {
        guard precision > 0 else { return (value, "") }
        var scale: UInt64 = 1
        for _ in 0..<precision { scale *= 10 }
        var digits = String(value % scale)
        digits = String(repeating: "0", count: precision - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return (value / scale, digits.isEmpty ? "" : "." + digits)
    }

    private static func quoted<S: Sequence<Unicode.Scalar>>(_ scalars: S, quote: Unicode.Scalar) -> String {
        var out = String(quote)
        for scalar in scalars {
            if scalar == quote || scalar == "\\" {
                out += "\\" + String(scalar)
            } else if isPrintable(scalar) {
                out.unicodeScalars.append(scalar)
            } else {
                switch scalar.value {
                case 0x07: out += "\\a"
                case 0x08: out += "\\b"
                case 0x0C: out += "\\f"
                case 0x0A: out += "\\n"
                case 0x0D: out += "\\r"
                case 0x09: out += "\\t"
                case 0x0B: out += "\\v"
                case let v where v < 0x20 || v == 0x7F: out += "\\x" + hex(v, width: 2)
                case let v where v < 0x10000: out += "\\u" + hex(v, width: 4)
                case let v: out += "\\U" + hex(v, width: 8)
                }
            }
        }
        out.unicodeScalars.append(quote)
        return out
    }

    /// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value >= 0x20 && scalar.value < 0x7F }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber,
             .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
