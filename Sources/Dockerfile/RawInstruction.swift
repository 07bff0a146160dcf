/// One instruction as the line reader hands it over: location and text, not yet typed.
struct RawInstruction: Sendable {
    var startLine: Int
    var endLine: Int
    /// The joined logical line (continuations removed, comment lines dropped).
    var line: String
    var heredocs: [Heredoc]

    /// BuildKit's splitCommand: keyword, leading `--flags`, and the argument text.
    static func split(_ line: String) -> (keyword: String, flags: [String], rest: String) {
        let trimmed = line.trimmingSpace()
        let scalars = Array(trimmed.unicodeScalars)
        let isSeparator: (Unicode.Scalar) -> Bool = { " \t\u{0B}\u{0C}\r".unicodeScalars.contains($0) }
        guard let end = scalars.firstIndex(where: isSeparator) else { return (trimmed, [], "") }
        let keyword = String(String.UnicodeScalarView(scalars[..<end]))
        let afterKeyword = String(String.UnicodeScalarView(scalars[end...].drop(while: isSeparator)))
        let (flags, rest) = ArgumentSplitter.extractFlags(afterKeyword)
        return (keyword, flags, rest)
    }

    /// Heredocs are read only for RUN, COPY and ADD in shell form, including behind ONBUILD.
    static func canContainHeredoc(_ line: String) -> Bool {
        var (keyword, _, rest) = split(line)
        if keyword.lowercased() == "onbuild" {
            (keyword, _, rest) = split(rest)
        }
        guard ["run", "copy", "add"].contains(keyword.lowercased()) else { return false }
        if case .strings = ExecFormJSON.parse(rest) { return false }
        return true
    }
}
