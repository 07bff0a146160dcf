import ImageSpec

/// JSON for output, with object keys in a chosen order (Docker's struct order), written the way Go
/// writes it: `json.MarshalIndent` with 4 spaces, and <, >, & escaped.
public indirect enum OrderedJSON: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    /// From an unordered value: object keys sorted, as Go sorts map keys.
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(OrderedJSON.init))
        case .object(let o): self = .object(o.keys.sorted().map { ($0, OrderedJSON(o[$0]!)) })
        }
    }

    public static func strings(_ list: [String]?) -> OrderedJSON {
        list.map { .array($0.map(OrderedJSON.string)) } ?? .null
    }

    public func rendered(indent: String = "    ") -> String {
        var out = ""
        write(to: &out, indent: indent, level: 0)
        return out
    }

    /// On one line, as Go's `json.Marshal` writes it (JSON lines, API messages).
    public func compact() -> String {
        switch self {
        case .array(let items): return "[" + items.map { $0.compact() }.joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.map { key, value in
                var out = ""
                OrderedJSON.quote(key, into: &out)
                return out + ":" + value.compact()
            }.joined(separator: ",") + "}"
        default: return rendered()
        }
    }

    private func write(to out: inout String, indent: String, level: Int) {
        let pad = String(repeating: indent, count: level + 1)
        let closePad = String(repeating: indent, count: level)
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): OrderedJSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                item.write(to: &out, indent: indent, level: level + 1)
                out += i < items.count - 1 ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, (key, value)) in fields.enumerated() {
                out += pad
                OrderedJSON.quote(key, into: &out)
                out += ": "
                value.write(to: &out, indent: indent, level: level + 1)
                out += i < fields.count - 1 ? ",\n" : "\n"
            }
            out += closePad + "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += JSONCoding.quote(s, escapeHTML: true)
    }

    /// Back to an unordered value, for `--format` templates.
    public var value: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(\.value))
        case .object(let o): return .object(Dictionary(o.map { ($0.0, $0.1.value) }, uniquingKeysWith: { _, b in b }))
        }
    }
}
