/// A `--name` or `--name=value` flag written before an instruction's arguments.
public struct InstructionFlag: Sendable, Equatable, Codable {
    public var name: String
    /// Nil when written without `=` (a boolean flag such as `--link`).
    public var value: String?

    public init(name: String, value: String? = nil) {
        self.name = name
        self.value = value
    }
}
