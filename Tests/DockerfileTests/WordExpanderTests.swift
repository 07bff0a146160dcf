import Dockerfile
import ImageSpec
import Testing

struct WordExpanderTests {
    static let variables = [
        "A": "a", "B": "b", "EMPTY": "", "SPACED": "hello world", "FILE": "archive.tar.gz",
        "PATHS": "/usr/local/bin:/usr/bin", "STAR": "a*b",
    ]

    struct Case: CustomTestStringConvertible, Sendable {
        var word: String
        var value: String
        var escape: Character = "\\"
        var testDescription: String { word }
    }

    static let expansions: [Case] = [
        Case(word: "plain", value: "plain"),
        Case(word: "$A", value: "a"),
        Case(word: "${A}", value: "a"),
        Case(word: "x${A}y$B", value: "xayb"),
        Case(word: "$A$A", value: "aa"),
        Case(word: "$UNSET", value: ""),
        Case(word: "$A_suffix", value: ""),
        Case(word: "${A}_suffix", value: "a_suffix"),
        Case(word: "$", value: "$"),
        Case(word: "a$", value: "a$"),
        Case(word: "$1x", value: "x"),
        Case(word: "${UNSET:-default}", value: "default"),
        Case(word: "${EMPTY:-default}", value: "default"),
        Case(word: "${A:-default}", value: "a"),
        Case(word: "${UNSET-default}", value: "default"),
        Case(word: "${EMPTY-default}", value: ""),
        Case(word: "${A:+alt}", value: "alt"),
        Case(word: "${EMPTY:+alt}", value: ""),
        Case(word: "${UNSET:+alt}", value: ""),
        Case(word: "${EMPTY+alt}", value: "alt"),
        Case(word: "${UNSET+alt}", value: ""),
        Case(word: "${A:?must be set}", value: "a"),
        Case(word: "${EMPTY?ok when empty}", value: ""),
        Case(word: "${UNSET:-${A}x}", value: "ax"),
        Case(word: "${UNSET:-\"x y\"}", value: "x y"),
        Case(word: "${UNSET:-'$A'}", value: "$A"),
        Case(word: "${FILE#*.}", value: "tar.gz"),
        Case(word: "${FILE##*.}", value: "gz"),
        Case(word: "${FILE%.*}", value: "archive.tar"),
        Case(word: "${FILE%%.*}", value: "archive"),
        Case(word: "${FILE#nomatch}", value: "archive.tar.gz"),
        Case(word: "${FILE#arch?ve}", value: ".tar.gz"),
        Case(word: "${STAR#a\\*}", value: "b"),
        Case(word: "${PATHS/bin/sbin}", value: "/usr/local/sbin:/usr/bin"),
        Case(word: "${PATHS//bin/sbin}", value: "/usr/local/sbin:/usr/sbin"),
        Case(word: "${PATHS//\\/usr/}", value: "/local/bin:/bin"),
        Case(word: "${FILE/a*./X}", value: "Xgz"),
        Case(word: "${UNSET/a/b}", value: ""),
        Case(word: "'$A'", value: "$A"),
        Case(word: "'a \"b\" c'", value: "a \"b\" c"),
        Case(word: "\"$A\"", value: "a"),
        Case(word: "\"'$A'\"", value: "'a'"),
        Case(word: "\\$A", value: "$A"),
        Case(word: "\"\\$A\"", value: "$A"),
        Case(word: "\"a\\\"b\"", value: "a\"b"),
        Case(word: "\"a\\b\"", value: "a\\b"),
        Case(word: "a\\ b", value: "a b"),
        Case(word: "a\\", value: "a"),
        Case(word: "\\'", value: "'"),
        Case(word: "\"\"", value: ""),
        Case(word: "a\"b\"'c'", value: "abc"),
        Case(word: "`$A", value: "$A", escape: "`"),
        Case(word: "C:\\path\\$A", value: "C:\\path\\a", escape: "`"),
        Case(word: "\"`\"\"", value: "\"", escape: "`"),
    ]

    @Test(arguments: expansions)
    func expandsLikeBuildKit(_ testCase: Case) throws {
        let expander = WordExpander(escape: testCase.escape)
        #expect(try expander.expand(testCase.word, variables: Self.variables).value == testCase.value)
    }

    struct Failure: CustomTestStringConvertible, Sendable {
        var word: String
        var message: String
        var testDescription: String { word }
    }

    static let failures: [Failure] = [
        Failure(word: "${UNSET:?must be set}", message: "UNSET: must be set"),
        Failure(word: "${UNSET:?}", message: "UNSET: is not allowed to be unset"),
        Failure(word: "${EMPTY:?}", message: "EMPTY: is not allowed to be empty"),
        Failure(word: "${UNSET?}", message: "UNSET: is not allowed to be unset"),
        Failure(word: "'abc", message: "unexpected end of statement while looking for matching single-quote"),
        Failure(word: "\"abc", message: "unexpected end of statement while looking for matching double-quote"),
        Failure(word: "${A", message: "syntax error: missing '}'"),
        Failure(word: "${A:-x", message: "syntax error: missing '}'"),
        Failure(word: "${}", message: "syntax error: bad substitution"),
        Failure(word: "${:a}", message: "syntax error: bad substitution"),
        Failure(word: "${A:~x}", message: "unsupported modifier (~) in substitution"),
        Failure(word: "${A/x", message: "syntax error: missing '/' in ${}"),
        Failure(word: "${A#\\q}", message: "invalid pattern (\\q) in substitution: invalid escape '\\q'"),
    ]

    @Test(arguments: failures)
    func reportsErrorsWithTheWord(_ failure: Failure) {
        #expect(throws: StrataError(.invalidDockerfile, "failed to process \"\(failure.word)\": \(failure.message)")) {
            try WordExpander().expand(failure.word, variables: Self.variables)
        }
    }

    @Test(arguments: [
        ("a   b", ["a", "b"]),
        ("$SPACED x", ["hello", "world", "x"]),
        ("\"$SPACED\" x", ["hello world", "x"]),
        ("'a b' \"c d\" e\\ f", ["a b", "c d", "e f"]),
        ("\"\" a", ["a"]),
        ("  lead trail  ", ["lead", "trail"]),
        ("80/tcp ${PORT:-443}/udp", ["80/tcp", "443/udp"]),
        // BuildKit's lexer keeps the spaces after "<<" in its word (what heredoc detection relies on).
        ("cat <<  EOF > f", ["cat", "<<  EOF", ">", "f"]),
        ("a < b <<\tc", ["a", "<", "b", "<<\tc"]),
    ])
    func splitsWords(_ text: String, _ expected: [String]) throws {
        #expect(try WordExpander().expand(text, variables: Self.variables).words == expected)
    }

    @Test func reportsReferencedAndUnsetNames() throws {
        let expansion = try WordExpander().expand("${A}${UNSET:-$B}$A '$QUOTED' \"$C\"", variables: Self.variables)
        #expect(expansion.referencedNames == ["A", "B", "UNSET", "C"])
        #expect(expansion.unsetNames == ["UNSET", "C"])
    }

    @Test func usesTheLookupFunction() throws {
        var asked: [String] = []
        let expansion = try WordExpander().expand("$X-${Y:-y}") { name in
            asked.append(name)
            return name == "X" ? "x" : nil
        }
        #expect(expansion.value == "x-y")
        #expect(asked == ["X", "Y"])
    }
}
