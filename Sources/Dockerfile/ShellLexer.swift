/// A port of BuildKit's shell word lexer (frontend/dockerfile/shell/lex.go): expands `$` forms,
/// removes quotes and escapes, and splits the result into words the way the shell would.
struct ShellLexer {
    struct Options {
        var escape: Unicode.Scalar = "\\"
        /// Keep quote characters in the output (heredoc detection needs to see them).
        var rawQuotes = false
        /// Keep escape characters in the output.
        var rawEscapes = false
        /// Leave references to unset variables as written instead of expanding them to "".
        var skipUnsetVariables = false
    }

    private let scalars: [Unicode.Scalar]
    private var position = 0
    private let options: Options
    private let lookup: (String) -> String?
    /// Variable names looked up, in first-use order; the builder's cache keys on them.
    private(set) var referencedNames: [String] = []
    private(set) var unsetNames: [String] = []

    init(_ text: String, options: Options, lookup: @escaping (String) -> String?) {
        self.scalars = Array(text.unicodeScalars)
        self.options = options
        self.lookup = lookup
    }

    /// Processes the whole text: the expanded string, and the same split into words.
    mutating func process() throws(DockerfileSyntaxError) -> (value: String, words: [String]) {
        try processStop(on: nil, rawEscapes: options.rawEscapes)
    }

    private func peek() -> Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private mutating func next() -> Unicode.Scalar? {
        guard position < scalars.count else { return nil }
        defer { position += 1 }
        return scalars[position]
    }

    private mutating func variable(_ name: String) -> String? {
        if !referencedNames.contains(name) { referencedNames.append(name) }
        let value = lookup(name)
        if value == nil, !unsetNames.contains(name) { unsetNames.append(name) }
        return value
    }

    private mutating func processStop(
        on stop: Unicode.Scalar?, rawEscapes: Bool
    ) throws(DockerfileSyntaxError) -> (value: String, words: [String]) {
        var result = String.UnicodeScalarView()
        var words = WordCollector()
        while let scalar = peek() {
            if let stop, scalar == stop {
                position += 1
                return (String(result), words.finish())
            }
            switch scalar {
            case "'":
                let quoted = try processSingleQuote()
                result.append(contentsOf: quoted.unicodeScalars)
                words.addRaw(quoted)
            case "\"":
                let quoted = try processDoubleQuote()
                result.append(contentsOf: quoted.unicodeScalars)
                words.addRaw(quoted)
            case "$":
                let expanded = try processDollar()
                result.append(contentsOf: expanded.unicodeScalars)
                words.addExpanded(expanded)
            case "<":
                let marker = processPossibleHeredoc()
                result.append(contentsOf: marker.unicodeScalars)
                words.addRaw(marker)
            default:
                position += 1
                if scalar == options.escape {
                    if rawEscapes {
                        words.addRaw(scalar)
                        result.append(scalar)
                    }
                    // An escape at the very end is dropped, like the shell does.
                    guard let escaped = next() else { break }
                    words.addRaw(escaped)
                    result.append(escaped)
                } else {
                    words.add(scalar)
                    result.append(scalar)
                }
            }
        }
        if let stop {
            throw DockerfileSyntaxError("unexpected end of statement while looking for matching \(Character(stop))")
        }
        return (String(result), words.finish())
    }

    /// `<<` and `<<-` keep the spaces, tabs and carriage returns after them, so `<<  EOF` and
    /// `<<- EOF` stay one word that heredoc detection can see (Dockerfile frontend 1.16). A `-`
    /// after the spaces is the word's own: `<< -EOF` names `-EOF`.
    private mutating func processPossibleHeredoc() -> String {
        position += 1
        guard peek() == "<" else { return "<" }
        position += 1
        var marker = "<<"
        if peek() == "-" {
            marker.unicodeScalars.append("-")
            position += 1
        }
        while let scalar = peek(), scalar == " " || scalar == "\t" || scalar == "\r" {
            marker.unicodeScalars.append(scalar)
            position += 1
        }
        return marker
    }

    private mutating func processSingleQuote() throws(DockerfileSyntaxError) -> String {
        var result = String.UnicodeScalarView()
        let open = next()!
        if options.rawQuotes { result.append(open) }
        while true {
            guard let scalar = next() else {
                throw DockerfileSyntaxError("unexpected end of statement while looking for matching single-quote")
            }
            if scalar == "'" {
                if options.rawQuotes { result.append(scalar) }
                return String(result)
            }
            result.append(scalar)
        }
    }

    private mutating func processDoubleQuote() throws(DockerfileSyntaxError) -> String {
        var result = String.UnicodeScalarView()
        let open = next()!
        if options.rawQuotes { result.append(open) }
        while true {
            guard let scalar = peek() else {
                throw DockerfileSyntaxError("unexpected end of statement while looking for matching double-quote")
            }
            if scalar == "\"" {
                position += 1
                if options.rawQuotes { result.append(scalar) }
                return String(result)
            }
            if scalar == "$" {
                result.append(contentsOf: try processDollar().unicodeScalars)
                continue
            }
            position += 1
            var literal = scalar
            if scalar == options.escape {
                if options.rawEscapes { result.append(scalar) }
                guard let following = peek() else { continue }
                // Inside double quotes only ", $ and the escape itself can be escaped.
                if following == "\"" || following == "$" || following == options.escape {
                    literal = following
                    position += 1
                }
            }
            result.append(literal)
        }
    }

