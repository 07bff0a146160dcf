import Foundation
import RegistryTestSupport
import Testing

/// `strata build` end to end: Docker's step lines, the cache and its miss reasons, .dockerignore,
/// history, multi-stage builds, and failures that leave nothing behind.
@Suite(.blocking, .serialized) struct BuildTests {
    let root = CLI.temporaryDirectory("build-store")

    func strata(_ arguments: [String], stdin: Data? = nil) throws -> CLI.Result { try CLI.strata(root, arguments, stdin: stdin) }

    /// A context with a Dockerfile, an app directory and a .dockerignore.
    func context(_ dockerfile: String) throws -> String {
        let dir = CLI.temporaryDirectory("build-context")
        try FileManager.default.createDirectory(atPath: "\(dir)/app", withIntermediateDirectories: true)
        try dockerfile.write(toFile: "\(dir)/Dockerfile", atomically: true, encoding: .utf8)
        try "int main(void) { return 0; }\n".write(toFile: "\(dir)/app/main.c", atomically: true, encoding: .utf8)
        try "notes\n".write(toFile: "\(dir)/app/NOTES.md", atomically: true, encoding: .utf8)
        try "*.md\napp/*.md\n".write(toFile: "\(dir)/.dockerignore", atomically: true, encoding: .utf8)
        return dir
    }

