import ImageSpec

/// A parsed Dockerfile: its parser directives, the ARGs declared before the first FROM, and its build stages.
public struct Dockerfile: Sendable, Equatable, Codable {
    public var directives: ParserDirectives
    /// ARG instructions before the first FROM; only they may be used in FROM lines.
    public var metaArgs: [Instruction]
    public var stages: [Stage]

    public init(directives: ParserDirectives, metaArgs: [Instruction], stages: [Stage]) {
        self.directives = directives
        self.metaArgs = metaArgs
        self.stages = stages
    }

    /// Parses Dockerfile text the way BuildKit does; errors name the line ("dockerfile parse error on line N: ...").
    public static func parse(_ text: String) throws -> Dockerfile {
        var reader = LogicalLineReader(text: text)
        let rawInstructions = try reader.readAll()
        let directives = reader.directives
        guard let lastLine = rawInstructions.last?.endLine else {
            throw StrataError.dockerfileParse(line: max(reader.lineCount, 1), "file with no instructions")
        }
        var metaArgs: [Instruction] = []
        var stages: [Stage] = []
        var seenStageNames: Set<String> = []
        for raw in rawInstructions {
            let instruction = try InstructionParser(escape: directives.escape.character).parse(raw)
            if case .from(let from) = instruction.arguments {
                if let name = from.stageName {
                    guard seenStageNames.insert(name).inserted else {
                        throw StrataError.dockerfileParse(line: raw.startLine, "duplicate stage name \"\(name)\"")
                    }
                }
                stages.append(Stage(index: stages.count, name: from.stageName, from: instruction, instructions: []))
            } else if stages.isEmpty {
                guard case .arg = instruction.arguments else {
                    throw StrataError.dockerfileParse(line: raw.startLine, "no build stage in current context")
                }
                metaArgs.append(instruction)
            } else {
                stages[stages.count - 1].instructions.append(instruction)
            }
        }
        guard !stages.isEmpty else {
            throw StrataError.dockerfileParse(line: lastLine, "dockerfile contains no stages to build")
        }
        return Dockerfile(directives: directives, metaArgs: metaArgs, stages: stages)
    }

    /// The stage a `--from` or `FROM` reference names: a stage name (case-insensitive) or a stage index.
    public func stage(named reference: String) -> Stage? {
        let lowered = reference.lowercased()
        if let byName = stages.first(where: { $0.name == lowered }) { return byName }
        if let index = Int(reference), stages.indices.contains(index) { return stages[index] }
        return nil
    }
}
