/// The result of expanding one word.
public struct WordExpansion: Sendable, Equatable {
    /// The expanded text with quotes and escapes removed (BuildKit's ProcessWord).
    public var value: String
    /// The same text split on unquoted whitespace, for instructions that take several words (ProcessWords).
    public var words: [String]
    /// Every variable the word referred to, in first-use order, set or not: a step's cache key
    /// must include exactly these build args.
    public var referencedNames: [String]
    /// The referenced variables that were unset.
    public var unsetNames: [String]

    public init(value: String, words: [String], referencedNames: [String], unsetNames: [String]) {
        self.value = value
        self.words = words
        self.referencedNames = referencedNames
        self.unsetNames = unsetNames
    }
}
