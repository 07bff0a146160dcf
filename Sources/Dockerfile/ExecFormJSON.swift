/// Reads the JSON array of an exec-form instruction. Go's json.Unmarshal decides in BuildKit, so this
/// validates full JSON: a valid array with a non-string is an error, invalid JSON means shell form.
enum ExecFormJSON {
    enum Outcome: Equatable {
        case strings([String])
        case notStringArray
        case invalid
    }

    static let notStringArrayMessage = "when using JSON array syntax, arrays must be comprised of strings only"

    static func parse(_ text: String) -> Outcome {
        var reader = Reader(scalars: Array(text.unicodeScalars))
        reader.skipSpace()
        guard reader.peek() == "[" else { return .invalid }
        guard let value = reader.value() else { return .invalid }
        reader.skipSpace()
        guard reader.atEnd, case .array(let elements) = value else { return .invalid }
        var strings: [String] = []
        for element in elements {
            guard case .string(let string) = element else { return .notStringArray }
            strings.append(string)
        }
        return .strings(strings)
    }

    private enum Value {
        case string(String)
        case array([Value])
        case other
    }

    private struct Reader {
        let scalars: [Unicode.Scalar]
        var index = 0

        var atEnd: Bool { index == scalars.count }
        func peek() -> Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        mutating func skipSpace() {
            while let scalar = peek(), " \t\n\r".unicodeScalars.contains(scalar) { index += 1 }
        }

        mutating func literal(_ word: String) -> Bool {
            for expected in word.unicodeScalars {
                guard peek() == expected else { return false }
                index += 1
            }
            return true
        }

        mutating func value() -> Value? {
            skipSpace()
            switch peek() {
            case "\"": return string().map(Value.string)
            case "[":
                index += 1
                var elements: [Value] = []
                skipSpace()
                if peek() == "]" {
                    index += 1
                    return .array(elements)
                }
                while true {
                    guard let element = value() else { return nil }
                    elements.append(element)
                    skipSpace()
                    if peek() == "," { index += 1; continue }
                    guard peek() == "]" else { return nil }
                    index += 1
                    return .array(elements)
                }
            case "{":
                index += 1
                skipSpace()
                if peek() == "}" { index += 1; return .other }
                while true {
                    skipSpace()
                    guard peek() == "\"", string() != nil else { return nil }
                    skipSpace()
                    guard peek() == ":" else { return nil }
                    index += 1
                    guard value() != nil else { return nil }
                    skipSpace()
                    if peek() == "," { index += 1; continue }
                    guard peek() == "}" else { return nil }
                    index += 1
                    return .other
                }
            case "t": return literal("true") ? .other : nil
            case "f": return literal("false") ? .other : nil
            case "n": return literal("null") ? .other : nil
            default: return number() ? .other : nil
            }
        }

        mutating func number() -> Bool {
            let isDigit: (Unicode.Scalar?) -> Bool = { $0.map { ("0"..."9").contains($0) } ?? false }
            if peek() == "-" { index += 1 }
            guard isDigit(peek()) else { return false }
            if peek() == "0" { index += 1 } else { while isDigit(peek()) { index += 1 } }
            if peek() == "." {
                index += 1
                guard isDigit(peek()) else { return false }
                while isDigit(peek()) { index += 1 }
            }
            if peek() == "e" || peek() == "E" {
                index += 1
                if peek() == "+" || peek() == "-" { index += 1 }
                guard isDigit(peek()) else { return false }
                while isDigit(peek()) { index += 1 }
            }
            return true
        }

        mutating func string() -> String? {
            index += 1
            var result = String.UnicodeScalarView()
            var pendingHighSurrogate: UInt32?
            while let scalar = peek() {
                index += 1
                switch scalar {
                case "\"":
                    return String(result)
                case "\\":
                    guard let escaped = peek() else { return nil }
                    index += 1
                    switch escaped {
                    case "\"", "\\", "/": result.append(escaped)
                    case "b": result.append("\u{08}")
                    case "f": result.append("\u{0C}")
                    case "n": result.append("\n")
                    case "r": result.append("\r")
                    case "t": result.append("\t")
                    case "u":
                        guard index + 4 <= scalars.count,
                              let code = UInt32(String(String.UnicodeScalarView(scalars[index..<index + 4])), radix: 16)
                        else { return nil }
                        index += 4
                        if (0xD800...0xDBFF).contains(code) {
                            pendingHighSurrogate = code
                            continue
                        }
                        if (0xDC00...0xDFFF).contains(code), let high = pendingHighSurrogate {
                            let combined = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                            result.append(Unicode.Scalar(combined) ?? "\u{FFFD}")
                        } else {
                            result.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                        }
                    default: return nil
                    }
                default:
                    guard scalar.value >= 0x20 else { return nil }
                    result.append(scalar)
                }
                pendingHighSurrogate = nil
            }
            return nil
        }
    }
}