    func importBusybox() throws {
        let r = try strata(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "lab/busybox"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test(.enabled(if: canRun)) func buildCacheMissReasonsHistoryAndRun() throws {
        try importBusybox()
        let dir = try context("""
            ARG BASE=lab/busybox
            FROM ${BASE}
            ARG VERSION=1
            ENV GREETING=hi
            RUN echo "v$VERSION" > /version
            COPY app/ /opt/app/
            WORKDIR /opt/app
            EXPOSE 8080
            CMD ["/bin/sh", "-c", "cat /version; ls /opt/app; echo $GREETING"]
            """)
        let cold = try strata(["build", "-t", "demo/app:1", dir])
        #expect(cold.status == 0, "\(cold.stderr)")
        #expect(cold.lines.first == "Step 1/9 : ARG BASE=lab/busybox")
        #expect(cold.lines.contains { $0.hasPrefix(" ---> Running in ") } && cold.lines.contains { $0.hasPrefix("Removing intermediate container ") })
        #expect(!cold.stdout.contains("Using cache") && !cold.stdout.contains("cache miss"))
        #expect(cold.lines.suffix(2).first?.hasPrefix("Successfully built ") == true && cold.lines.last == "Successfully tagged demo/app:1")

        // Nothing changed: every step is reused and the image is the same.
        let warm = try strata(["build", "-t", "demo/app:1", dir])
        #expect(warm.lines.filter { $0 == " ---> Using cache" }.count == 7, "\(warm.stdout)")
        #expect(warm.lines.suffix(2) == cold.lines.suffix(2))

        // A copied file changes: the steps before it hit, COPY says why it missed.
        try "int main(void) { return 1; }\n".write(toFile: "\(dir)/app/main.c", atomically: true, encoding: .utf8)
        let changed = try strata(["build", "-t", "demo/app:2", dir])
        #expect(changed.lines.contains(" ---> cache miss: app/main.c changed"), "\(changed.stdout)")
        #expect(changed.lines.filter { $0 == " ---> Using cache" }.count == 3)
        // A file .dockerignore excludes changes nothing.
        try "more notes\n".write(toFile: "\(dir)/app/NOTES.md", atomically: true, encoding: .utf8)
        #expect(try strata(["build", "-t", "demo/app:2", dir]).lines.filter { $0 == " ---> Using cache" }.count == 7)
        // A build arg changes: the RUN that uses it says so.
        let arg = try strata(["build", "--build-arg", "VERSION=2", "-t", "demo/app:3", dir])
        #expect(arg.lines.contains(" ---> cache miss: build arg VERSION changed"), "\(arg.stdout)")

        let run = try strata(["run", "--rm", "demo/app:3"])
        #expect(run.stdout == "v2\nmain.c\nhi\n", "\(run.stderr)")
        let history = try strata(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "demo/app:3"])
        #expect(history.lines.first == "/bin/sh -c #(nop)  CMD [\"/bin/sh\" \"-c\" \"cat /version; ls /opt/app; echo $GREETING\"]|0B")
        #expect(history.lines.contains("|1 VERSION=2 /bin/sh -c echo \"v$VERSION\" > /version|3B"), "\(history.stdout)")
        let inspect = try strata(["inspect", "--format", "{{.Config.WorkingDir}} {{json .Config.ExposedPorts}} {{json .Config.Env}}", "demo/app:3"])
        #expect(inspect.stdout.hasPrefix("/opt/app {\"8080/tcp\":{}} "), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("GREETING=hi"))

        // --no-cache runs every step again.
        let fresh = try strata(["build", "--no-cache", "-q", dir])
        #expect(fresh.status == 0 && fresh.stdout.hasPrefix("sha256:"))
    }

    @Test(.enabled(if: canRun)) func multiStageTargetAndCopyFrom() throws {
        try importBusybox()
        let dir = try context("""
            FROM lab/busybox AS build
            RUN mkdir -p /out && echo compiled > /out/app
            FROM lab/busybox AS unused
            RUN false
            FROM scratch
            COPY --from=build /out/app /app
            COPY app/main.c /src/
            """)
        let r = try strata(["build", "-t", "demo/multi", dir])
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        // The stage nothing needs is skipped (its RUN would fail).
        #expect(!r.stdout.contains("RUN false"))
        let history = try strata(["history", "--format", "{{.Size}}", "demo/multi"])
        #expect(history.lines.count == 2, "\(history.stdout)")
        let target = try strata(["build", "--target", "build", "-t", "demo/build-stage", dir])
        #expect(target.status == 0 && !target.stdout.contains("COPY"))
    }

    /// Each stage's RUN waits for the other's mark in a shared cache mount: built one after
    /// another, the first would wait for a stage that has not started, and give up.
    static let meetingStages = """
        FROM lab/busybox AS left
        RUN --mount=type=cache,id=meet,target=/meet sh -c 'echo left-start; touch /meet/left; i=0; while [ ! -e /meet/right ]; do i=$((i+1)); [ $i -lt 600 ] || exit 3; sleep 0.05; done; echo left > /left'
        FROM lab/busybox AS right
        RUN --mount=type=cache,id=meet,target=/meet sh -c 'echo right-start >&2; touch /meet/right; i=0; while [ ! -e /meet/left ]; do i=$((i+1)); [ $i -lt 600 ] || exit 3; sleep 0.05; done; echo right > /right'
        FROM scratch
        COPY --from=left /left /left
        COPY --from=right /right /right
        """

    @Test(.enabled(if: canRun)) func independentStagesRunAtTheSameTime() throws {
        try importBusybox()
        let dir = try context(Self.meetingStages)
        let r = try strata(["build", "-t", "demo/meet", dir])
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        // Each line says its stage; step numbers are the classic builder's.
        for line in ["[left] Step 1/7 : FROM lab/busybox AS left", "[left] Step 2/7 : RUN --mount", "[left] left-start",
                     "[right] Step 4/7 : RUN --mount", "[stage-2] Step 5/7 : FROM scratch", "[stage-2] Step 7/7 : COPY --from=right"] {
            #expect(r.stdout.contains(line), "\(line) in:\n\(r.stdout)")
        }
        #expect(r.stderr.contains("[right] right-start"), "\(r.stderr)")
        #expect(r.lines.last?.hasPrefix("Successfully tagged") == true)
        #expect(try strata(["history", "--format", "{{.CreatedBy}}", "demo/meet"]).lines.count == 2)
        // Built again: every step from the cache, the same image.
        let again = try strata(["build", "-t", "demo/meet", dir])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.components(separatedBy: "Using cache").count - 1 == 4, "\(again.stdout)")
        #expect(again.lines.dropLast().last == r.lines.dropLast().last)
        #expect(try strata(["ps", "-a", "-q"]).stdout.isEmpty)
    }

    @Test(.enabled(if: canRun)) func aStageThatFailsStopsTheOthers() throws {
        try importBusybox()
        let dir = try context("""
            FROM lab/busybox AS slow
            RUN sleep 1
            RUN echo never > /never
            FROM lab/busybox AS failing
            RUN exit 7
            FROM scratch
            COPY --from=slow /never /never
            COPY --from=failing / /
            """)
        let r = try strata(["build", "-t", "demo/failing", dir])
        #expect(r.status == 7, "\(r.stderr)")
        #expect(r.stderr.contains("Dockerfile:5: The command '/bin/sh -c exit 7' returned a non-zero code: 7"), "\(r.stderr)")
        // The stage that was still running stopped at its next step and left no container.
        #expect(!r.stdout.contains("RUN echo never"), "\(r.stdout)")
        #expect(try strata(["ps", "-a", "-q"]).stdout.isEmpty)
        #expect(try strata(["images", "-q", "demo/failing"]).stdout.isEmpty)
    }

