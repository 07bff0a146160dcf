@testable import Dockerfile
import ImageSpec
import Testing

/// `ImageConfig.apply`: the one way an instruction changes a config (build steps, `import -c`,
/// `commit -c`), with Docker's classic-builder history words.
struct ImageConfigInstructionTests {
    static func instruction(_ line: String) throws -> Instruction {
        try #require(try Dockerfile.parse("FROM scratch\n\(line)\n").stages.first?.instructions.first)
    }

    /// A config with some ENV, a working directory and a CMD, as a base image has.
    static func base() -> ImageConfig {
        var config = ImageConfig(architecture: "amd64", os: "linux")
        var run = ContainerConfig()
        run.env = ["PATH=/usr/bin:/bin", "A=0"]
        run.workingDir = "/srv"
        run.cmd = ["/bin/sh"]
        config.config = run
        return config
    }

    /// Each instruction applied to `base()` with the build args V=1, user=app, port=80: Docker's
    /// `created_by` for it (two spaces after `#(nop)`, one for WORKDIR; words expanded).
    @Test(arguments: [
        ("ENV B=1", "/bin/sh -c #(nop)  ENV B=1"),
        ("ENV PATH $PATH:/x", "/bin/sh -c #(nop)  ENV PATH=/usr/bin:/bin:/x"),
        ("ENV A=2 B=$A", "/bin/sh -c #(nop)  ENV A=2 B=0"),
        ("LABEL version=$V \"a b\"=c", "/bin/sh -c #(nop)  LABEL version=1 a b=c"),
        ("EXPOSE 8080 ${port}", "/bin/sh -c #(nop)  EXPOSE 80 8080"),
        ("EXPOSE 8000-8002/udp", "/bin/sh -c #(nop)  EXPOSE 8000-8002/udp"),
        ("USER ${user}", "/bin/sh -c #(nop)  USER app"),
        ("WORKDIR /srv/$V", "/bin/sh -c #(nop) WORKDIR /srv/1"),
        ("WORKDIR sub/../app", "/bin/sh -c #(nop) WORKDIR /srv/app"),
        ("CMD [\"echo\", \"from scratch\"]", "/bin/sh -c #(nop)  CMD [\"echo\" \"from scratch\"]"),
        ("CMD echo \"$V\"\tdone", "/bin/sh -c #(nop)  CMD [\"/bin/sh\" \"-c\" \"echo \\\"$V\\\"\\tdone\"]"),
        ("ENTRYPOINT [\"/entry\"]", "/bin/sh -c #(nop)  ENTRYPOINT [\"/entry\"]"),
        ("VOLUME /data $V", "/bin/sh -c #(nop)  VOLUME [/data 1]"),
        ("VOLUME [\"/a\", \"/b\"]", "/bin/sh -c #(nop)  VOLUME [/a /b]"),
        ("SHELL [\"/bin/bash\", \"-c\"]", "/bin/bash -c #(nop)  SHELL [/bin/bash -c]"),
        ("STOPSIGNAL SIGRTMIN+$V", "/bin/sh -c #(nop)  STOPSIGNAL SIGRTMIN+1"),
        ("HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/",
         "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/\"] \"30s\" \"0s\" \"0s\" '\\x03'}"),
        ("HEALTHCHECK NONE", "/bin/sh -c #(nop)  HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}"),
        ("ONBUILD RUN echo $V", "/bin/sh -c #(nop)  ONBUILD RUN echo $V"),
        ("MAINTAINER Jane $V", "/bin/sh -c #(nop)  MAINTAINER Jane $V"),
        ("ARG X=$V Y", "/bin/sh -c #(nop)  ARG X=1 Y"),
    ])
    func createdByAsDockerWritesIt(_ line: String, _ createdBy: String) throws {
        var config = Self.base()
        var scope = InstructionScope(args: ["V": "1", "user": "app", "port": "80"])
        #expect(try config.apply(Self.instruction(line), scope: &scope).createdBy == createdBy)
    }