    private mutating func processDollar() throws(DockerfileSyntaxError) -> String {
        position += 1
        guard peek() == "{" else {
            let name = processName()
            if name.isEmpty { return "$" }
            let value = variable(name)
            if value == nil, options.skipUnsetVariables { return "$" + name }
            return value ?? ""
        }
        position += 1
        switch peek() {
        case nil: throw DockerfileSyntaxError("syntax error: missing '}'")
        case "{", "}", ":": throw DockerfileSyntaxError("syntax error: bad substitution")
        default: break
        }
        let name = processName()
        guard let modifier = next() else { throw DockerfileSyntaxError("syntax error: missing '}'") }
        switch modifier {
        case "}":
            let value = variable(name)
            if value == nil, options.skipUnsetVariables { return "${\(name)}" }
            return value ?? ""
        case "?", "+", "-":
            let word = try processWordUntilBrace()
            let value = variable(name)
            if value == nil, options.skipUnsetVariables { return "${\(name)\(Character(modifier))\(word)}" }
            switch modifier {
            case "+": return value == nil ? "" : word
            case "-": return value ?? word
            default:
                guard let value else {
                    throw DockerfileSyntaxError("\(name): \(word.isEmpty ? "is not allowed to be unset" : word)")
                }
                return value
            }
        case ":":
            guard let colonModifier = next() else { throw DockerfileSyntaxError("syntax error: missing '}'") }
            let word = try processWordUntilBrace()
            let value = variable(name)
            if value == nil, options.skipUnsetVariables { return "${\(name):\(Character(colonModifier))\(word)}" }
            switch colonModifier {
            case "+": return (value ?? "").isEmpty ? "" : word
            case "-": return (value ?? "").isEmpty ? word : value!
            case "?":
                guard let value else {
                    throw DockerfileSyntaxError("\(name): \(word.isEmpty ? "is not allowed to be unset" : word)")
                }
                guard !value.isEmpty else {
                    throw DockerfileSyntaxError("\(name): \(word.isEmpty ? "is not allowed to be empty" : word)")
                }
                return value
            default:
                throw DockerfileSyntaxError("unsupported modifier (\(Character(colonModifier))) in substitution")
            }
        case "#", "%":
            let longest = peek() == modifier
            if longest { position += 1 }
            // Patterns keep their escapes so `\*` stays a literal star for the glob.
            let pattern = try processWordUntilBrace(rawEscapes: true)
            let value = variable(name)
            if value == nil, options.skipUnsetVariables {
                let op = String(Character(modifier)) + (longest ? String(Character(modifier)) : "")
                return "${\(name)\(op)\(pattern)}"
            }
            let glob = try GlobPattern(shellPattern: pattern, escape: options.escape)
            return modifier == "#"
                ? glob.removingPrefix(from: value ?? "", longest: longest)
                : glob.removingSuffix(from: value ?? "", longest: longest)
        case "/":
            let replaceAll = peek() == "/"
            if replaceAll { position += 1 }
            let pattern: String
            do {
                pattern = try processStop(on: "/", rawEscapes: true).value
            } catch {
                if peek() == nil { throw DockerfileSyntaxError("syntax error: missing '/' in ${}") }
                throw error
            }
            let replacement = try processWordUntilBrace(rawEscapes: true)
            let value = variable(name)
            if value == nil, options.skipUnsetVariables {
                return "${\(name)/\(replaceAll ? "/" : "")\(pattern)/\(replacement)}"
            }
            let glob = try GlobPattern(shellPattern: pattern, escape: options.escape)
            return glob.replacing(in: value ?? "", with: replacement, all: replaceAll)
        default:
            if options.skipUnsetVariables { return "${\(name)}" }
            throw DockerfileSyntaxError("unsupported modifier (\(Character(modifier))) in substitution")
        }
    }

    private mutating func processWordUntilBrace(rawEscapes: Bool? = nil) throws(DockerfileSyntaxError) -> String {
        do {
            return try processStop(on: "}", rawEscapes: rawEscapes ?? options.rawEscapes).value
        } catch {
            if peek() == nil { throw DockerfileSyntaxError("syntax error: missing '}'") }
            throw error
        }
    }

    /// A name is letters, digits and `_`; a leading digit run or one special parameter (`$@`, `$#`...) stands alone.
    private mutating func processName() -> String {
        var name = String.UnicodeScalarView()
        while let scalar = peek() {
            if name.isEmpty, scalar.properties.numericType == .decimal {
                while let digit = peek(), digit.properties.numericType == .decimal {
                    name.append(digit)
                    position += 1
                }
                return String(name)
            }
            if name.isEmpty, "@*#?-$!0".unicodeScalars.contains(scalar) {
                position += 1
                return String(scalar)
            }
            guard scalar.properties.isAlphabetic || scalar.properties.numericType == .decimal || scalar == "_" else {
                break
            }
            name.append(scalar)
            position += 1
        }
        return String(name)
    }
}
