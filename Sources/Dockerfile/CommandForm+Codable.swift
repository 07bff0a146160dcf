extension CommandForm: Codable {
    private enum CodingKeys: String, CodingKey { case exec, shell }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let words = try container.decodeIfPresent([String].self, forKey: .exec) {
            self = .exec(words)
        } else {
            self = .shell(try container.decode(String.self, forKey: .shell))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .exec(let words): try container.encode(words, forKey: .exec)
        case .shell(let text): try container.encode(text, forKey: .shell)
        }
    }
}
