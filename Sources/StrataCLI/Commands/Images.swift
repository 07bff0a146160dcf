import ArgumentParser
import Foundation
import StrataEngine

/// `strata images` / `strata image ls`.
struct Images: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List images.",
        aliases: ["ls", "list"]
    )

    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Show all images (default hides intermediate images).") var all = false
    @Flag(help: "Show digests.") var digests = false
    @Option(name: .shortAndLong, help: "Filter output: dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE].")
    var filter: [String] = []
    @Option(help: "Output: table (default), json, or a Go template.") var format: String?
    @Flag(help: "Don't truncate output.") var noTrunc = false
    @Flag(name: .shortAndLong, help: "Only show image IDs.") var quiet = false
    @Argument(help: "Only images of this repository (and tag).") var repository: String?

    static let headers = ["Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                          "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
                          "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
                          "Containers": "CONTAINERS"]

    func run() async throws {
        let engine = try global.engine()
        let rows = try engine.images(all: all, filter: try ImageFilter(filter, store: try engine.store), repository: repository)
        let format = try OutputFormat(format)
        let now = Date()
        func id(_ image: ImageStore.Image) -> String { noTrunc ? image.id.description : image.id.short }
        if quiet {
            // One ID per row, as Docker prints them: an image with two tags shows twice.
            emit(rows.map { id($0.image) + "\n" }.joined())
            return
        }
        let json = rows.map { row -> JSONValue in
            .object([
                "Containers": .string("N/A"), "CreatedAt": .string(Units.createdAt(row.image.created)),
                "CreatedSince": .string(Units.ago(row.image.created, now: now)), "Digest": .string(row.digest),
                "ID": .string(id(row.image)), "Repository": .string(row.repository), "SharedSize": .string("N/A"),
                "Size": .string(Units.humanSize(row.image.size)), "Tag": .string(row.tag), "UniqueSize": .string("N/A"),
                "VirtualSize": .string(Units.humanSize(row.image.size, precision: 4)),
            ])
        }
        emit(try format.render(json, headers: Self.headers) {
            var table = Table(["REPOSITORY", "TAG"] + (digests ? ["DIGEST"] : []) + ["IMAGE ID", "CREATED", "SIZE"])
            for row in rows {
                table.append([row.repository, row.tag] + (digests ? [row.digest] : [])
                             + [id(row.image), Units.ago(row.image.created, now: now), Units.humanSize(row.image.size)])
            }
            return table.render()
        })
    }
}
