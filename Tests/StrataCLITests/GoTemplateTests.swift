import Testing
@testable import StrataCLI
import ImageSpec

/// Shaped like `docker image inspect` output.
private let image: JSONValue = .object([
    "Id": .string("sha256:0123456789abcdef0123"),
    "RepoTags": .array([.string("alpine:3.19"), .string("alpine:latest")]),
    "Architecture": .string("amd64"),
    "Size": .int(7_377_920),
    "Ratio": .double(2.0),
    "Config": .object([
        "Env": .array([.string("PATH=/usr/bin"), .string("LANG=C")]),
        "Cmd": .array([.string("/bin/sh"), .string("-c"), .string("echo hi")]),
        "Entrypoint": .null,
        "WorkingDir": .string(""),
        "Labels": .object(["a": .string("1"), "b": .string("2")]),
        "ExposedPorts": .object(["80/tcp": .object([:]), "443/tcp": .object([:])]),
    ]),
    "RootFS": .object([
        "Type": .string("layers"),
        "Layers": .array([.string("sha256:aaa"), .string("sha256:bbb")]),
    ]),
    "GraphDriver": .object([
        "Name": .string("overlay2"),
        "Data": .object(["MergedDir": .string("/var/lib/strata/merged")]),
    ]),
])

/// Templates as a user types them: `\n` and `\t` in raw strings are the two-character sequences.
private let renderings: [(String, String)] = [
    ("{{.Id}}", "sha256:0123456789abcdef0123"),
    ("{{json .RootFS.Layers}}", #"["sha256:aaa","sha256:bbb"]"#),
    ("{{.Id}} {{json .RootFS.Layers}}", #"sha256:0123456789abcdef0123 ["sha256:aaa","sha256:bbb"]"#),
    ("{{.Config.Cmd}}", "[/bin/sh -c echo hi]"),
    ("{{.Config.Labels}}", "map[a:1 b:2]"),
    ("{{.Config.ExposedPorts}}", "map[443/tcp:{} 80/tcp:{}]"),
    (#"{{index .Config.Labels "a"}}"#, "1"),
    (#"{{index .Config.Labels "zz"}}"#, "<no value>"),
    ("{{index .RootFS.Layers 1}}", "sha256:bbb"),
    (#"{{range .RepoTags}}{{.}}\n{{end}}"#, "alpine:3.19\nalpine:latest\n"),
    (#"{{range $i, $e := .RepoTags}}{{$i}}={{$e}};{{end}}"#, "0=alpine:3.19;1=alpine:latest;"),
    (#"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}"#, "a=1 b=2 "),
    ("{{range .Config.Entrypoint}}x{{else}}empty{{end}}", "empty"),
    ("{{range .RepoTags}}{{$.Architecture}} {{end}}", "amd64 amd64 "),
    ("{{if .Config.Entrypoint}}y{{else}}n{{end}}", "n"),
    ("{{if .Config.WorkingDir}}w{{else if .Config.Env}}e{{else}}none{{end}}", "e"),
    (#"{{if eq .Architecture "amd64"}}x86{{end}}"#, "x86"),
    ("{{if and .Config.Entrypoint .Config.Entrypoint.Missing}}y{{else}}n{{end}}", "n"),
    ("{{with .GraphDriver.Data}}{{.MergedDir}}{{end}}", "/var/lib/strata/merged"),
    ("{{with .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
    ("{{.GraphDriver.Data.MergedDir}}", "/var/lib/strata/merged"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Missing.Deeper}}", "<no value>"),
    ("{{.Config.Entrypoint}}", "<nil>"),
    ("{{json .Config.Entrypoint}}", "null"),
    ("{{len .RepoTags}} {{len .Config.Labels}} {{len .Architecture}}", "2 2 5"),
    (#"{{join .Config.Env ","}}"#, "PATH=/usr/bin,LANG=C"),
    (#"{{split "a,b,c" ","}}"#, "[a b c]"),
    ("{{.Size}} {{.Ratio}}", "7377920 2"),
    ("{{json .Size}}", "7377920"),
    ("{{json .Config.Labels}}", #"{"a":"1","b":"2"}"#),
    ("{{json .Config.ExposedPorts}}", #"{"443/tcp":{},"80/tcp":{}}"#),
    ("{{.Architecture | upper}}", "AMD64"),
    (#"{{lower "ABC"}} {{title "hello wide-world"}}"#, "abc Hello Wide-World"),
    (#"{{json .Config.Labels | printf "%s"}}"#, #"{"a":"1","b":"2"}"#),
    (#"{{printf "%s:%d %v %q" .Architecture .Size .RepoTags .Architecture}}"#, #"amd64:7377920 [alpine:3.19 alpine:latest] "amd64""#),
    (#"{{printf "%-6s|%5d|%.6s" "ab" 42 .Id}}"#, "ab    |   42|sha256"),
    // Found by fuzzing: a width or precision past Go's limit ends the format, as fmt's parsenum does.
    (#"{{printf "a%-00018446744073709551615d b"}}"#, "a%!(NOVERB)"),
    (#"{{printf "%.99999999999s"}}"#, "%!(NOVERB)"),
    (#"{{printf "%d %s" "x"}}"#, "%!d(string=x) %!s(MISSING)"),
    ("{{println .Architecture}}", "amd64\n"),
    ("{{truncate .Id 19}}", "sha256:0123456789ab"),
    ("{{len (index .Config.Cmd 2)}}", "7"),
    ("{{$a := .Architecture}}{{range .RepoTags}}{{$a}};{{end}}", "amd64;amd64;"),
    ("a  {{- .Architecture -}}  \n b", "aamd64b"),
    ("[{{- range .RepoTags }}\n  {{.}}{{ end -}}\n]", "[\n  alpine:3.19\n  alpine:latest]"),
    (#"{{.Architecture}}\t{{.Size}}"#, "amd64\t7377920"),
    ("{{/* a comment */}}x{{- /* trims */ -}}  y", "xy"),
    (#"{{`raw \n`}}{{"\u00e9"}}"#, "raw \n\u{e9}"),
]

@Test(arguments: renderings)
func renders(_ template: String, _ expected: String) throws {
    #expect(try GoTemplate(template).render(image) == expected)
}

@Test func jsonOfDotIsCompactSortedAndHTMLEscapedLikeDocker20() throws {
    let small: JSONValue = .object(["b": .int(1), "a": .string("<x&y>\n"), "c": .array([.bool(true), .null, .double(1.5)])])
    #expect(try GoTemplate("{{json .}}").render(small) == #"{"a":"\u003cx\u0026y\u003e\n","b":1,"c":[true,null,1.5]}"#)
}

@Test func parsesOnceRendersMany() throws {
    let t = try GoTemplate("{{.Name}}")
    #expect(try t.render(.object(["Name": .string("one")])) == "one")
    #expect(try t.render(.object(["Name": .string("two")])) == "two")
}

/// (template, fragment of the message); parse-time and run-time errors alike.
private let failures: [(String, String)] = [
    ("{{upperr .Id}}", #"function "upperr" not defined"#),
    ("{{.Id", "unclosed action"),
    ("x\n  {{.Id", "line 2, column 3: unclosed action"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{if .Id}}x", "missing {{end}} for {{if}}"),
    ("{{range .RepoTags}}{{.}}", "missing {{end}} for {{range}}"),
    (#"{{"abc}}"#, "unterminated quoted string"),
    ("{{.Id | }}", "missing value for command"),
    ("{{}}", "missing value for command"),
    ("{{$x}}", #"undefined variable "$x""#),
    ("{{/* open", "unclosed comment"),
    ("{{.Id.Foo}}", "can't evaluate field Foo in type string"),
    ("{{.Size.Foo}}", "can't evaluate field Foo in type int64"),
    ("{{.Config.Entrypoint.X}}", "nil pointer evaluating interface {}.X"),
    ("{{index .RootFS.Layers 5}}", "index out of range: 5"),
    ("{{upper .Size}}", "expected string; got int64"),
    ("{{join .Config.Env}}", "wrong number of args for join: want 2 got 1"),
    ("{{range .Id}}{{end}}", "range can't iterate over sha256:0123456789abcdef0123"),
    ("{{.Id .Size}}", "can't give argument to non-function"),
]

@Test(arguments: failures)
func fails(_ template: String, _ fragment: String) {
    do {
        let output = try GoTemplate(template).render(image)
        Issue.record("expected an error, got \(output.debugDescription)")
    } catch let error as StrataError {
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains(fragment), "\(error.message)")
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

@Test func syntaxErrorsSurfaceAtInitNotRender() {
    #expect(throws: StrataError.self) { try GoTemplate("{{if .X}}") }
    #expect(throws: Never.self) { try GoTemplate("{{.Id.Foo}}") }
}
