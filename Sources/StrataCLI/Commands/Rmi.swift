import ArgumentParser
import ImageSpec
import ImageStore

struct RmiOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Force removal of the image (all its names).") var force = false
    @Argument(help: "Images to remove (name, name:tag, name@digest, or ID).") var images: [String]

    func run() throws {
        guard !images.isEmpty else { throw ValidationError("\"rmi\" requires at least 1 argument.") }
        let store = try global.store()
        var failures: [String] = []
        for name in images {
            do {
                emit(try store.remove(name, force: force).map { "\($0)\n" }.joined())
            } catch let error as StrataError {
                failures.append(error.message)
            }
        }
        try collectSnapshots(global)
        if !failures.isEmpty {
            throw StrataError(.imageUnknown, failures.joined(separator: "\nError: "))
        }
    }
}

/// Unpacked layers of deleted images go with them (only where containers were ever made).
func collectSnapshots(_ global: GlobalOptions) throws {
    let root = global.root ?? ImageStore.defaultRoot
    guard FileSystem.isDirectory("\(root)/snapshots") else { return }
    try global.engine().collectSnapshots()
}

/// `strata rmi IMAGE…`.
struct Rmi: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove one or more images.")
    @OptionGroup var options: RmiOptions
    func run() async throws { try options.run() }
}

/// `strata image rm IMAGE…`.
struct ImageRm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more images.", aliases: ["remove"])
    @OptionGroup var options: RmiOptions
    func run() async throws { try options.run() }
}
