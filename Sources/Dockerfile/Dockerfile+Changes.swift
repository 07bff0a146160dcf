import ImageSpec

extension Dockerfile {
    /// The instructions `import --change` and `commit --change` accept: Docker's `validCommitCommands`.
    public static let changeKeywords = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR"]

    /// Parses `--change` values with the Dockerfile parser, as Docker does: the values joined by
    /// newlines (so one may hold several instructions), each instruction one of `changeKeywords`
    /// (checked before its arguments, with Docker's message). Apply them with `ImageConfig.apply(changes:)`.
    public static func parseChanges(_ changes: [String]) throws -> [Instruction] {
        var reader = LogicalLineReader(text: changes.joined(separator: "\n"))
        let raws = try reader.readAll()
        let parser = InstructionParser(escape: reader.directives.escape.character)
        return try raws.map { raw in
            let keyword = RawInstruction.split(raw.line).keyword
            guard changeKeywords.contains(keyword.uppercased()) else {
                throw StrataError(.invalidArgument,
                    "\(keyword.lowercased()) is not a valid change command (allowed: \(changeKeywords.joined(separator: ", ")))")
            }
            return try parser.parse(raw)
        }
    }
}
