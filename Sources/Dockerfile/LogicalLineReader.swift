import ImageSpec

/// Turns Dockerfile text into logical instruction lines, following BuildKit's parser.Parse:
/// parser directives, comments, escape-character continuations and heredoc bodies.
struct LogicalLineReader {
    private let lines: [String]
    private var index = 0
    private(set) var directives = ParserDirectives()
    private var directivesDone = false
    private var seenDirectives: Set<String> = []

    var lineCount: Int { lines.count }

    init(text: String) {
        // Split on "\n" bytes, keeping terminators: heredoc bodies must keep their line endings,
        // and Swift treats "\r\n" as one Character, so Character splitting would miss it.
        var lines: [String] = []
        var current: [UInt8] = []
        for byte in text.utf8 {
            current.append(byte)
            if byte == 0x0A {
                lines.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            }
        }
        if !current.isEmpty { lines.append(String(decoding: current, as: UTF8.self)) }
        if let first = lines.first, first.unicodeScalars.first == "\u{FEFF}" {
            lines[0] = String(String.UnicodeScalarView(first.unicodeScalars.dropFirst()))
        }
        self.lines = lines
    }

    private var escape: Unicode.Scalar { directives.escape == .backslash ? "\\" : "`" }

    mutating func readAll() throws -> [RawInstruction] {
        var instructions: [RawInstruction] = []
        while index < lines.count {
            let token = try processLine(lines[index], stripLeadingWhitespace: true)
            index += 1
            let startLine = index
            var (text, isEndOfLine) = trimContinuation(token)
            if isEndOfLine && text.isEmpty { continue }
            var buffer = text
            while !isEndOfLine && index < lines.count {
                let physical = lines[index]
                let processed = try processLine(physical, stripLeadingWhitespace: false)
                index += 1
                // Comment and blank lines inside a continuation are skipped, as Docker does.
                if Self.isComment(physical) || processed.trimmingLeadingSpace().isEmpty { continue }
                (text, isEndOfLine) = trimContinuation(processed)
                buffer += text
            }
            if buffer.trimmingSpace().isEmpty { continue }
            var heredocs: [Heredoc] = []
            if RawInstruction.canContainHeredoc(buffer), buffer.contains("<<") {
                for header in HeredocHeader.headers(in: buffer) {
                    heredocs.append(try readBody(of: header, startLine: startLine))
                }
            }
            instructions.append(RawInstruction(startLine: startLine, endLine: index, line: buffer, heredocs: heredocs))
        }
        return instructions
    }

    private mutating func readBody(of header: HeredocHeader, startLine: Int) throws -> Heredoc {
        var content = ""
        while index < lines.count {
            let physical = lines[index]
            index += 1
            var candidate = Self.trimNewline(physical)
            if header.stripsLeadingTabs { candidate = String(candidate.drop(while: { $0 == "\t" })) }
            if candidate == header.name {
                if header.stripsLeadingTabs { content = Self.removingLeadingTabs(content) }
                return Heredoc(
                    name: header.name, content: content, expands: header.expands,
                    stripsLeadingTabs: header.stripsLeadingTabs)
            }
            content += physical
        }
        throw StrataError.dockerfileParse(line: startLine, "unterminated heredoc \"\(header.name)\"")
    }

    /// Removes the line terminator, leading whitespace on first lines, and whole-line comments;
    /// parser directives are recognised here while they are still allowed.
    private mutating func processLine(_ physical: String, stripLeadingWhitespace: Bool) throws -> String {
        var token = Self.trimNewline(physical)
        if stripLeadingWhitespace { token = token.trimmingLeadingSpace() }
        try recognizeDirective(token)
        return token.unicodeScalars.first == "#" ? "" : token
    }

    private mutating func recognizeDirective(_ token: String) throws {
        guard !directivesDone else { return }
        // Any line that is not a known directive ends the directive section for good.
        guard let (key, value) = Self.directive(in: token),
              ["syntax", "escape", "check"].contains(key.lowercased()) else {
            directivesDone = true
            return
        }
        let name = key.lowercased()
        guard seenDirectives.insert(name).inserted else {
            throw StrataError.dockerfileParse(line: index + 1, "only one \(name) parser directive can be used")
        }
        switch name {
        case "escape":
            guard let escape = EscapeCharacter(rawValue: value) else {
                throw StrataError.dockerfileParse(
                    line: index + 1, "invalid escape token '\(value)' does not match ` or \\")
            }
            directives.escape = escape
        case "syntax": directives.syntax = value
        default: directives.check = value
        }
    }

    /// Matches `^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$`.
    static func directive(in token: String) -> (key: String, value: String)? {
        var scalars = Substring(token).unicodeScalars[...]
        let isBlank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" }
        guard scalars.first == "#" else { return nil }
        scalars = scalars.dropFirst().drop(while: isBlank)
        let isASCIILetter: (Unicode.Scalar) -> Bool = { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
        guard let first = scalars.first, isASCIILetter(first) else { return nil }
        let key = scalars.prefix(while: { isASCIILetter($0) || ("0"..."9").contains($0) })
        scalars = scalars.dropFirst(key.count).drop(while: isBlank)
        guard scalars.first == "=" else { return nil }
        scalars = scalars.dropFirst().drop(while: isBlank)
        while let last = scalars.last, isBlank(last) { scalars = scalars.dropLast() }
        guard !scalars.isEmpty else { return nil }
        return (String(String.UnicodeScalarView(key)), String(String.UnicodeScalarView(scalars)))
    }

    /// A continuation is the escape character at the end of a line (spaces or tabs may follow) that is not
    /// itself escaped: BuildKit's `([^E])E[ \t]*$|^E[ \t]*$`. It looks one character back only, so
    /// `a \\` (an escaped backslash) ends the line, and so does `a \\\`, as in BuildKit.
    private func trimContinuation(_ line: String) -> (String, isEndOfLine: Bool) {
        var scalars = Array(line.unicodeScalars)
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        guard scalars.last == escape else { return (line, true) }
        scalars.removeLast()
        if scalars.last == escape { return (line, true) }
        return (String(String.UnicodeScalarView(scalars)), false)
    }

    static func isComment(_ physical: String) -> Bool {
        trimNewline(physical).trimmingLeadingSpace().unicodeScalars.first == "#"
    }

    static func trimNewline(_ line: String) -> String {
        var scalars = Substring(line).unicodeScalars[...]
        while let last = scalars.last, last == "\n" || last == "\r" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    /// `<<-` bodies lose the tabs at the start of every line.
    static func removingLeadingTabs(_ content: String) -> String {
        var result = ""
        var atLineStart = true
        for scalar in content.unicodeScalars {
            if atLineStart && scalar == "\t" { continue }
            atLineStart = scalar == "\n"
            result.unicodeScalars.append(scalar)
        }
        return result
    }
}
