/// `ONBUILD <instruction>`: the trigger text stored in the image config, and the instruction it runs.
public struct OnbuildTrigger: Sendable, Equatable, Codable {
    /// What Docker stores in `OnBuild`: the text after ONBUILD, heredoc bodies appended.
    public var expression: String
    public var instruction: Instruction

    public init(expression: String, instruction: Instruction) {
        self.expression = expression
        self.instruction = instruction
    }
}
