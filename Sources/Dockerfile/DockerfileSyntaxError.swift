import ImageSpec

/// A parse problem before its line is known; `InstructionParser` and `LogicalLineReader` attach the line.
struct DockerfileSyntaxError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
