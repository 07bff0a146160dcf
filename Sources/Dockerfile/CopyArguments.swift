/// COPY and ADD: sources, destination and the flags that change how files land.
public struct CopyArguments: Sendable, Equatable, Codable {
    /// Source paths or URLs as written (unexpanded); heredoc sources are in `heredocSources`.
    public var sources: [String]
    /// Names of the instruction's heredocs used as inline source files (each becomes a file named after it).
    public var heredocSources: [String]
    public var destination: String
    /// `--from`: a stage name, stage index or image (COPY only).
    public var from: String?
    public var chown: String?
    public var chmod: String?
    public var link: Bool
    /// `--parents` (COPY only): keep the source's parent directories.
    public var parents: Bool
    /// `--exclude` patterns, repeatable.
    public var excludes: [String]
    /// `--checksum` (ADD only) for remote sources.
    public var checksum: String?
    /// `--keep-git-dir` (ADD only) for git sources.
    public var keepGitDir: Bool

    public init(
        sources: [String], heredocSources: [String] = [], destination: String, from: String? = nil,
        chown: String? = nil, chmod: String? = nil, link: Bool = false, parents: Bool = false,
        excludes: [String] = [], checksum: String? = nil, keepGitDir: Bool = false
    ) {
        self.sources = sources
        self.heredocSources = heredocSources
        self.destination = destination
        self.from = from
        self.chown = chown
        self.chmod = chmod
        self.link = link
        self.parents = parents
        self.excludes = excludes
        self.checksum = checksum
        self.keepGitDir = keepGitDir
    }
}
