/// A compiled glob: the small pattern language shared by `${V#pattern}` and `.dockerignore`.
/// Matched by backtracking with a failure memo instead of a regex engine, so it stays pure and Sendable.
struct GlobPattern: Sendable, Equatable {
    enum Token: Sendable, Equatable {
        case literal(Unicode.Scalar)
        /// `?`; in paths it does not match `/`.
        case anyOne(crossesSeparator: Bool)
        /// `*`; in paths it does not match `/`.
        case anyRun(crossesSeparator: Bool)
        case characterClass(CharacterClass)
        /// `**/` in a path pattern: zero or more whole directories.
        case optionalDirectories
    }

    var tokens: [Token]

    init(tokens: [Token]) {
        self.tokens = tokens
    }

    func matches(_ text: String) -> Bool {
        matches(Array(text.unicodeScalars)[...])
    }

    func matches(_ input: ArraySlice<Unicode.Scalar>) -> Bool {
        let input = Array(input)
        var failed = Set<Int>()
        return match(token: 0, at: 0, in: input, failed: &failed)
    }

    private func match(token: Int, at position: Int, in input: [Unicode.Scalar], failed: inout Set<Int>) -> Bool {
        if token == tokens.count { return position == input.count }
        let key = token * (input.count + 1) + position
        if failed.contains(key) { return false }
        var matched = false
        let hasInput = position < input.count
        switch tokens[token] {
        case .literal(let scalar):
            matched = hasInput && input[position] == scalar
                && match(token: token + 1, at: position + 1, in: input, failed: &failed)
        case .anyOne(let crossesSeparator):
            matched = hasInput && (crossesSeparator || input[position] != "/")
                && match(token: token + 1, at: position + 1, in: input, failed: &failed)
        case .characterClass(let characterClass):
            matched = hasInput && characterClass.contains(input[position])
                && match(token: token + 1, at: position + 1, in: input, failed: &failed)
        case .anyRun(let crossesSeparator):
            var end = position
            while true {
                if match(token: token + 1, at: end, in: input, failed: &failed) {
                    matched = true
                    break
                }
                guard end < input.count, crossesSeparator || input[end] != "/" else { break }
                end += 1
            }
        case .optionalDirectories:
            matched = match(token: token + 1, at: position, in: input, failed: &failed)
            var end = position
            while !matched, end < input.count {
                if input[end] == "/" {
                    matched = match(token: token + 1, at: end + 1, in: input, failed: &failed)
                }
                end += 1
            }
        }
        if !matched { failed.insert(key) }
        return matched
    }
}