    @Test func configChangesAsDockerMakesThem() throws {
        var config = Self.base()
        var scope = InstructionScope(args: ["V": "1"])
        for line in ["ENV PATH=/opt/bin:$PATH C=3", "LABEL a=$V", "EXPOSE 8000-8001/UDP 53/udp 127.0.0.1:9090:90",
                     "VOLUME /data", "USER app:app", "WORKDIR app", "STOPSIGNAL 9", "ONBUILD COPY . /src",
                     "MAINTAINER Jane <jane@example.com>", "ARG IGNORED=1"] {
            try config.apply(Self.instruction(line), scope: &scope)
        }
        let run = config.config
        // A variable ENV changes stays where it was; a new one goes last.
        #expect(run.env == ["PATH=/opt/bin:/usr/bin:/bin", "A=0", "C=3"])
        #expect(run.labels == ["a": "1"])
        #expect(run.exposedPorts == ["53/udp", "8000/udp", "8001/udp", "90/tcp"])
        #expect(run.volumes == ["/data"])
        #expect(run.user == "app:app")
        #expect(run.workingDir == "/srv/app")
        #expect(run.stopSignal == "9")
        #expect(run.onBuild == ["COPY . /src"])
        #expect(run.cmd == ["/bin/sh"])
        #expect(config.author == "Jane <jane@example.com>")
    }

    @Test func entrypointDropsTheInheritedCmdButNotOneSetBefore() throws {
        var inherited = Self.base()
        var scope = InstructionScope()
        try inherited.apply(Self.instruction("ENTRYPOINT [\"/entry\"]"), scope: &scope)
        #expect(inherited.config.cmd == nil && inherited.config.entrypoint == ["/entry"])

        var own = Self.base()
        scope = InstructionScope()
        try own.apply(Self.instruction("CMD [\"--help\"]"), scope: &scope)
        #expect(scope.cmdSet)
        try own.apply(Self.instruction("ENTRYPOINT /entry"), scope: &scope)
        #expect(own.config.cmd == ["--help"] && own.config.entrypoint == ["/bin/sh", "-c", "/entry"])
    }

    @Test func stepsAfterShellCarryTheNewShell() throws {
        var config = Self.base()
        var scope = InstructionScope()
        try config.apply(Self.instruction("SHELL [\"/bin/bash\", \"-e\", \"-c\"]"), scope: &scope)
        let cmd = try config.apply(Self.instruction("CMD echo hi"), scope: &scope)
        #expect(cmd.createdBy == "/bin/bash -e -c #(nop)  CMD [\"/bin/bash\" \"-e\" \"-c\" \"echo hi\"]")
        #expect(config.nopCommand("COPY file:ab in / ", oneWord: true) == "/bin/bash -e -c #(nop) COPY file:ab in / ")
    }

    /// Docker's port rules (go-connections' ParsePortSpec): what EXPOSE accepts and exposes.
    @Test(arguments: [
        ("80", ["80/tcp"]), ("80/UDP", ["80/udp"]), ("080", ["80/tcp"]), ("0", ["0/tcp"]), ("65535/sctp", ["65535/sctp"]),
        ("8000-8002", ["8000/tcp", "8001/tcp", "8002/tcp"]), ("127.0.0.1:8080:80", ["80/tcp"]), ("8080:80/udp", ["80/udp"]),
        ("[::1]:8080:80", ["80/tcp"]), ("80/", ["80/tcp"]),
    ])
    func exposeAcceptsDockersPortSpecs(_ spec: String, _ ports: [String]) throws {
        var config = ImageConfig(architecture: "amd64", os: "linux")
        var scope = InstructionScope()
        try config.apply(Self.instruction("EXPOSE \(spec)"), scope: &scope)
        #expect(config.config.exposedPorts == ports.sorted())
    }

