import Foundation
import RegistryTestSupport
import Testing

/// What a build makes, next to what Docker 20.10's classic builder makes from the same Dockerfile:
/// history lines (golden, against ../shared/reference/docker-20.10), configs, and the files COPY
/// and WORKDIR write — found by building real-world Dockerfiles with both builders.
@Suite(.blocking, .serialized, .enabled(if: canRun)) struct DockerParityBuildTests {
    let root = CLI.temporaryDirectory("parity-store")

    func strata(_ arguments: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["--root", root] + arguments, environment: environment)
    }

    func importBusybox() throws {
        let r = try strata(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "lab/busybox"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// A context directory with a Dockerfile and files (relative path → content).
    func context(_ dockerfile: String, files: [String: String] = [:]) throws -> String {
        let dir = CLI.temporaryDirectory("parity-context")
        try dockerfile.write(toFile: "\(dir)/Dockerfile", atomically: true, encoding: .utf8)
        for (path, content) in files {
            let full = "\(dir)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return dir
    }

    func build(_ tag: String, _ dir: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> CLI.Result {
        let r = try strata(["build", "-t", tag] + extra + [dir], environment: environment)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        return r
    }

    /// In the image, as root, through sh.
    func shell(_ image: String, _ script: String) throws -> String {
        let r = try strata(["run", "--rm", "--user", "0", "--entrypoint", "/bin/sh", image, "-c", script])
        #expect(r.status == 0, "\(script): \(r.stderr)")
        return r.stdout
    }

    /// COPY's source hash is Docker's own content hash there, the layer's digest here: not compared.
    static func maskingHashes(_ line: String) -> String {
        line.replacingOccurrences(of: "(file|dir|multi):[0-9a-f]+", with: "$1:…", options: .regularExpression)
    }

    /// A history table's rows cut into columns where the header's titles start.
    static func cells(_ table: String) -> [[String]] {
        let lines = table.split(separator: "\n").map(String.init)
        guard let header = lines.first else { return [] }
        let starts = ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"].compactMap { title in
            header.range(of: title).map { header.distance(from: header.startIndex, to: $0.lowerBound) }
        }
        return lines.dropFirst().map { line in
            let chars = Array(line)
            return starts.indices.map { i in
                let from = min(starts[i], chars.count), to = i + 1 < starts.count ? min(starts[i + 1], chars.count) : chars.count
                return String(chars[from..<to]).trimmingCharacters(in: .whitespaces)
            }
        }
    }

    /// The Dockerfile of the reference's build-cold.txt, on a busybox base: `docker history`'s
    /// table matches Docker's line for line (IMAGE and CREATED aside, and COPY's hash).
    @Test func historyTableMatchesDockers() throws {
        guard let reference = CLI.reference("history-built.txt") else {
            Issue.record("../shared/reference/docker-20.10/history-built.txt is missing")
            return
        }
        try importBusybox()
        let dir = try context("""
            ARG BASE=lab/busybox
            FROM ${BASE}
            ENV LAB_BUILD=1 GREETING=hi
            RUN echo hi > /x && ls / && test "$(cat /x)" = hi
            COPY app/ /opt/app/
            RUN find /opt/app -type f | wc -l > /opt/app.count
            WORKDIR /opt/app
            CMD ["/bin/sh","-c","cat /x /opt/app.count; echo $GREETING"]
            """, files: ["app/main.c": "int main(void) { return 0; }\n", "app/docs/README": "hello from the build test\n"])
        _ = try build("demo/app:1", dir)
        let ours = Self.cells(try strata(["history", "demo/app:1"]).stdout)
        let docker = Self.cells(reference)
        // The six steps the Dockerfile made (the base's rows differ: umoci's there, an import here).
        let built = 6
        #expect(ours.count == built + 1, "\(ours)")
        for (mine, theirs) in zip(ours.prefix(built), docker.prefix(built)) {
            #expect(Self.maskingHashes(mine[2]) == Self.maskingHashes(theirs[2]))
            #expect(mine[3...] == theirs[3...], "\(mine[2])")
        }
        // Four layers, as Docker's: the base, two RUNs, the COPY (WORKDIR found /opt/app there).
        #expect(try strata(["inspect", "--format", "{{len .RootFS.Layers}}", "demo/app:1"]).stdout == "4\n")
    }

    /// `docker history --no-trunc` lines of Docker 20.10's classic builder for these Dockerfiles
    /// (newest first; COPY's hash masked), worked out from its dispatchers.
    @Test(arguments: [
        ("""
         FROM lab/busybox
         ARG V=1
         ENV A=1
         WORKDIR /srv/$A
         COPY f.txt ./
         LABEL version=$V
         CMD ["echo", "from scratch"]
         """, [
            "/bin/sh -c #(nop)  CMD [\"echo\" \"from scratch\"]|0B",
            "/bin/sh -c #(nop)  LABEL version=1|0B",
            "/bin/sh -c #(nop) COPY file:… in ./ |5B",
            "/bin/sh -c #(nop) WORKDIR /srv/1|0B",
            "/bin/sh -c #(nop)  ENV A=1|0B",
            "/bin/sh -c #(nop)  ARG V=1|0B",
        ]),
        ("""
         FROM lab/busybox
         ARG user=0 http_port=8080 A=arg
         ENV A=env
         ENV PATH=/bin
         ENV PATH $PATH:/opt/bin
         USER ${user}
         EXPOSE ${http_port}
         RUN echo $A > /a
         SHELL ["/bin/sh", "-e", "-c"]
         ENV B=2
         RUN true
         COPY --chown=1000:1000 f.txt /srv/
         HEALTHCHECK --interval=30s --retries=3 CMD cat /a
         ENTRYPOINT cat /a
         VOLUME /data
         """, [
            "/bin/sh -e -c #(nop)  VOLUME [/data]|0B",
            "/bin/sh -e -c #(nop)  ENTRYPOINT [\"/bin/sh\" \"-e\" \"-c\" \"cat /a\"]|0B",
            "/bin/sh -e -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"cat /a\"] \"30s\" \"0s\" \"0s\" '\\x03'}|0B",
            "/bin/sh -e -c #(nop) COPY --chown=1000:1000file:… in /srv/ |5B",
            "|2 http_port=8080 user=0 /bin/sh -e -c true|0B",
            "/bin/sh -e -c #(nop)  ENV B=2|0B",
            "/bin/sh -e -c #(nop)  SHELL [/bin/sh -e -c]|0B",
            "|2 http_port=8080 user=0 /bin/sh -c echo $A > /a|4B",
            "/bin/sh -c #(nop)  EXPOSE 8080|0B",
            "/bin/sh -c #(nop)  USER 0|0B",
            "/bin/sh -c #(nop)  ENV PATH=/bin:/opt/bin|0B",
            "/bin/sh -c #(nop)  ENV PATH=/bin|0B",
            "/bin/sh -c #(nop)  ENV A=env|0B",
            "/bin/sh -c #(nop)  ARG user=0 http_port=8080 A=arg|0B",
        ]),
    ])
    func historyLinesAreDockers(_ dockerfile: String, _ expected: [String]) throws {
        try importBusybox()
        let dir = try context(dockerfile, files: ["f.txt": "1234\n"])
        _ = try build("demo/history", dir)
        let history = try strata(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "demo/history"])
        #expect(Array(history.lines.prefix(expected.count).map(Self.maskingHashes)) == expected)
    }

    /// A RUN that changes nothing adds no layer, as Docker's: an empty-layer step.
    @Test func runThatChangesNothingAddsNoLayer() throws {
        try importBusybox()
        _ = try build("demo/noop", try context("FROM lab/busybox\nRUN true\n"))
        #expect(try strata(["inspect", "--format", "{{len .RootFS.Layers}}", "demo/noop"]).stdout == "1\n")
    }

    /// A base image whose /bin is a link to usr/bin and /var/run to /run, as Debian bookworm's.
    func importMergedUsr() throws {
        let rootfs = CLI.temporaryDirectory("usrmerge")
        let fm = FileManager.default
        for dir in ["usr/bin", "etc", "run", "var", "tmp"] { try fm.createDirectory(atPath: "\(rootfs)/\(dir)", withIntermediateDirectories: true) }
        try fm.copyItem(atPath: "/bin/busybox", toPath: "\(rootfs)/usr/bin/busybox")
        for applet in ["sh", "ls", "cat", "echo", "test", "pwd", "stat", "id"] {
            try fm.createSymbolicLink(atPath: "\(rootfs)/usr/bin/\(applet)", withDestinationPath: "busybox")
        }
        try fm.createSymbolicLink(atPath: "\(rootfs)/bin", withDestinationPath: "usr/bin")
        try fm.createSymbolicLink(atPath: "\(rootfs)/var/run", withDestinationPath: "/run")
        try Data("root:x:0:0:root:/root:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: "\(rootfs)/etc/passwd"))
        let r = try strata(["import", "-c", "ENV PATH=/usr/bin:/bin", rootfs, "lab/usrmerge"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// `COPY x /bin/x` on a merged-/usr image writes /usr/bin/x: the link stays, and so does /bin/sh.
    @Test func copyFollowsTheImagesLinks() throws {
        try importMergedUsr()
        let dir = try context("""
            FROM lab/usrmerge
            COPY hello.sh /bin/hello
            COPY pid.txt /var/run/app/
            COPY conf/ /var/run/conf/
            WORKDIR /var/run/work
            RUN hello && cat /run/app/pid.txt /run/conf/a.conf && test -L /bin && test -L /var/run && pwd && test -d /run/work
            """, files: ["hello.sh": "#!/bin/sh\necho hello from usr/bin\n", "pid.txt": "42\n", "conf/a.conf": "conf\n"])
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/hello.sh")
        let r = try build("demo/usrmerge", dir)
        #expect(r.stdout.contains("hello from usr/bin\n42\nconf\n/run/work\n"), "\(r.stdout)")
        #expect(try shell("demo/usrmerge", "ls /usr/bin/hello; stat -c '%F' /bin /var/run") == "/usr/bin/hello\nsymbolic link\nsymbolic link\n")
    }

    /// WORKDIR makes its directory (a layer only when the image lacks it), as Docker's builder does.
    @Test func workdirMakesItsDirectory() throws {
        try importBusybox()
        let dir = try context("""
            FROM lab/busybox AS build
            WORKDIR /out
            FROM lab/busybox
            COPY --from=build /out /out
            WORKDIR /bin
            WORKDIR /app/data
            """)
        _ = try build("demo/workdir", dir)
        #expect(try shell("demo/workdir", "stat -c '%a %u:%g %n' /out /app /app/data") == "755 0:0 /out\n755 0:0 /app\n755 0:0 /app/data\n")
        // Base, COPY, WORKDIR /app/data; /bin was there.
        #expect(try strata(["inspect", "--format", "{{len .RootFS.Layers}}", "demo/workdir"]).stdout == "3\n")
        let file = try strata(["build", try context("FROM lab/busybox\nWORKDIR /etc/passwd\n")])
        #expect(file.status != 0 && file.stderr.contains("Cannot mkdir: /etc/passwd is not a directory"), "\(file.stderr)")
    }

    /// COPY leaves directories it did not make as the image has them (owner, mode), gives a
    /// directory it makes on the way to a file `--chown`'s owner and on the way to a directory
    /// root, and puts a file into a directory the destination names.
    @Test func copyKeepsTheDirectoriesItFinds() throws {
        let rootfs = try CLI.busyboxRootfs()
        chmod("\(rootfs)/tmp", 0o1777)
        #expect(try strata(["import", rootfs, "lab/busybox"]).status == 0)
        let dir = try context("""
            FROM lab/busybox
            WORKDIR /app
            COPY --chown=1000:1000 f.txt ./
            COPY --chown=1000:1000 f.txt /tmp/f.txt
            COPY --chown=1000:1000 f.txt /new/sub/f.txt
            COPY --chown=1000:1000 app/ /srv/app/
            COPY f.txt /etc
            """, files: ["f.txt": "1234\n", "app/a.txt": "a\n"])
        _ = try build("demo/chown", dir)
        #expect(try shell("demo/chown", "stat -c '%a %u:%g %n' /app /app/f.txt /tmp /tmp/f.txt /new /new/sub /srv /srv/app /srv/app/a.txt /etc/f.txt /etc/passwd") == """
            755 0:0 /app
            644 1000:1000 /app/f.txt
            1777 0:0 /tmp
            644 1000:1000 /tmp/f.txt
            755 1000:1000 /new
            755 1000:1000 /new/sub
            755 0:0 /srv
            755 1000:1000 /srv/app
            644 1000:1000 /srv/app/a.txt
            644 0:0 /etc/f.txt
            644 0:0 /etc/passwd

            """)
    }

    /// `docker build` exits with a failed RUN's status.
    @Test func failedRunExitsWithItsStatus() throws {
        try importBusybox()
        let r = try strata(["build", try context("FROM lab/busybox\nRUN echo trying && exit 3\n")])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("Dockerfile:2") && r.stderr.contains("returned a non-zero code: 3"), "\(r.stderr)")
    }

    /// The config Docker makes: no Author unless MAINTAINER says so, an ENV that changes a
    /// variable keeps its place, and `--label`s are LABEL steps.
    @Test func configIsDockers() throws {
        try importBusybox()
        _ = try build("demo/authored", try context("FROM lab/busybox\nMAINTAINER Jane <jane@example.com>\nENV PATH=/bin B=1\n"))
        #expect(try strata(["inspect", "--format", "{{.Author}}", "demo/authored"]).stdout == "Jane <jane@example.com>\n")
        let child = try build("demo/child", try context("FROM demo/authored\nENV PATH $PATH:/x\nENV C=3\n"), ["--label", "z=last", "--label", "a=$NOT"])
        #expect(child.stdout.contains("Step 4/5 : LABEL a=$NOT\n"), "\(child.stdout)")
        #expect(try strata(["inspect", "--format", "{{.Author}}|{{json .Config.Env}}|{{json .Config.Labels}}", "demo/child"]).stdout
                == "|[\"PATH=/bin:/x\",\"B=1\",\"C=3\"]|{\"a\":\"$NOT\",\"z\":\"last\"}\n")
        let history = try strata(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "demo/child"])
        #expect(history.lines.prefix(2) == ["/bin/sh -c #(nop)  LABEL z=last", "/bin/sh -c #(nop)  LABEL a=$NOT"])
    }

    /// `import -c` and `commit -c` are Dockerfile instructions, parsed and applied as the builder's.
    @Test func changesAreTheBuildersInstructions() throws {
        let rootfs = try CLI.busyboxRootfs()
        let good = try strata(["import", "-c", "ENV A=1", "-c", "ENV B=$A", "-c", "EXPOSE 8000-8001/udp", "-c", "WORKDIR /srv/$B", rootfs, "lab/changed"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try strata(["inspect", "--format", "{{json .Config.Env}} {{json .Config.ExposedPorts}} {{.Config.WorkingDir}}", "lab/changed"]).stdout
                == "[\"A=1\",\"B=1\"] {\"8000/udp\":{},\"8001/udp\":{}} /srv/1\n")
        for (change, message) in [("RUN echo hi", "run is not a valid change command"), ("EXPOSE 70000", "Invalid containerPort: 70000"),
                                  ("STOPSIGNAL 9", "stopsignal is not a valid change command")] {
            let bad = try strata(["import", "-c", change, rootfs, "lab/bad"])
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(change): \(bad.stderr)")
        }
        #expect(!(try strata(["images", "--format", "{{.Repository}}"]).stdout.contains("lab/bad")))

        #expect(try strata(["run", "--name", "to-commit", "lab/changed", "sh", "-c", "echo x > /x"]).status == 0)
        let commit = try strata(["commit", "-c", "ENV C=${B}2", "-c", "CMD [\"cat\", \"/x\"]", "to-commit", "lab/committed"])
        #expect(commit.status == 0, "\(commit.stderr)")
        #expect(try strata(["inspect", "--format", "{{json .Config.Env}} {{json .Config.Cmd}}", "lab/committed"]).stdout
                == "[\"A=1\",\"B=1\",\"C=12\"] [\"cat\",\"/x\"]\n")
    }

    /// Images are dated when they are built, as Docker and BuildKit date them — even without a
    /// RUN; `--reproducible` (or SOURCE_DATE_EPOCH) fixes the time, so inputs decide the ID.
    @Test func buildsAreDatedNowUnlessReproducible() throws {
        let dir = try context("FROM scratch\nCOPY app/ /app/\nCMD [\"/app/run\"]\n", files: ["app/data.txt": "data\n"])
        let before = Date().addingTimeInterval(-5)
        _ = try build("demo/dated", dir)
        let created = try strata(["inspect", "--format", "{{.Created}}", "demo/dated"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let date = try #require(ISO8601DateFormatter().date(from: String(created.prefix(19)) + "Z"))
        #expect(date >= before && date <= Date().addingTimeInterval(5), "\(created)")
        #expect(try strata(["history", "--format", "{{.CreatedSince}}", "demo/dated"]).lines.allSatisfy { !$0.contains("years") })

        let a = try strata(["build", "-q", "--reproducible", dir])
        // Touch the file: a new mtime, the same bytes; another store: the same image.
        try "data\n".write(toFile: "\(dir)/app/data.txt", atomically: true, encoding: .utf8)
        let b = try CLI.run(CLI.binary, ["--root", CLI.temporaryDirectory("parity-store-2"), "build", "-q", "--reproducible", dir])
        #expect(a.status == 0 && a.stdout == b.stdout, "\(a.stderr) \(b.stderr)")
        let id = a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try strata(["inspect", "--format", "{{.Created}}", id]).stdout == "1970-01-01T00:00:00Z\n")
        let epoch = try strata(["build", "-q", dir], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(try strata(["inspect", "--format", "{{.Created}}", epoch.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]).stdout
                == "2023-11-14T22:13:20Z\n")
    }
}
