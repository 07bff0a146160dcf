/// One build stage: a FROM and the instructions up to the next FROM.
public struct Stage: Sendable, Equatable, Codable {
    /// Position among the stages, usable as `--from=<index>`.
    public var index: Int
    /// The `AS` name, lower-cased as BuildKit stores it.
    public var name: String?
    /// The FROM instruction that opens the stage.
    public var from: Instruction
    public var instructions: [Instruction]

    public init(index: Int, name: String?, from: Instruction, instructions: [Instruction]) {
        self.index = index
        self.name = name
        self.from = from
        self.instructions = instructions
    }

    /// The FROM arguments, which every stage has.
    public var base: FromArguments {
        if case .from(let arguments) = from.arguments { return arguments }
        preconditionFailure("a stage always opens with FROM")
    }
}
