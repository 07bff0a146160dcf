/// One ENV or LABEL entry. Both sides are kept as written (quotes included);
/// the builder expands them with `WordExpander`, which also removes the quotes.
public struct KeyValuePair: Sendable, Equatable, Codable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}
