/// The parser directives (`# syntax=`, `# escape=`, `# check=`) found at the top of a Dockerfile.
public struct ParserDirectives: Sendable, Equatable, Codable {
    public var syntax: String?
    public var escape: EscapeCharacter
    public var check: String?

    public init(syntax: String? = nil, escape: EscapeCharacter = .backslash, check: String? = nil) {
        self.syntax = syntax
        self.escape = escape
        self.check = check
    }
}
