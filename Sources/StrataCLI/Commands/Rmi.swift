import ArgumentParser
import StrataEngine

struct RmiOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Force removal of the image (all its names).") var force = false
    @Argument(help: "Images to remove (name, name:tag, name@digest, or ID).") var images: [String]

    func run() throws {
        guard !images.isEmpty else { throw ValidationError("\"rmi\" requires at least 1 argument.") }
        var failures: [String] = []
        for removal in try global.engine().removeImages(images, force: force) {
            switch removal.result {
            case .success(let events): emit(events.map { "\($0)\n" }.joined())
            case .failure(let error): failures.append(error.message)
            }
        }
        if !failures.isEmpty {
            throw StrataError(.imageUnknown, failures.joined(separator: "\nError: "))
        }
    }
}

/// `strata rmi IMAGE…`.
struct Rmi: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rmi", abstract: "Remove one or more images.")
    @OptionGroup var options: RmiOptions
    func run() async throws { try options.run() }
}

/// `strata image rm IMAGE…`.
struct ImageRm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more images.", aliases: ["remove"])
    @OptionGroup var options: RmiOptions
    func run() async throws { try options.run() }
}
