// Empty flag and heredoc lists are left out so golden dumps stay short; decoding restores them.
extension Instruction {
    private enum CodingKeys: String, CodingKey {
        case keyword, startLine, endLine, original, flags, heredocs, arguments
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            keyword: try container.decode(String.self, forKey: .keyword),
            startLine: try container.decode(Int.self, forKey: .startLine),
            endLine: try container.decode(Int.self, forKey: .endLine),
            original: try container.decode(String.self, forKey: .original),
            flags: try container.decodeIfPresent([InstructionFlag].self, forKey: .flags) ?? [],
            heredocs: try container.decodeIfPresent([Heredoc].self, forKey: .heredocs) ?? [],
            arguments: try container.decode(InstructionArguments.self, forKey: .arguments))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keyword, forKey: .keyword)
        try container.encode(startLine, forKey: .startLine)
        try container.encode(endLine, forKey: .endLine)
        try container.encode(original, forKey: .original)
        if !flags.isEmpty { try container.encode(flags, forKey: .flags) }
        if !heredocs.isEmpty { try container.encode(heredocs, forKey: .heredocs) }
        try container.encode(arguments, forKey: .arguments)
    }
}