    @Test func badInputFailsWithTheLineAndKeepsNothing() throws {
        try importBusybox()
        let cases: [(String, String)] = [
            ("FROM lab/busybox\nFROMM x\n", "line 2"),
            ("FROM lab/busybox\nCOPY ../etc/passwd /x\n", "outside the build context"),
            ("FROM lab/busybox\nCOPY app/NOTES.md /x\n", "excluded by .dockerignore"),
            ("FROM lab/busybox\nCOPY --from=nowhere /x /y\n", "nowhere"),
            ("FROM --platform=linux/s390x lab/busybox\n", "Dockerfile:1: FROM --platform=linux/s390x: cannot build for linux/s390x"),
            ("FROM lab/busybox\nCOPY --parents app/main.c /src/\n", "--parents is not supported"),
            ("FROM lab/busybox\nRUN <<EOF\necho never closed\n", "line 2"),
            ("FROM lab/busybox\nENV A=\"unterminated\n", "line 2"),
        ]
        for (dockerfile, message) in cases {
            let r = try strata(["build", "-t", "bad/image", try context(dockerfile)])
            #expect(r.status != 0 && r.stderr.contains(message), "\(dockerfile): \(r.stderr)")
        }
        if canRun {
            let r = try strata(["build", "-t", "bad/image", try context("FROM lab/busybox\nRUN exit 3\n")])
            #expect(r.status == 3 && r.stderr.contains("Dockerfile:2") && r.stderr.contains("returned a non-zero code: 3"), "\(r.stderr)")
        }
        #expect(!(try strata(["images", "--format", "{{.Repository}}"]).stdout.contains("bad/image")))
    }
}

