// Decoding checks that the stage opens with FROM, so `base` can never trap on a decoded value.
extension Stage {
    private enum CodingKeys: String, CodingKey { case index, name, from, instructions }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let from = try container.decode(Instruction.self, forKey: .from)
        guard case .from = from.arguments else {
            throw DecodingError.dataCorruptedError(
                forKey: .from, in: container, debugDescription: "a stage must open with a FROM instruction")
        }
        self.init(
            index: try container.decode(Int.self, forKey: .index),
            name: try container.decodeIfPresent(String.self, forKey: .name),
            from: from,
            instructions: try container.decode([Instruction].self, forKey: .instructions))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(from, forKey: .from)
        try container.encode(instructions, forKey: .instructions)
    }
}
