/// Splits lexer output into words: unquoted whitespace, including whitespace a variable expanded to,
/// separates words; whitespace inside quotes never does.
struct WordCollector {
    private var words: [String] = []
    private var word = String.UnicodeScalarView()
    private var inWord = false

    mutating func add(_ scalar: Unicode.Scalar) {
        if scalar.properties.isWhitespace {
            if inWord, !word.isEmpty {
                words.append(String(word))
                word = String.UnicodeScalarView()
                inWord = false
            }
        } else {
            addRaw(scalar)
        }
    }

    mutating func addRaw(_ scalar: Unicode.Scalar) {
        word.append(scalar)
        inWord = true
    }

    mutating func addRaw(_ text: String) {
        word.append(contentsOf: text.unicodeScalars)
        inWord = true
    }

    mutating func addExpanded(_ text: String) {
        for scalar in text.unicodeScalars { add(scalar) }
    }

    mutating func finish() -> [String] {
        if !word.isEmpty { words.append(String(word)) }
        return words
    }
}
