import ArgumentParser
import Foundation
import StrataEngine

/// `strata image diff A B`: what B changes against A — the layers they share, then the files.
struct ImageDiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show the layers two images share and the files the second adds (A), changes (C) and deletes (D).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Output: text (default), or json (one object).") var format: String?
    @Argument(help: "The image to compare against.") var first: String
    @Argument(help: "The image whose changes are shown.") var second: String

    func run() async throws {
        guard format == nil || format == "json" || format == "text" else {
            throw StrataError(.invalidArgument, "invalid --format \"\(format!)\": text or json")
        }
        let diff = try global.engine().imageDiff(first, second)
        if format == "json" {
            emit(json(diff).rendered() + "\n")
            return
        }
        var out = ""
        var lines: [UInt8] = []
        func layers(_ title: String, _ list: [ImageDiff.LayerInfo]) {
            let total = list.reduce(0) { $0 + $1.size }
            out += "\(title): \(list.count) layer\(list.count == 1 ? "" : "s") (\(Units.humanSize(total)))\n"
            for layer in list { out += "  \(layer.diffID)  \(Units.humanSize(layer.size))\n" }
        }
        layers("Shared", diff.shared)
        layers("Only in \(first)", diff.onlyInFirst)
        layers("Only in \(second)", diff.onlyInSecond)
        if !diff.changes.isEmpty { out += "\n" }
        // Paths are written as their bytes, as Docker's `diff` prints them.
        for change in diff.changes {
            let size = change.previousSize.map { "\(Units.humanSize($0)) → \(Units.humanSize(change.size))" } ?? Units.humanSize(change.size)
            lines += Array("\(change.kind.rawValue) ".utf8) + change.path.bytes + Array("  \(size)\n".utf8)
        }
        FileHandle.standardOutput.write(Data(Array(out.utf8) + lines))
    }

    func json(_ diff: ImageDiff) -> OrderedJSON {
        func layers(_ list: [ImageDiff.LayerInfo]) -> OrderedJSON {
            .array(list.map { .object([("DiffID", .string($0.diffID.description)), ("Size", .int($0.size))]) })
        }
        return .object([
            ("SharedLayers", layers(diff.shared)),
            ("FirstOnlyLayers", layers(diff.onlyInFirst)),
            ("SecondOnlyLayers", layers(diff.onlyInSecond)),
            ("Changes", .array(diff.changes.map { change in
                var fields: [(String, OrderedJSON)] = [("Kind", .string(change.kind.rawValue)), ("Path", .string(change.path.description)),
                                                       ("Size", .int(change.size))]
                if let previous = change.previousSize { fields.append(("PreviousSize", .int(previous))) }
                return .object(fields)
            })),
        ])
    }
}