    @Test(arguments: [
        ("EXPOSE 70000", "Invalid containerPort: 70000"), ("EXPOSE 80/xyz", "Invalid proto: xyz"),
        ("EXPOSE 10-5", "Invalid containerPort: 10-5"), ("EXPOSE http", "Invalid containerPort: http"),
        ("EXPOSE -1", "Invalid containerPort: -1"), ("EXPOSE /udp", "No port specified: /udp<empty>"),
        ("EXPOSE 1.2.3:80:80", "Invalid ip address: 1.2.3"), ("EXPOSE 8000-8001:80-82", "Invalid ranges specified"),
        ("EXPOSE 8080:x", "Invalid containerPort: x"), ("EXPOSE x:80", "Invalid hostPort: x"),
        ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE"), ("STOPSIGNAL 0", "Invalid signal: 0"),
        ("VOLUME $EMPTY", "VOLUME specified can not be an empty string"),
        ("RUN true", "cannot be applied"), ("COPY a b", "cannot be applied"),
        ("WORKDIR $EMPTY", "cannot normalize nothing"),
    ])
    func refusesWhatDockerRefuses(_ line: String, _ message: String) throws {
        var config = Self.base()
        var scope = InstructionScope()
        let instruction = try Self.instruction(line)
        #expect { try config.apply(instruction, scope: &scope) } throws: { error in
            (error as? StrataError)?.message.contains(message) ?? false
        }
        #expect(config == Self.base())
    }

    @Test func changesParseAsDockerfileInstructionsAndExpandAgainstEnv() throws {
        let changes = try Dockerfile.parseChanges(["ENV A=1", "ENV B=$A\nWORKDIR /srv/$B", "EXPOSE 8000-8001", "CMD [\"run\"]",
                                                   "HEALTHCHECK CMD true", "ENTRYPOINT [\"/e\"]"])
        #expect(changes.map(\.keyword) == ["ENV", "ENV", "WORKDIR", "EXPOSE", "CMD", "HEALTHCHECK", "ENTRYPOINT"])
        var config = Self.base()
        try config.apply(changes: changes)
        #expect(config.config.env == ["PATH=/usr/bin:/bin", "A=1", "B=1"])
        #expect(config.config.workingDir == "/srv/1")
        #expect(config.config.exposedPorts == ["8000/tcp", "8001/tcp"])
        // A CMD given in the same changes is kept by a later ENTRYPOINT.
        #expect(config.config.cmd == ["run"] && config.config.entrypoint == ["/e"])
        #expect(config.config.healthcheck?.test == ["CMD-SHELL", "true"])
        #expect(try Dockerfile.parseChanges([]).isEmpty)
    }

    @Test(arguments: [
        ("RUN echo hi", "run is not a valid change command"), ("FROM alpine", "from is not a valid change command"),
        ("STOPSIGNAL 9", "stopsignal is not a valid change command"), ("BOGUS x", "bogus is not a valid change command"),
        ("copy --chown=1 a b", "copy is not a valid change command"), ("ENV A=\"open", "line 1"),
    ])
    func changesAllowDockersInstructionsOnly(_ line: String, _ message: String) {
        #expect { _ = try Dockerfile.parseChanges([line]) } throws: { error in
            (error as? StrataError)?.message.contains(message) ?? false
        }
    }

    @Test(arguments: [
        (Int64(0), "0s"), (1, "1ns"), (2_000, "2µs"), (1_500_000, "1.5ms"), (500_000_000, "500ms"), (1_500_000_000, "1.5s"),
        (30_000_000_000, "30s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"), (3_723_000_000_000, "1h2m3s"),
        (-1_000_000_000, "-1s"),
    ])
    func durationsAsGoPrintsThem(_ nanoseconds: Int64, _ text: String) {
        #expect(GoFormat.duration(nanoseconds) == text)
    }

    @Test func quotingAsGoDoes() {
        #expect(GoFormat.quote("a \"b\" \\ c\n\t\u{07}\u{7F}é€\u{00A0}\u{1F600}") == "\"a \\\"b\\\" \\\\ c\\n\\t\\a\\x7fé€\\u00a0😀\"")
        #expect(GoFormat.quotedList(["/bin/sh", "-c", "echo 'hi'"]) == "[\"/bin/sh\" \"-c\" \"echo 'hi'\"]")
        #expect(GoFormat.quotedList([]) == "[]")
        #expect(GoFormat.quoteRune(3) == "'\\x03'" && GoFormat.quoteRune(65) == "'A'" && GoFormat.quoteRune(39) == "'\\''")
        #expect(GoFormat.list(["/bin/bash", "-c"]) == "[/bin/bash -c]")
    }
}
