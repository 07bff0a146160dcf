/// A here-document attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`).
public struct Heredoc: Sendable, Equatable, Codable {
    /// The delimiter word with quotes removed.
    public var name: String
    /// The body, each line ending in a newline; leading tabs already removed for `<<-`.
    public var content: String
    /// False when the delimiter was quoted: the body is then used literally, without variable expansion.
    public var expands: Bool
    /// True for `<<-`, which strips leading tabs from body lines and the terminator.
    public var stripsLeadingTabs: Bool

    public init(name: String, content: String, expands: Bool, stripsLeadingTabs: Bool) {
        self.name = name
        self.content = content
        self.expands = expands
        self.stripsLeadingTabs = stripsLeadingTabs
    }
}

extension Heredoc {
    /// Whether `word` is one heredoc marker and nothing else (`<<EOF`, `<<-'EOF'`, `<< EOF`, `3<<EOF`), as
    /// BuildKit's ParseHeredoc decides it. A shell-form RUN whose whole command is one marker runs that body.
    public static func isMarker(_ word: String) -> Bool {
        HeredocHeader.parse(word.trimmingSpace()) != nil
    }
}
