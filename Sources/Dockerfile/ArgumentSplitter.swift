/// The word splitters BuildKit's parser applies to instruction text before any expansion.
enum ArgumentSplitter {
    /// Go's unicode.IsSpace.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }

    /// Splits off leading `--flag` words (quotes and `\` handled, `--` ends the flags);
    /// returns the flag words without quotes and the remaining text.
    static func extractFlags(_ line: String) -> (flags: [String], rest: String) {
        let scalars = Array(line.unicodeScalars)
        var words: [String] = []
        var index = 0
        while true {
            while index < scalars.count, isSpace(scalars[index]) { index += 1 }
            guard index + 1 < scalars.count, scalars[index] == "-", scalars[index + 1] == "-" else {
                return (words, String(String.UnicodeScalarView(scalars[index...])))
            }
            var word = String.UnicodeScalarView()
            var quote: Unicode.Scalar?
            var blankOK = false
            while index < scalars.count {
                let scalar = scalars[index]
                if let open = quote {
                    if scalar == open {
                        quote = nil
                    } else if scalar == "\\", index + 1 < scalars.count {
                        index += 1
                        word.append(scalars[index])
                    } else if scalar != "\\" {
                        word.append(scalar)
                    }
                    index += 1
                    continue
                }
                if isSpace(scalar) { break }
                if scalar == "'" || scalar == "\"" {
                    quote = scalar
                    blankOK = true
                } else if scalar == "\\" {
                    if index + 1 < scalars.count {
                        index += 1
                        word.append(scalars[index])
                    }
                } else {
                    word.append(scalar)
                }
                index += 1
            }
            let flag = String(word)
            if flag == "--" {
                return (words, String(String.UnicodeScalarView(scalars[index...])).trimmingLeadingSpace())
            }
            if blankOK || !flag.isEmpty { words.append(flag) }
        }
    }

    /// BuildKit's parseWords: splits on unquoted whitespace but keeps quotes and escapes in the words
    /// (they are removed later by expansion). Reports the quote left open at the end, if any.
    static func shellWords(_ text: String, escape: Unicode.Scalar) -> (words: [String], openQuote: Unicode.Scalar?) {
        let scalars = Array(text.unicodeScalars)
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var inWord = false
        var quote: Unicode.Scalar?
        var blankOK = false
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if let open = quote {
                if scalar == open {
                    quote = nil
                } else if scalar == escape, open != "'" {
                    // An escape inside double quotes keeps both characters.
                    if index + 1 == scalars.count {
                        quote = nil
                        index += 1
                        continue
                    }
                    word.append(scalar)
                    index += 1
                }
                word.append(scalars[index])
                index += 1
                continue
            }
            if isSpace(scalar) {
                if inWord, blankOK || !word.isEmpty { words.append(String(word)) }
                word = String.UnicodeScalarView()
                inWord = false
                blankOK = false
                index += 1
                continue
            }
            inWord = true
            if scalar == "'" || scalar == "\"" {
                quote = scalar
                blankOK = true
            }
            if scalar == escape {
                if index + 1 == scalars.count {
                    index += 1
                    continue
                }
                word.append(scalar)
                index += 1
            }
            word.append(scalars[index])
            index += 1
        }
        if inWord, blankOK || !word.isEmpty { words.append(String(word)) }
        return (words, quote)
    }

    /// BuildKit's parseStringsWhitespaceDelimited: split on runs of spaces and tabs, nothing else.
    static func whitespaceWords(_ text: String) -> [String] {
        text.unicodeScalars
            .split(whereSeparator: { " \t\u{0B}\u{0C}\r".unicodeScalars.contains($0) })
            .map { String(String.UnicodeScalarView($0)) }
    }
}
