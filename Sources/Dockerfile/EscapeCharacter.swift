/// The two escape characters Docker allows; backtick exists so Windows paths need no doubling.
public enum EscapeCharacter: String, Sendable, Equatable, Codable {
    case backslash = "\\"
    case backtick = "`"

    public var character: Character { self == .backslash ? "\\" : "`" }
}
