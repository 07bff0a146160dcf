import ImageSpec

extension StrataError {
    /// The one error format the parser uses, BuildKit's: `dockerfile parse error on line N: message`.
    static func dockerfileParse(line: Int, _ message: String) -> StrataError {
        StrataError(.invalidDockerfile, "dockerfile parse error on line \(line): \(message)")
    }
}
