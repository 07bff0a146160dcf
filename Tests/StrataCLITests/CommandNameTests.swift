import ArgumentParser
import StrataCLI
import Testing

/// Every command names itself. ArgumentParser otherwise derives a name from the type with
/// `String(describing:)` for every command in the tree at each start, and each such dynamic cast
/// scans all of the binary's protocol conformances: a third of `strata --version`'s time.
@Suite struct CommandNameTests {
    @Test func everyCommandHasAnExplicitName() {
        var unnamed: [String] = []
        func visit(_ command: ParsableCommand.Type) {
            if command.configuration.commandName == nil { unnamed.append("\(command)") }
            command.configuration.subcommands.forEach(visit)
        }
        visit(Strata.self)
        #expect(unnamed.isEmpty, "commands without commandName: \(unnamed)")
    }
}
