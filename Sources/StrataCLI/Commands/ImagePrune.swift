import ArgumentParser
import Foundation
import StrataEngine

/// `strata image prune`.
struct ImagePrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove unused images.")

    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Remove all unused images, not just dangling ones.") var all = false
    @Flag(name: .shortAndLong, help: "Do not prompt for confirmation.") var force = false

    func run() async throws {
        if !force {
            let what = all ? "all images without at least one container associated to them" : "all dangling images"
            FileHandle.standardOutput.write(Data("WARNING! This will remove \(what).\nAre you sure you want to continue? [y/N] ".utf8))
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                emit("\n")
                return
            }
        }
        let (events, reclaimed) = try global.engine().pruneImages(all: all)
        var out = ""
        if !events.isEmpty {
            out += "Deleted Images:\n" + events.map { event -> String in
                switch event {
                case .untagged(let n): return "untagged: \(n)\n"
                case .deleted(let d): return "deleted: \(d)\n"
                }
            }.joined() + "\n"
        }
        out += "Total reclaimed space: \(Units.humanSize(reclaimed))\n"
        emit(out)
    }
}
