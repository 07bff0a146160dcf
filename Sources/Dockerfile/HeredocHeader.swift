/// A `<<WORD` found on an instruction line, before its body is read.
struct HeredocHeader: Equatable {
    var name: String
    var expands: Bool
    var stripsLeadingTabs: Bool

    /// BuildKit's heredocsFromLine: lex the line keeping quotes and escapes, then test each word.
    static func headers(in line: String) -> [HeredocHeader] {
        let options = ShellLexer.Options(rawQuotes: true, rawEscapes: true, skipUnsetVariables: true)
        var lexer = ShellLexer(line, options: options, lookup: { _ in nil })
        guard let words = try? lexer.process().words else { return [] }
        return words.compactMap(parse)
    }

    /// Matches `^(\d*)<<(-?)\s*([^<]*)$`; a quoted delimiter (in whole or part) turns expansion off.
    /// Only the `-` right after `<<` strips tabs: in `<< -EOF` the word is `-EOF`.
    static func parse(_ word: String) -> HeredocHeader? {
        var scalars = Substring(word).unicodeScalars[...]
        scalars = scalars.drop(while: { ("0"..."9").contains($0) })
        guard scalars.starts(with: "<<".unicodeScalars) else { return nil }
        scalars = scalars.dropFirst(2)
        let stripsLeadingTabs = scalars.first == "-"
        if stripsLeadingTabs { scalars = scalars.dropFirst() }
        // Go's \s: space, \t, \n, \f, \r.
        scalars = scalars.drop(while: { " \t\n\u{0C}\r".unicodeScalars.contains($0) })
        guard !scalars.isEmpty, !scalars.contains("<") else { return nil }
        let rest = String(String.UnicodeScalarView(scalars))
        guard let plain = lex(rest, rawQuotes: false), plain.count == 1,
              let raw = lex(rest, rawQuotes: true), raw.count == 1 else { return nil }
        let quoteCount: (String) -> Int = { $0.unicodeScalars.filter { $0 == "'" || $0 == "\"" }.count }
        return HeredocHeader(
            name: plain[0], expands: quoteCount(plain[0]) == quoteCount(raw[0]), stripsLeadingTabs: stripsLeadingTabs)
    }

    private static func lex(_ text: String, rawQuotes: Bool) -> [String]? {
        let options = ShellLexer.Options(rawQuotes: rawQuotes, skipUnsetVariables: true)
        var lexer = ShellLexer(text, options: options, lookup: { _ in nil })
        return try? lexer.process().words
    }
}
