// Defaults (no flag given) are left out so golden dumps show only what the Dockerfile said.
extension CopyArguments {
    private enum CodingKeys: String, CodingKey {
        case sources, heredocSources, destination, from, chown, chmod, link, parents, excludes, checksum, keepGitDir
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            sources: try container.decodeIfPresent([String].self, forKey: .sources) ?? [],
            heredocSources: try container.decodeIfPresent([String].self, forKey: .heredocSources) ?? [],
            destination: try container.decode(String.self, forKey: .destination),
            from: try container.decodeIfPresent(String.self, forKey: .from),
            chown: try container.decodeIfPresent(String.self, forKey: .chown),
            chmod: try container.decodeIfPresent(String.self, forKey: .chmod),
            link: try container.decodeIfPresent(Bool.self, forKey: .link) ?? false,
            parents: try container.decodeIfPresent(Bool.self, forKey: .parents) ?? false,
            excludes: try container.decodeIfPresent([String].self, forKey: .excludes) ?? [],
            checksum: try container.decodeIfPresent(String.self, forKey: .checksum),
            keepGitDir: try container.decodeIfPresent(Bool.self, forKey: .keepGitDir) ?? false)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !sources.isEmpty { try container.encode(sources, forKey: .sources) }
        if !heredocSources.isEmpty { try container.encode(heredocSources, forKey: .heredocSources) }
        try container.encode(destination, forKey: .destination)
        try container.encodeIfPresent(from, forKey: .from)
        try container.encodeIfPresent(chown, forKey: .chown)
        try container.encodeIfPresent(chmod, forKey: .chmod)
        if link { try container.encode(link, forKey: .link) }
        if parents { try container.encode(parents, forKey: .parents) }
        if !excludes.isEmpty { try container.encode(excludes, forKey: .excludes) }
        try container.encodeIfPresent(checksum, forKey: .checksum)
        if keepGitDir { try container.encode(keepGitDir, forKey: .keepGitDir) }
    }
}
