import ImageSpec

/// Expands a Dockerfile word the way BuildKit's shell lexer does: `$V`, `${V}`, `${V:-w}`, `${V-w}`,
/// `${V:+w}`, `${V+w}`, `${V:?w}`, `${V?w}`, `${V#p}`, `${V##p}`, `${V%p}`, `${V%%p}`, `${V/p/r}`, `${V//p/r}`,
/// with quote removal (no expansion inside single quotes) and escapes.
public struct WordExpander: Sendable {
    public var escape: Character

    /// - Parameter escape: the Dockerfile's escape character (`\` or `` ` ``).
    public init(escape: Character = "\\") {
        self.escape = escape
    }

    /// Expands `word`; `lookup` returns a variable's value, or nil when it is unset.
    /// Throws `.invalidDockerfile` for syntax errors and `${V:?message}` failures.
    public func expand(_ word: String, lookup: (String) -> String?) throws -> WordExpansion {
        try withoutActuallyEscaping(lookup) { lookup in
            let options = ShellLexer.Options(escape: escape.unicodeScalars.first ?? "\\")
            var lexer = ShellLexer(word, options: options, lookup: lookup)
            do {
                let (value, words) = try lexer.process()
                return WordExpansion(
                    value: value, words: words,
                    referencedNames: lexer.referencedNames, unsetNames: lexer.unsetNames)
            } catch let error as DockerfileSyntaxError {
                throw StrataError(.invalidDockerfile, "failed to process \"\(word)\": \(error.message)")
            }
        }
    }

    /// Expands `word` against a dictionary of variables.
    public func expand(_ word: String, variables: [String: String]) throws -> WordExpansion {
        try expand(word) { variables[$0] }
    }
}
