import ArgumentParser
import Foundation
import StrataEngine

/// `strata search [HOST/]TERM`: Docker's columns, NAME DESCRIPTION STARS OFFICIAL.
struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "search", abstract: "Search a registry for images (HOST/TERM; Docker Hub without a host).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @Option(help: "Max number of search results.") var limit = 25
    @Option(help: "Output: table (default), json, or a Go template (.Name .Description .StarCount .IsOfficial .IsAutomated).") var format: String?
    @Flag(help: "Don't truncate output.") var noTrunc = false
    @Argument(help: "TERM") var term: String

    func run() async throws {
        let found = try await global.engine().search(term, limit: limit, tlsVerify: registry.tlsVerify)
        func description(_ text: String) -> String {
            let flat = text.replacingOccurrences(of: "\n", with: " ")
            return noTrunc ? flat : Units.ellipsis(flat, 45)
        }
        let rows = found.results.map { result -> JSONValue in
            .object(["Name": .string(result.name), "Description": .string(description(result.description)),
                     "StarCount": .string(String(result.starCount)), "IsOfficial": .string(result.isOfficial ? "[OK]" : ""),
                     "IsAutomated": .string(result.isAutomated ? "[OK]" : "")])
        }
        let headers = ["Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"]
        emit(try OutputFormat(format).render(rows, headers: headers) {
            var table = Table(["NAME", "DESCRIPTION", "STARS", "OFFICIAL"])
            for result in found.results {
                table.append([result.name, description(result.description), String(result.starCount), result.isOfficial ? "[OK]" : ""])
            }
            return table.render()
        })
    }
}
