// Shell patterns as BuildKit's convertShellPatternToRegex reads them: `*` and `?` match anything
// (slashes too), `\*`, `\?`, `\\` are literals, and `[` has no special meaning.
extension GlobPattern {
    init(shellPattern: String, escape: Unicode.Scalar) throws(DockerfileSyntaxError) {
        let scalars = Array(shellPattern.unicodeScalars)
        var tokens: [Token] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar {
            case "*": tokens.append(.anyRun(crossesSeparator: true))
            case "?": tokens.append(.anyOne(crossesSeparator: true))
            case "\\":
                guard index < scalars.count else {
                    throw DockerfileSyntaxError("invalid pattern (\(shellPattern)) in substitution: trailing backslash")
                }
                let escaped = scalars[index]
                index += 1
                // `\}` and `\/` only protected the ${} syntax; they are plain characters here.
                guard "*?\\}/".unicodeScalars.contains(escaped) else {
                    throw DockerfileSyntaxError(
                        "invalid pattern (\(shellPattern)) in substitution: invalid escape '\\\(Character(escaped))'")
                }
                tokens.append(.literal(escaped))
            default:
                tokens.append(.literal(scalar))
            }
        }
        self.init(tokens: tokens)
    }

    /// `${V#p}` / `${V##p}`: drop the shortest (or longest) prefix the pattern matches.
    func removingPrefix(from value: String, longest: Bool) -> String {
        let scalars = Array(value.unicodeScalars)
        let lengths = longest ? Array((0...scalars.count).reversed()) : Array(0...scalars.count)
        for length in lengths where matches(scalars[0..<length]) {
            return String(String.UnicodeScalarView(scalars[length...]))
        }
        return value
    }

    /// `${V%p}` / `${V%%p}`: drop the shortest (or longest) suffix the pattern matches.
    func removingSuffix(from value: String, longest: Bool) -> String {
        let scalars = Array(value.unicodeScalars)
        let starts = longest ? Array(0...scalars.count) : Array((0...scalars.count).reversed())
        for start in starts where matches(scalars[start...]) {
            return String(String.UnicodeScalarView(scalars[..<start]))
        }
        return value
    }

    /// `${V/p/r}` / `${V//p/r}`: replace the leftmost longest match (or every match).
    func replacing(in value: String, with replacement: String, all: Bool) -> String {
        let scalars = Array(value.unicodeScalars)
        var result = String.UnicodeScalarView()
        var start = 0
        var replaced = false
        while start <= scalars.count {
            if !replaced || all, let end = longestMatchEnd(in: scalars, from: start) {
                result.append(contentsOf: replacement.unicodeScalars)
                replaced = true
                if end > start {
                    start = end
                    continue
                }
            }
            guard start < scalars.count else { break }
            result.append(scalars[start])
            start += 1
        }
        return String(result)
    }

    private func longestMatchEnd(in scalars: [Unicode.Scalar], from start: Int) -> Int? {
        for end in stride(from: scalars.count, through: start, by: -1) where matches(scalars[start..<end]) {
            return end
        }
        return nil
    }
}
