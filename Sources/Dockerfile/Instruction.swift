/// One Dockerfile instruction with its source location, flags and typed arguments.
public struct Instruction: Sendable, Equatable, Codable {
    /// The keyword upper-cased (`RUN`, `COPY`, ...).
    public var keyword: String
    /// First and last 1-based source lines, continuation and heredoc lines included.
    public var startLine: Int
    public var endLine: Int
    /// The instruction text with continuations joined, as `docker history` shows it.
    public var original: String
    /// `--name[=value]` flags in source order.
    public var flags: [InstructionFlag]
    /// Heredoc bodies that follow the instruction line, in order.
    public var heredocs: [Heredoc]
    public var arguments: InstructionArguments

    public init(
        keyword: String, startLine: Int, endLine: Int, original: String,
        flags: [InstructionFlag] = [], heredocs: [Heredoc] = [], arguments: InstructionArguments
    ) {
        self.keyword = keyword
        self.startLine = startLine
        self.endLine = endLine
        self.original = original
        self.flags = flags
        self.heredocs = heredocs
        self.arguments = arguments
    }

    /// The values given for a flag, in order (repeatable flags such as `--mount` may have several).
    public func flagValues(_ name: String) -> [String] {
        flags.filter { $0.name == name }.map { $0.value ?? "" }
    }
}
