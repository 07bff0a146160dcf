import Dockerfile
import ImageSpec
import Testing

struct DockerIgnoreTests {
    static let rules = """
        # comment line
        *.md
        !README.md
        /build
        temp?
        **/*.log
        docs/**/*.png
        !docs/keep/**
          node_modules
        vendor/
        ./cache
        [abc].txt
        x/../y
        \\#literal
        \t
        """

    @Test(arguments: [
        ("notes.md", true),
        ("README.md", false),
        ("sub/notes.md", false),
        ("build", true),
        ("build/out/x.o", true),
        ("/build", true),
        ("./build/x", true),
        ("builder", false),
        ("temp1", true),
        ("temp12", false),
        ("c.log", true),
        ("a/b/c.log", true),
        ("docs/a.png", true),
        ("docs/img/deep/a.png", true),
        ("docs/keep/a.png", false),
        ("docs/a.jpg", false),
        ("node_modules", true),
        ("node_modules/x/y.js", true),
        ("vendor/lib.go", true),
        ("cache/x", true),
        ("a.txt", true),
        ("d.txt", false),
        ("y", true),
        ("#literal", true),
        ("src/main.swift", false),
        ("comment line", false),
    ])
    func appliesDockerRules(_ path: String, _ excluded: Bool) throws {
        #expect(try DockerIgnore(parsing: Self.rules).excludes(path) == excluded)
    }

    @Test(arguments: [
        ("*\n!src\nsrc/secret\n", "src/a.swift", false),
        ("*\n!src\nsrc/secret\n", "src/secret/key", true),
        ("*\n!src\nsrc/secret\n", "other", true),
        ("src/secret\n*\n!src\n", "src/secret/key", false),
        ("**\n!keep\n", "keep/file", false),
        ("**\n!keep\n", "a/keep", true),
        ("**/keep\n", "a/b/keep", true),
        ("**/keep\n", "keep", true),
        ("a/**\n", "a/b/c", true),
        ("a/**\n", "ab", false),
        ("a/**/b\n", "a/b", true),
        ("a/**/b\n", "a/x/y/b", true),
        ("*/*.go\n", "pkg/x.go", true),
        ("*/*.go\n", "pkg/sub/x.go", false),
        ("[!a]\n", "b", false),
        ("[^a]\n", "b", true),
        ("[a-c]?\n", "bz", true),
        ("#not a comment\n", "#not a comment", false),
        ("f\\*\n", "f*", true),
        ("f\\*\n", "fx", false),
        ("", "anything", false),
        ("dir\r\n!dir/keep\r\n", "dir/keep", false),
        // Bracket forms Go accepts: escaped "-" and "]", "-" between two ends, "!" as a plain character.
        ("[\\-]\n", "-", true),
        ("[\\-]\n", "a", false),
        ("[\\]]\n", "]", true),
        ("[a\\-z]\n", "-", true),
        ("[a\\-z]\n", "b", false),
        ("[a-c]\n", "b", true),
        ("[a-c]\n", "-", false),
        ("[!a]\n", "!", true),
        ("[^a]\n", "a", false),
    ])
    func lastMatchWins(_ rules: String, _ path: String, _ excluded: Bool) throws {
        #expect(try DockerIgnore(parsing: rules).excludes(path) == excluded)
    }

    @Test func tellsWhenADirectoryCanBeSkipped() throws {
        let ignore = try DockerIgnore(parsing: Self.rules)
        #expect(ignore.mayReincludeFiles(inDirectory: "docs"))
        #expect(ignore.mayReincludeFiles(inDirectory: "docs/keep/sub"))
        #expect(!ignore.mayReincludeFiles(inDirectory: "node_modules"))
        #expect(ignore.canSkipDirectory("node_modules"))
        #expect(ignore.canSkipDirectory("build"))
        #expect(!ignore.canSkipDirectory("src"))

        let wildcard = try DockerIgnore(parsing: "*\n!**/*.swift\n")
        #expect(wildcard.excludes("lib"))
        #expect(!wildcard.canSkipDirectory("lib"))
    }

    @Test(arguments: [
        ("a\n!\n", "dockerignore parse error on line 2: illegal exclusion pattern: \"!\""),
        ("ok\n\n[abc\n", "dockerignore parse error on line 3: syntax error in pattern: [abc"),
        // Go's filepath.Match (which patternmatcher checks every pattern with): a range end may not
        // be an unescaped "-" or "]", and a class may not be empty.
        ("[-]\n", "dockerignore parse error on line 1: syntax error in pattern: [-]"),
        ("[x-]\n", "dockerignore parse error on line 1: syntax error in pattern: [x-]"),
        ("[-x]\n", "dockerignore parse error on line 1: syntax error in pattern: [-x]"),
        ("[a-b-c]\n", "dockerignore parse error on line 1: syntax error in pattern: [a-b-c]"),
        ("src/[^-a]/x\n", "dockerignore parse error on line 1: syntax error in pattern: src/[^-a]/x"),
        ("!keep/[a-]\n", "dockerignore parse error on line 1: syntax error in pattern: keep/[a-]"),
        ("[]\n", "dockerignore parse error on line 1: syntax error in pattern: []"),
        ("[^]\n", "dockerignore parse error on line 1: syntax error in pattern: [^]"),
        ("[]a]\n", "dockerignore parse error on line 1: syntax error in pattern: []a]"),
        ("[a\\\n", "dockerignore parse error on line 1: syntax error in pattern: [a\\"),
        ("a\\\n", "dockerignore parse error on line 1: syntax error in pattern: a\\"),
    ])
    func rejectsMalformedPatterns(_ rules: String, _ message: String) {
        #expect(throws: StrataError(.invalidDockerfile, message)) { try DockerIgnore(parsing: rules) }
    }
}
