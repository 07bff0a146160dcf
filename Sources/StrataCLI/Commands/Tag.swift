import ArgumentParser
import StrataEngine

/// `strata tag SOURCE TARGET`.
struct Tag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tag", abstract: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "SOURCE_IMAGE[:TAG]") var source: String
    @Argument(help: "TARGET_IMAGE[:TAG]") var target: String

    func run() async throws {
        try global.engine().tag(source, as: target)
    }
}
