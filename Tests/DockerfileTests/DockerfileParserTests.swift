import Dockerfile
import ImageSpec
import Testing

struct DockerfileParserTests {
    @Test func findsStagesByNameOrIndex() throws {
        let dockerfile = try Dockerfile.parse("FROM alpine AS Build\nRUN true\nFROM scratch\nCOPY --from=BUILD /a /b\n")
        #expect(dockerfile.stage(named: "build")?.index == 0)
        #expect(dockerfile.stage(named: "Build")?.index == 0)
        #expect(dockerfile.stage(named: "1")?.base.image == "scratch")
        #expect(dockerfile.stage(named: "missing") == nil)
        #expect(dockerfile.stages[1].instructions[0].flagValues("from") == ["BUILD"])
    }

    @Test func envValuesExpandWithTheDockerfileEscape() throws {
        let dockerfile = try Dockerfile.parse("# escape=`\nFROM alpine\nENV A=\"two words\" B=C:\\dir`$x\n")
        guard case .env(let pairs) = dockerfile.stages[0].instructions[0].arguments else {
            Issue.record("expected ENV")
            return
        }
        let expander = WordExpander(escape: dockerfile.directives.escape.character)
        #expect(try pairs.map { try expander.expand($0.value, variables: [:]).value } == ["two words", "C:\\dir$x"])
    }

    @Test func directiveAfterBlankLineIsAComment() throws {
        let dockerfile = try Dockerfile.parse("\n# escape=`\nFROM alpine\nRUN a \\\n b\n")
        #expect(dockerfile.directives.escape == .backslash)
        #expect(dockerfile.stages[0].instructions[0].original == "RUN a  b")
    }

    @Test func heredocTerminatorMustMatchExactly() throws {
        let dockerfile = try Dockerfile.parse("FROM a\nRUN <<EOF\n EOF\nEOFX\nEOF\n")
        #expect(dockerfile.stages[0].instructions[0].heredocs.map(\.content) == [" EOF\nEOFX\n"])
        #expect(dockerfile.stages[0].instructions[0].endLine == 5)
    }

    @Test func quotedHeredocInsideAStringIsNotAHeredoc() throws {
        let dockerfile = try Dockerfile.parse("FROM a\nRUN echo \"<<EOF\"\nRUN true\n")
        #expect(dockerfile.stages[0].instructions.count == 2)
        #expect(dockerfile.stages[0].instructions[0].heredocs.isEmpty)
    }

    /// BuildKit's line-continuation rule: the escape character last on a line (spaces and tabs may
    /// follow) continues it, unless another escape character comes right before it.
    @Test(arguments: [
        ("ENV C trailing\\\\backslash\\\\\nENV D d\n", ["ENV C trailing\\\\backslash\\\\", "ENV D d"]),
        ("ENV C x\\\\ \t\nENV D d\n", ["ENV C x\\\\", "ENV D d"]),
        ("RUN a\\\\b \\\n c\n", ["RUN a\\\\b  c"]),
        ("RUN a \\  \t\n c\n", ["RUN a  c"]),
        ("RUN a \\\n\\\n c\n", ["RUN a  c"]),
        ("RUN a \\\\\\\nRUN b\n", ["RUN a \\\\\\", "RUN b"]),
        ("# escape=`\nENV C c:\\dir``\nENV D d\n", ["ENV C c:\\dir``", "ENV D d"]),
        ("# escape=`\nRUN a `\n b\n", ["RUN a  b"]),
        ("# escape=`\nRUN a\\\nRUN b\n", ["RUN a\\", "RUN b"]),
        ("# escape=`\nRUN a ``\nRUN b `\n`\n c\n", ["RUN a ``", "RUN b  c"]),
    ])
    func continuesOnlyOnAnUnescapedEscape(_ body: String, _ originals: [String]) throws {
        let (directive, rest) = body.hasPrefix("# escape=`\n") ? ("# escape=`\n", String(body.dropFirst(11))) : ("", body)
        let dockerfile = try Dockerfile.parse(directive + "FROM a\n" + rest)
        #expect(dockerfile.stages[0].instructions.map(\.original) == originals)
    }

    /// `<<` and `<<-` may be followed by spaces, tabs or carriage returns before the word
    /// (Dockerfile frontend 1.16); a `-` right after `<<` is the tab-stripping form, one after the
    /// spaces belongs to the word.
    @Test(arguments: [
        ("RUN <<  EOF\nx\nEOF\n", "EOF", false, true),
        ("RUN <<\tEOF\nx\nEOF\n", "EOF", false, true),
        ("RUN << -EOF\nx\n-EOF\n", "-EOF", false, true),
        ("RUN <<-EOF\n\tx\n\tEOF\n", "EOF", true, true),
        ("RUN <<- EOF\n\tx\n\tEOF\n", "EOF", true, true),
        ("RUN <<-\t'EOF'\n\tx\n\tEOF\n", "EOF", true, false),
        ("RUN << 'EOF'\nx\nEOF\n", "EOF", false, false),
        ("RUN <<  \"E F\"\nx\nE F\n", "E F", false, false),
        ("RUN cat <<   EOF > /f\nx\nEOF\n", "EOF", false, true),
        ("RUN 3<< EOF cat /proc/self/fd/3\nx\nEOF\n", "EOF", false, true),
        ("COPY <<  EOF /dest\nx\nEOF\n", "EOF", false, true),
    ])
    func readsHeredocsWithSpaceAfterTheOperator(_ text: String, _ name: String, _ stripsTabs: Bool, _ expands: Bool) throws {
        let dockerfile = try Dockerfile.parse("FROM a\n" + text)
        let instructions = dockerfile.stages[0].instructions
        #expect(instructions.count == 1)
        #expect(instructions.first?.heredocs.map(\.name) == [name])
        #expect(instructions.first?.heredocs.first?.stripsLeadingTabs == stripsTabs)
        #expect(instructions.first?.heredocs.first?.expands == expands)
    }

