// An empty mount list is left out so golden dumps stay short.
extension RunArguments {
    private enum CodingKeys: String, CodingKey { case command, mounts, network, security }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            command: try container.decode(CommandForm.self, forKey: .command),
            mounts: try container.decodeIfPresent([RunMount].self, forKey: .mounts) ?? [],
            network: try container.decodeIfPresent(String.self, forKey: .network),
            security: try container.decodeIfPresent(String.self, forKey: .security))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(command, forKey: .command)
        if !mounts.isEmpty { try container.encode(mounts, forKey: .mounts) }
        try container.encodeIfPresent(network, forKey: .network)
        try container.encodeIfPresent(security, forKey: .security)
    }
}
