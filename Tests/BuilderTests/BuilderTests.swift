import Foundation
import Testing
@testable import Builder
import ImageSpec

func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "strata-builder-\(name)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The cache's key and its explanation of a miss: what a user reads when a rebuild is slow.
@Suite struct StepCacheTests {
    let base = StepInputs(parent: "sha256:aaa", step: "RUN make", args: ["V": "1"], files: ["main.c": "sha256:c1"])

    @Test func theKeyIsStableAndCoversEveryInput() {
        #expect(base.key == StepInputs(parent: "sha256:aaa", step: "RUN make", args: ["V": "1"], files: ["main.c": "sha256:c1"]).key)
        var changed = [base, base, base, base]
        changed[0].parent = "sha256:bbb"
        changed[1].step = "RUN make all"
        changed[2].args["V"] = "2"
        changed[3].files["main.c"] = "sha256:c2"
        #expect(Set(changed.map(\.key)).count == 4 && !changed.map(\.key).contains(base.key))
    }

    @Test(arguments: [
        ("step", "the instruction changed (it was: RUN make)"),
        ("arg", "build arg V changed"),
        ("newArg", "build arg W changed"),
        ("file", "main.c changed"),
        ("added", "util.c was added"),
        ("removed", "main.c was removed"),
        ("parent", "the base image changed"),
    ])
    func aMissSaysWhatChanged(_ change: String, _ reason: String) {
        var now = base
        switch change {
        case "step": now.step = "RUN make all"
        case "arg": now.args["V"] = "2"
        case "newArg": now.args["W"] = "x"
        case "file": now.files["main.c"] = "sha256:c2"
        case "added": now.files["util.c"] = "sha256:u"
        case "removed": now.files = [:]
        default: now.parent = "sha256:bbb"
        }
        #expect(now.reason(against: base, firstInStage: true) == reason)
    }

    @Test func aParentThatChangedLaterInTheStageIsNotTheReason() {
        var now = base
        now.parent = "sha256:bbb"
        // Not the stage's first step: an earlier step already missed and said why.
        #expect(now.reason(against: base, firstInStage: false) == nil)
        #expect(base.reason(against: nil, firstInStage: true) == nil)
        #expect(base.reason(against: base, firstInStage: true) == "the image it made before is gone")
    }
}

@Suite struct BuildContextTests {
    func context(_ files: [String], ignore: String?) throws -> BuildContext {
        let root = temporaryDirectory("context")
        for file in files {
            let path = "\(root)/\(file)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(file.utf8).write(to: URL(fileURLWithPath: path))
        }
        if let ignore { try Data(ignore.utf8).write(to: URL(fileURLWithPath: "\(root)/.dockerignore")) }
        return try BuildContext(root: root)
    }

    @Test func dockerignoreExcludesWithExceptionsInOrder() throws {
        let c = try context(["app/main.c", "app/debug.log", "keep.log", "node_modules/x/y.js", "README.md"],
                            ignore: "*.log\n!keep.log\nnode_modules\n**/*.log\n")
        #expect(!c.excluded("app/main.c") && !c.excluded("README.md"))
        #expect(c.excluded("app/debug.log") && c.excluded("node_modules") && c.excluded("node_modules/x/y.js"))
        // The later `**/*.log` wins over the earlier exception.
        #expect(c.excluded("keep.log"))
    }

    @Test func sourcesMustStayInTheContext() throws {
        let c = try context(["a.txt"], ignore: nil)
        #expect(throws: StrataError.self) { _ = try c.resolve("../outside", what: "COPY") }
        #expect(throws: StrataError.self) { _ = try c.resolve("missing.txt", what: "COPY") }
        #expect(try c.resolve("a.txt", what: "COPY") == ["a.txt"])
    }

    @Test func aMissingContextIsAClearError() {
        #expect(throws: StrataError.self) { _ = try BuildContext(root: "/nonexistent/strata-context") }
    }
}

/// Which builds have stages to run at the same time, and how a RUN's piped output becomes lines.
@Suite struct StagePlanTests {
    @Test(arguments: [
        // (needs by stage, target, has independent stages)
        ([0: []], 0, false),
        ([0: [], 1: [0], 2: [1]], 2, false),                 // a chain: FROM the one before
        ([0: [], 1: [0], 2: [0, 1]], 2, false),              // copies from both, still one order
        ([0: [], 1: [], 2: [0, 1]], 2, true),                // two stages need neither the other
        ([0: [], 2: [], 3: [0, 2]], 3, true),                // with a stage the target skips
        ([0: [], 1: [0], 2: [0], 3: [1, 2]], 3, true),       // a diamond
    ] as [([Int: Set<Int>], Int, Bool)])
    func independentStages(needs: [Int: Set<Int>], target: Int, expected: Bool) {
        let plan = StagePlan(order: needs.keys.sorted(), needs: needs, firstSteps: [:], target: target)
        #expect(plan.hasIndependentStages == expected)
    }

    @Test(arguments: [
        ("", [String]()),
        ("one\n", ["one"]),
        ("one\ntwo", ["one", "two"]),
        ("\n\nthree\n", ["", "", "three"]),
        (String(repeating: "x", count: StageOutput.longestLine + 3) + "\n",
         [String(repeating: "x", count: StageOutput.longestLine), "xxx"]),
    ])
    func outputLines(written: String, expected: [String]) throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        let bytes = Array(written.utf8), writeEnd = fds[1]
        let writer = Thread {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(writeEnd, $0.baseAddress, min($0.count, 4096)) }
                guard n > 0 else { break }
                offset += n
            }
            close(writeEnd)
        }
        writer.start()
        var lines: [String] = []
        StageOutput.readLines(fds[0]) { lines.append($0) }
        close(fds[0])
        #expect(lines == expected)
    }
}
