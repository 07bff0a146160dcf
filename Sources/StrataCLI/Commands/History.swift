import ArgumentParser
import Foundation
import StrataEngine

/// `strata history IMAGE`.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show the history of an image.")

    @OptionGroup var global: GlobalOptions
    @Flag(name: [.customShort("H"), .long], inversion: .prefixedNo,
          help: "Print sizes and dates in human readable format (-H=false for raw).") var human = true
    @Flag(help: "Don't truncate output.") var noTrunc = false
    @Flag(name: .shortAndLong, help: "Only show image IDs.") var quiet = false
    @Option(help: "Output: table (default), json, or a Go template.") var format: String?
    @Argument(help: "The image.") var image: String

    func run() async throws {
        let rows = try global.engine().history(image)
        let now = Date()
        func id(_ row: ImageStore.HistoryRow) -> String {
            guard let d = row.id else { return "<missing>" }
            return noTrunc ? d.description : d.short
        }
        if quiet {
            emit(rows.map { id($0) + "\n" }.joined())
            return
        }
        func createdBy(_ row: ImageStore.HistoryRow) -> String {
            let s = row.createdBy.replacingOccurrences(of: "\t", with: " ")
            return noTrunc ? s : Units.ellipsis(s, 45)
        }
        func created(_ row: ImageStore.HistoryRow) -> String {
            human ? Units.ago(row.created, now: now) : row.created.map { RFC3339.format(Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))) } ?? ""
        }
        func size(_ row: ImageStore.HistoryRow) -> String { human ? Units.humanSize(row.size) : String(row.size) }
        let json = rows.map { row -> JSONValue in
            .object([
                "Comment": .string(row.comment),
                "CreatedAt": .string(row.created.map { RFC3339.format(Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))) } ?? ""),
                "CreatedBy": .string(createdBy(row)), "CreatedSince": .string(Units.ago(row.created, now: now)),
                "ID": .string(id(row)), "Size": .string(size(row)),
            ])
        }
        let headers = ["ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                       "Size": "SIZE", "Comment": "COMMENT"]
        emit(try OutputFormat(format).render(json, headers: headers) {
            var table = Table(["IMAGE", human ? "CREATED" : "CREATED AT", "CREATED BY", "SIZE", "COMMENT"])
            for row in rows { table.append([id(row), created(row), createdBy(row), size(row), row.comment]) }
            return table.render()
        })
    }
}