    @Test(arguments: [
        ("RUN <<  \necho x\n", "dockerfile parse error on line 3: unknown instruction: echo"),
        ("RUN echo \"<<  EOF\"\nEOF\n", "dockerfile parse error on line 3: unknown instruction: EOF"),
    ])
    func readsNoHeredocWhereBuildKitReadsNone(_ text: String, _ message: String) {
        #expect(throws: StrataError(.invalidDockerfile, message)) { try Dockerfile.parse("FROM a\n" + text) }
    }

    /// Whether a RUN command is one heredoc word (its body is then the script), as BuildKit's ParseHeredoc.
    @Test(arguments: [
        ("<<EOF", true), ("<<-EOF", true), ("<<  EOF", true), ("<<\t'EOF'", true), ("3<<EOF", true),
        ("<< -EOF", true), ("<<'a b'", true), ("<<- EOF", true),
        ("<<EOF sh", false), ("<<  EOF sh", false), ("<<", false), ("<<  ", false), ("<<<EOF", false),
        ("<EOF", false), ("echo <<EOF", false), ("\"<<EOF\"", false),
    ])
    func tellsAWholeCommandHeredoc(_ command: String, _ isHeredoc: Bool) {
        #expect(Heredoc.isMarker(command) == isHeredoc)
    }

    @Test(arguments: [
        ("type=cache", nil),
        ("type=secret", "invalid secret mount. one of source, target required"),
        ("type=secret,id=a,from=b", "secret mount should not have a from"),
        ("type=secret,source=a,id=b", "both source and id can't be set"),
        ("type=secret,id=a,sharing=locked", "secret mount should not define sharing"),
        ("type=ssh,required=false", nil),
        ("type=bind,target=/x,mode=0644", "mode not allowed for \"bind\" type mounts"),
        ("type=tmpfs,target=/x,uid=1", "uid not allowed for \"tmpfs\" type mounts"),
        ("type=cache,target=/x,mode=999", "invalid value 999 for mode"),
        ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
        ("type=cache,target=/x,sharing=sometimes", "unsupported sharing value \"sometimes\""),
        ("type=cache,target=/x,size=1g", "unexpected key 'size' for mount type 'cache'"),
        ("type=tmpfs,target=/x,size=lots", "invalid value for size: lots"),
        ("type=bind,target=/x,required", "unexpected key 'required' for mount type 'bind'"),
        ("type=bind,target=/x,ro=maybe", "invalid value for ro: maybe"),
        ("type=bind,target=/x,colour=red", "unexpected key 'colour' in 'colour=red'"),
        ("type=bind,target=/x,bogus", "unexpected key 'bogus' in 'bogus'"),
        ("type=bind,from=$STAGE,target=/x", "'from' doesn't support variable expansion, define alias stage instead"),
        ("'type=bind,tar\"get=/x'", "failed to parse csv mounts: bare \" in non-quoted-field"),
    ] as [(String, String?)])
    func validatesRunMounts(_ mount: String, _ message: String?) throws {
        let text = "FROM a\nRUN --mount=\(mount) true\n"
        if let message {
            #expect(throws: StrataError(.invalidDockerfile, "dockerfile parse error on line 2: \(message)")) {
                try Dockerfile.parse(text)
            }
        } else {
            #expect(throws: Never.self) { try Dockerfile.parse(text) }
        }
    }

    @Test(arguments: [
        ("FROM a\nCOPY --link=maybe a b\n", "expecting boolean value for flag link, not: maybe"),
        ("FROM a\nCOPY --link= a b\n", "missing a value on flag: link"),
        ("FROM a\nCOPY --from=x --from=y a b\n", "duplicate flag specified: from"),
        ("FROM a\nADD --from=x a b\n", "unknown flag: from"),
        ("FROM a\nRUN --network=bridge true\n", "invalid network mode \"bridge\""),
        ("FROM a\nHEALTHCHECK --retries=-1 CMD true\n", "--retries cannot be negative (-1)"),
        ("FROM a\nHEALTHCHECK --timeout=1us CMD true\n", "Interval \"timeout\" cannot be less than 1ms"),
        ("FROM a\nHEALTHCHECK NONE extra\n", "HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
        ("FROM a\nENV\n", "ENV requires at least one argument"),
        ("FROM a\nENV ONLYKEY\n", "ENV must have two arguments"),
        ("FROM a\nENV =x\n", "ENV names can not be blank"),
        ("FROM a\nARG =x\n", "ARG names can not be blank"),
        ("FROM a\nARG A='x\n", "unexpected end of statement while looking for matching single-quote"),
        ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME [\"\"]\n", "VOLUME specified can not be an empty string"),
        ("FROM a\nUSER\n", "USER requires exactly one argument"),
        ("FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD\n", "ONBUILD requires at least one argument"),
        ("FROM a\nONBUILD BOGUS x\n", "unknown instruction: BOGUS"),
        ("FROM a\nFROM a b\n", "FROM requires either one or three arguments"),
        ("ARG A\nARG B\n", "dockerfile contains no stages to build"),
        ("FROM a\nSHELL []\n", "SHELL requires at least one argument"),
    ])
    func rejectsBadInstructions(_ text: String, _ message: String) {
        #expect(throws: StrataError(.invalidDockerfile, "dockerfile parse error on line 2: \(message)")) {
            try Dockerfile.parse(text)
        }
    }
}
