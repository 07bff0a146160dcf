import Foundation

/// `--filter` for image listings, in Docker's `key=value` words: dangling, reference, before,
/// since and label.
public struct ImageFilter: Sendable {
    public var dangling: Bool?
    public var references: [String] = []
    public var before: Date?
    public var since: Date?
    public var labels: [(key: String, value: String?)] = []

    public init() {}

    /// Parses Docker's filter words; `before` and `since` name images, resolved in `store`.
    public init(_ raw: [String], store: ImageStore) throws {
        for item in raw {
            guard let eq = item.firstIndex(of: "=") else {
                throw StrataError(.invalidArgument, "bad format of filter \"\(item)\" (expected name=value)")
            }
            let key = item[..<eq].lowercased()
            let value = String(item[item.index(after: eq)...])
            switch key {
            case "dangling":
                guard let b = Bool(value.lowercased()) ?? (value == "1" ? true : value == "0" ? false : nil) else {
                    throw StrataError(.invalidArgument, "invalid filter 'dangling=\(value)': use true or false")
                }
                dangling = b
            case "reference": references.append(value)
            case "before": before = try store.resolve(value).created ?? .distantPast
            case "since": since = try store.resolve(value).created ?? .distantPast
            case "label":
                if let e = value.firstIndex(of: "=") {
                    labels.append((String(value[..<e]), String(value[value.index(after: e)...])))
                } else {
                    labels.append((value, nil))
                }
            default:
                throw StrataError(.invalidArgument, "invalid filter '\(key)' (supported: dangling, reference, before, since, label)")
            }
        }
    }

    func accepts(_ image: ImageStore.Image, labels imageLabels: () -> [String: String]) -> Bool {
        let created = image.created ?? image.added
        if let before, created >= before { return false }
        if let since, created <= since { return false }
        if !labels.isEmpty {
            let have = imageLabels()
            for (k, v) in labels where have[k] == nil || (v != nil && have[k] != v) { return false }
        }
        return true
    }

    func acceptsName(_ repository: String, _ tag: String) -> Bool {
        references.isEmpty || references.contains { pattern in
            Glob.matches(pattern, repository) || Glob.matches(pattern, "\(repository):\(tag)")
        }
    }
}

/// Shell-style `*` and `?` matching for reference filters (`*` does not cross `/`, as in Go's path.Match).
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            switch p[i] {
            case "*":
                var k = j
                while true {
                    if match(i + 1, k) { return true }
                    if k == t.count || t[k] == "/" { return false }
                    k += 1
                }
            case "?": return j < t.count && t[j] != "/" && match(i + 1, j + 1)
            default: return j < t.count && t[j] == p[i] && match(i + 1, j + 1)
            }
        }
        return match(0, 0)
    }
}
