import Foundation
import Testing

/// Golden files live in Tests/DockerfileTests/Golden (a bundle resource). With UPDATE_GOLDEN=1 the
/// expected files are rewritten in the source tree instead of compared; review the diff before committing.
enum GoldenFiles {
    static var bundleRoot: URL {
        Bundle.module.url(forResource: "Golden", withExtension: nil)!
    }

    static var sourceRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    }

    static var isUpdating: Bool { ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" }

    /// The case directories of a group (`parse`, `errors`), sorted.
    static func cases(_ group: String) -> [String] {
        let directory = bundleRoot.appendingPathComponent(group)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    static func read(_ group: String, _ name: String, _ file: String) throws -> String {
        try String(contentsOf: bundleRoot.appendingPathComponent(group).appendingPathComponent(name)
            .appendingPathComponent(file), encoding: .utf8)
    }

    /// Compares `actual` with the stored file, or rewrites the stored file when updating.
    static func check(
        _ actual: String, _ group: String, _ name: String, _ file: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        if isUpdating {
            let url = sourceRoot.appendingPathComponent(group).appendingPathComponent(name).appendingPathComponent(file)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try read(group, name, file)
        #expect(actual == expected, "golden \(group)/\(name)/\(file) differs", sourceLocation: sourceLocation)
    }
}
