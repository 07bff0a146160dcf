import Dockerfile
import Foundation
import ImageSpec
import Testing

struct GoldenTests {
    static func dump(_ dockerfile: Dockerfile) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(dockerfile), as: UTF8.self) + "\n"
    }

    @Test(arguments: GoldenFiles.cases("parse"))
    func parsesLikeTheGoldenDump(_ name: String) throws {
        let text = try GoldenFiles.read("parse", name, "Dockerfile")
        let dockerfile = try Dockerfile.parse(text)
        try GoldenFiles.check(try Self.dump(dockerfile), "parse", name, "expected.json")
        // The dump must also read back to the same value, so the builder can cache parses as JSON.
        let decoded = try JSONDecoder().decode(Dockerfile.self, from: Data(try Self.dump(dockerfile).utf8))
        #expect(decoded == dockerfile)
    }

    @Test(arguments: GoldenFiles.cases("errors"))
    func failsWithTheGoldenMessage(_ name: String) throws {
        let text = try GoldenFiles.read("errors", name, "Dockerfile")
        do {
            let parsed = try Dockerfile.parse(text)
            Issue.record("expected an error, parsed \(parsed.stages.count) stage(s)")
        } catch let error as StrataError {
            #expect(error.code == .invalidDockerfile)
            try GoldenFiles.check(error.message + "\n", "errors", name, "expected-error.txt")
        }
    }

    @Test func hasEnoughGoldenCases() {
        #expect(GoldenFiles.cases("parse").count >= 15)
        #expect(GoldenFiles.cases("errors").count >= 12)
    }
}
