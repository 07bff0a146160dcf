/// One `.dockerignore` pattern, compiled as moby/patternmatcher does.
public struct DockerIgnorePattern: Sendable, Equatable {
    /// The cleaned pattern text without its `!`.
    public let pattern: String
    /// A `!` pattern re-includes what earlier patterns excluded.
    public let isException: Bool

    private enum Kind: Sendable, Equatable { case exact, prefix, suffix, glob }
    private let kind: Kind
    private let glob: GlobPattern
    /// Glob per path component, to tell whether the pattern can reach inside a directory.
    private let componentGlobs: [GlobPattern?]

    init(_ cleaned: String, isException: Bool) throws(DockerfileSyntaxError) {
        pattern = cleaned
        self.isException = isException
        (kind, glob) = try Self.compile(cleaned)
        componentGlobs = try cleaned.split(separator: "/", omittingEmptySubsequences: false).map {
            component throws(DockerfileSyntaxError) in
            component.contains("**") ? nil : try Self.compile(String(component)).1
        }
    }

    func matches(_ path: String) -> Bool {
        switch kind {
        case .exact: return path == pattern
        case .prefix: return path.hasPrefix(String(pattern.dropLast(2)))
        case .suffix:
            // patternmatcher's fast path for `**/name`: a plain suffix test, or the name itself.
            let suffix = String(pattern.dropFirst(2))
            if path.hasSuffix(suffix) { return true }
            return suffix.hasPrefix("/") && path == suffix.dropFirst()
        case .glob: return glob.matches(path)
        }
    }

    /// Whether some path strictly inside `directory` (cleaned, relative) could match this pattern.
    func mayMatchInside(_ directory: String) -> Bool {
        let directoryComponents = directory.split(separator: "/").map(String.init)
        for (index, component) in directoryComponents.enumerated() {
            guard index < componentGlobs.count else { return true }
            guard let componentGlob = componentGlobs[index] else { return true }
            if !componentGlob.matches(component) { return false }
        }
        return true
    }

    /// Port of patternmatcher's compile: decides the fast path and builds the glob.
    private static func compile(_ pattern: String) throws(DockerfileSyntaxError) -> (Kind, GlobPattern) {
        let scalars = Array(pattern.unicodeScalars)
        var tokens: [GlobPattern.Token] = []
        var kind = Kind.exact
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let isFirst = index == 0
            index += 1
            switch scalar {
            case "*":
                guard index < scalars.count, scalars[index] == "*" else {
                    tokens.append(.anyRun(crossesSeparator: false))
                    kind = .glob
                    continue
                }
                index += 1
                if index < scalars.count, scalars[index] == "/" { index += 1 }
                if index == scalars.count {
                    // A trailing `**` matches everything below, like .gitignore.
                    tokens.append(.anyRun(crossesSeparator: true))
                    kind = kind == .exact ? .prefix : .glob
                } else {
                    tokens.append(.optionalDirectories)
                    kind = .glob
                }
                if isFirst { kind = .suffix }
            case "?":
                tokens.append(.anyOne(crossesSeparator: false))
                kind = .glob
            case "\\":
                if index < scalars.count {
                    tokens.append(.literal(scalars[index]))
                    index += 1
                    kind = .glob
                } else {
                    throw DockerfileSyntaxError("syntax error in pattern")
                }
            case "[":
                guard let (characterClass, next) = CharacterClass.parse(scalars, from: index) else {
                    throw DockerfileSyntaxError("syntax error in pattern")
                }
                tokens.append(.characterClass(characterClass))
                index = next
                kind = .glob
            default:
                tokens.append(.literal(scalar))
            }
        }
        return (kind, GlobPattern(tokens: tokens))
    }
}
