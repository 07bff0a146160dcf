import Foundation
import Testing

/// `strata build` end to end: Docker's step lines, the cache and its miss reasons, .dockerignore,
/// history, multi-stage builds, and failures that leave nothing behind.
@Suite(.serialized) struct BuildTests {
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
        #expect(warm.lines.filter { $0 == " ---> Using cache" }.count == 6, "\(warm.stdout)")
        #expect(warm.lines.suffix(2) == cold.lines.suffix(2))

        // A copied file changes: the steps before it hit, COPY says why it missed.
        try "int main(void) { return 1; }\n".write(toFile: "\(dir)/app/main.c", atomically: true, encoding: .utf8)
        let changed = try strata(["build", "-t", "demo/app:2", dir])
        #expect(changed.lines.contains(" ---> cache miss: app/main.c changed"), "\(changed.stdout)")
        #expect(changed.lines.filter { $0 == " ---> Using cache" }.count == 2)
        // A file .dockerignore excludes changes nothing.
        try "more notes\n".write(toFile: "\(dir)/app/NOTES.md", atomically: true, encoding: .utf8)
        #expect(try strata(["build", "-t", "demo/app:2", dir]).lines.filter { $0 == " ---> Using cache" }.count == 6)
        // A build arg changes: the RUN that uses it says so.
        let arg = try strata(["build", "--build-arg", "VERSION=2", "-t", "demo/app:3", dir])
        #expect(arg.lines.contains(" ---> cache miss: build arg VERSION changed"), "\(arg.stdout)")

        let run = try strata(["run", "--rm", "demo/app:3"])
        #expect(run.stdout == "v2\nmain.c\nhi\n", "\(run.stderr)")
        let history = try strata(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "demo/app:3"])
        #expect(history.lines.first == "/bin/sh -c #(nop) CMD [\"/bin/sh\", \"-c\", \"cat /version; ls /opt/app; echo $GREETING\"]|0B")
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

    @Test func badInputFailsWithTheLineAndKeepsNothing() throws {
        try importBusybox()
        let cases: [(String, String)] = [
            ("FROM lab/busybox\nFROMM x\n", "line 2"),
            ("FROM lab/busybox\nCOPY ../etc/passwd /x\n", "outside the build context"),
            ("FROM lab/busybox\nCOPY app/NOTES.md /x\n", "excluded by .dockerignore"),
            ("FROM lab/busybox\nCOPY --from=nowhere /x /y\n", "nowhere"),
        ]
        for (dockerfile, message) in cases {
            let r = try strata(["build", "-t", "bad/image", try context(dockerfile)])
            #expect(r.status != 0 && r.stderr.contains(message), "\(dockerfile): \(r.stderr)")
        }
        if canRun {
            let r = try strata(["build", "-t", "bad/image", try context("FROM lab/busybox\nRUN exit 3\n")])
            #expect(r.status != 0 && r.stderr.contains("Dockerfile:2") && r.stderr.contains("returned a non-zero code: 3"), "\(r.stderr)")
        }
        #expect(!(try strata(["images", "--format", "{{.Repository}}"]).stdout.contains("bad/image")))
    }
}