/// The fixture Dockerfiles in Tests/Fixtures/build, which together use every instruction and
/// most flags: built, run, inspected.
@Suite(.blocking, .serialized, .enabled(if: canRun)) struct FixtureBuildTests {
    let root = CLI.temporaryDirectory("fixture-store")
    static let fixtures = "\(CLI.packageRoot)/Tests/Fixtures/build"

    func strata(_ arguments: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["--root", root] + arguments, environment: environment)
    }

    func importBusybox() throws {
        let r = try strata(["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "lab/busybox"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// In the image, as root, through sh.
    func shell(_ image: String, _ script: String) throws -> String {
        let r = try strata(["run", "--rm", "--user", "root", "--entrypoint", "/bin/sh", image, "-c", script])
        #expect(r.status == 0, "\(script): \(r.stderr)")
        return r.stdout
    }

    @Test func everyInstruction() throws {
        try importBusybox()
        let server = try FileServer(files: ["tool.txt": "downloaded\n"])
        defer { server.stop() }
        let sum = "sha256:" + MultiPlatformLayout.sha256Hex(Data("downloaded\n".utf8))
        let build = try strata(["build", "-t", "fixture/everything", "--build-arg", "URL=\(server.url)/tool.txt",
                                "--build-arg", "SUM=\(sum)", "--label", "org.example.from-cli=yes", "\(Self.fixtures)/everything"])
        #expect(build.status == 0, "\(build.stdout)\n\(build.stderr)")

        let run = try strata(["run", "--rm", "fixture/everything"])
        #expect(run.stdout == "Welcome, hello world\napp\n/srv/app\n", "\(run.stderr)")
        let files = try shell("fixture/everything", """
            cat /exec-form /heredoc /cache-runs /bound-files /tmpfs-files
            stat -c '%a %u:%g %n' /srv/app/a.txt /srv/app/b.txt /numeric/b.txt /downloads/tool.txt
            ls /srv/app/sub; cat /opt/vendor/lib/README /downloads/tool.txt; ls /srv/app
            """)
        #expect(files == """
            exec form
            heredoc v1.0
            1
            a.txt
            b.txt
            sub
            x
            640 1000:1000 /srv/app/a.txt
            640 1000:1000 /srv/app/b.txt
            644 1001:1002 /numeric/b.txt
            600 0:0 /downloads/tool.txt
            b.txt
            vendored
            downloaded
            a.txt
            b.txt
            sub

            """)

        let inspect = try strata(["inspect", "--format",
            "{{.Author}}|{{.Config.User}}|{{.Config.StopSignal}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{json .Config.Shell}}|{{json .Config.OnBuild}}|{{.Config.WorkingDir}}",
            "fixture/everything"])
        #expect(inspect.stdout == """
            Strata Tests <tests@example.com>|app|SIGINT|{"53/udp":{},"8080/tcp":{}}|{"/data":{}}|["/bin/sh","-c"]|["cat /etc/motd; id -un; pwd"]|["/bin/sh","-e","-c"]|["USER root","RUN echo \\"triggered by a child build\\" \\u003e /onbuild-ran"]|/srv/app

            """, "\(inspect.stdout)")
        let meta = try strata(["inspect", "--format", "{{json .Config.Labels}} {{json .Config.Healthcheck}} {{json .Config.Env}}", "fixture/everything"])
        #expect(meta.stdout.contains("\"org.example.version\":\"1.0\"") && meta.stdout.contains("\"org.example.description\":\"every instruction\"")
                && meta.stdout.contains("\"org.example.from-cli\":\"yes\""), "\(meta.stdout)")
        #expect(meta.stdout.contains("\"Interval\":30000000000") && meta.stdout.contains("\"Retries\":4"), "\(meta.stdout)")
        #expect(meta.stdout.contains("LEGACY=legacy form value") && meta.stdout.contains("GREETING=hello world"))
        // Over the base's one layer: one per COPY and ADD (4 + 2), per RUN that changed files (6:
        // `RUN --network=none cat … > /dev/null` changes none, so it has none, as in Docker), and
        // one for the directory WORKDIR made.
        let layers = try strata(["inspect", "--format", "{{len .RootFS.Layers}}", "fixture/everything"])
        #expect(layers.stdout == "14\n")
        // --label is a LABEL step of its own, as Docker adds it.
        let history = try strata(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "fixture/everything"])
        #expect(history.lines.first == "/bin/sh -e -c #(nop)  LABEL org.example.from-cli=yes", "\(history.stdout)")

        // The cache mount outlives the build: a rebuild without cache counts a second run.
        #expect(try strata(["build", "--no-cache", "-q", "-t", "fixture/everything:again", "--build-arg", "URL=\(server.url)/tool.txt",
                            "--build-arg", "SUM=\(sum)", "\(Self.fixtures)/everything"]).status == 0)
        #expect(try shell("fixture/everything:again", "cat /cache-runs") == "2\n")
        // A wrong checksum fails the build.
        let bad = try strata(["build", "--build-arg", "URL=\(server.url)/tool.txt", "--build-arg", "SUM=sha256:\(String(repeating: "0", count: 64))",
                              "\(Self.fixtures)/everything"])
        #expect(bad.status != 0 && bad.stderr.contains("checksum mismatch"), "\(bad.stderr)")

        // A child runs the parent's ONBUILD trigger first, and drops the healthcheck.
        let child = try strata(["build", "-t", "fixture/child", "\(Self.fixtures)/onbuild-child"])
        #expect(child.status == 0 && child.stdout.contains("# Executing 2 build triggers"), "\(child.stdout)\n\(child.stderr)")
        #expect(try strata(["run", "--rm", "fixture/child"]).stdout == "triggered by a child build\n")
        let childMeta = try strata(["inspect", "--format", "{{json .Config.Healthcheck}} {{json .Config.OnBuild}}", "fixture/child"])
        #expect(childMeta.stdout == "{\"Test\":[\"NONE\"]} null\n", "\(childMeta.stdout)")

        // --squash: the new layers become one, history stays.
        let squashed = try strata(["build", "--squash", "-t", "fixture/squashed", "--build-arg", "URL=\(server.url)/tool.txt",
                                   "--build-arg", "SUM=\(sum)", "\(Self.fixtures)/everything"])
        #expect(squashed.status == 0, "\(squashed.stderr)")
        #expect(try strata(["inspect", "--format", "{{len .RootFS.Layers}}", "fixture/squashed"]).stdout == "2\n")
        #expect(try shell("fixture/squashed", "cat /heredoc /opt/vendor/lib/README") == "heredoc v1.0\nvendored\n")
    }

    @Test func multiStageIsReproducibleWithSourceDateEpoch() throws {
        try importBusybox()
        let dir = "\(Self.fixtures)/multistage"
        let first = try strata(["build", "-q", dir], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(!first.stdout.contains("exit 42"))
        let run = try strata(["run", "--rm", first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(run.stdout == "app 2.0\n", "\(run.stderr)")
        // Another store, the same inputs: the same image.
        let other = CLI.temporaryDirectory("fixture-store-2")
        #expect(try CLI.run(CLI.binary, ["--root", other, "import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "lab/busybox"],
                            environment: ["SOURCE_DATE_EPOCH": "1700000000"]).status == 0)
        let again = try CLI.run(CLI.binary, ["--root", other, "build", "--no-cache", "-q", dir], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(again.stdout == first.stdout, "\(again.stderr)")
        // --target stops at the stage it names.
        let target = try strata(["build", "--target", "build", "-t", "fixture/build-stage", dir])
        #expect(target.status == 0 && !target.stdout.contains("COPY --from"))
    }

    @Test func moreThan127LayersFailsBeforeAnyStepRuns() throws {
        try importBusybox()
        let context = CLI.temporaryDirectory("too-many")
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        let steps = (1...130).map { "RUN echo \($0) > /step-\($0)" }.joined(separator: "\n")
        try "FROM lab/busybox\n\(steps)\n".write(toFile: "\(context)/Dockerfile", atomically: true, encoding: .utf8)
        let r = try strata(["build", context])
        #expect(r.status != 0 && r.stderr.contains("131 layers") && r.stderr.contains("--squash"), "\(r.stderr)")
        #expect(!r.stdout.contains("Running in"))
    }
}

/// A static file server on loopback (python3's http.server), stopped by PID.
final class FileServer {
    let process = Process()
    let url: String

    init(files: [String: String]) throws {
        let dir = CLI.temporaryDirectory("files")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, content) in files { try content.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
        let portFile = "\(dir)/.port"
        process.executableURL = URL(fileURLWithPath: CLI.which("python3") ?? "/usr/bin/python3")
        process.arguments = ["-c", """
            import http.server, functools, sys
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
            handler.log_message = lambda *a: None
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            open(sys.argv[2], "w").write(str(server.server_address[1]))
            server.serve_forever()
            """, dir, portFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var port: String?
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), !text.isEmpty { port = text; break }
            usleep(50_000)
        }
        guard let port else {
            kill(process.processIdentifier, SIGKILL)
            throw CocoaError(.fileReadNoSuchFile)
        }
        url = "http://127.0.0.1:\(port)"
    }

    func stop() { kill(process.processIdentifier, SIGKILL) }
}

/// A build on a real distribution: a Debian base made by debootstrap (cached across runs), and a
/// RUN that installs a package with apt-get. Skipped, saying why, when no Debian mirror answers.
@Suite(.blocking, .serialized, .enabled(if: canRun)) struct DebianBuildTests {
    @Test func aptGetInstallsAPackage() throws {
        let root = CLI.temporaryDirectory("debian-store")
        let tar = CLI.temporaryDirectory("debian") + ".tar"
        // Half a gigabyte each: never left behind.
        defer { for path in [root, tar] { try? FileManager.default.removeItem(atPath: path) } }
        let made = try CLI.run("/bin/bash", ["\(CLI.packageRoot)/Tests/Support/debian/rootfs.sh", tar])
        if made.status == 2 {
            print("DebianBuildTests.aptGetInstallsAPackage: skipped: \(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            return
        }
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try CLI.strata(root, ["import", "-c", "CMD [\"/bin/bash\"]", tar, "lab/debian:12"]).status == 0)
        let context = CLI.temporaryDirectory("debian-context")
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try """
            FROM lab/debian:12
            RUN apt-get update -qq \\
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hello >/dev/null \\
             && rm -rf /var/lib/apt/lists/*
            CMD ["hello", "-g", "built by strata"]
            """.write(toFile: "\(context)/Dockerfile", atomically: true, encoding: .utf8)
        let build = try CLI.strata(root, ["build", "-t", "lab/hello", context])
        if build.status != 0, build.stdout.contains("Temporary failure resolving") || build.stdout.contains("Could not resolve") {
            print("DebianBuildTests.aptGetInstallsAPackage: skipped: apt-get inside the build cannot reach the mirror")
            return
        }
        #expect(build.status == 0, "\(build.stdout)\n\(build.stderr)")
        let run = try CLI.strata(root, ["run", "--rm", "lab/hello"])
        #expect(run.stdout == "built by strata\n", "\(run.stderr)")
        let history = try CLI.strata(root, ["history", "--no-trunc", "--format", "{{.CreatedBy}}", "lab/hello"])
        #expect(history.lines.contains { $0.contains("apt-get install") }, "\(history.stdout)")
    }
}
