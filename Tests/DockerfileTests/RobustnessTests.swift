import Dockerfile
import Testing

/// Truncated input is what an editor or a half-written file produces; every prefix must parse or throw, never trap.
struct RobustnessTests {
    @Test func everyPrefixOfEveryGoldenDockerfileParsesOrThrows() throws {
        var texts: [String] = []
        for group in ["parse", "errors"] {
            for name in GoldenFiles.cases(group) { texts.append(try GoldenFiles.read(group, name, "Dockerfile")) }
        }
        var outcomes = 0
        for text in texts {
            let scalars = Array(text.unicodeScalars)
            for length in 0...scalars.count {
                let prefix = String(String.UnicodeScalarView(scalars[..<length]))
                _ = try? Dockerfile.parse(prefix)
                _ = try? DockerIgnore(parsing: prefix)
                outcomes += 1
            }
        }
        #expect(outcomes > 1000)
    }

    @Test func everyPrefixOfTrickyWordsExpandsOrThrows() {
        let words = ["${A:-${B:+\"x y\"}}'z'", "${A//\\/x/y}", "${A%%*.}\\", "\"a\\\"$B\"", "${A#[}", "$1${@}${#}"]
        for word in words {
            let scalars = Array(word.unicodeScalars)
            for length in 0...scalars.count {
                let prefix = String(String.UnicodeScalarView(scalars[..<length]))
                _ = try? WordExpander().expand(prefix, variables: ["A": "a.b.c", "B": "b"])
                _ = try? WordExpander(escape: "`").expand(prefix, variables: [:])
            }
        }
    }
}
