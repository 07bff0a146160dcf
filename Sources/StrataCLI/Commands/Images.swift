import ArgumentParser
import Foundation
import ImageSpec
import ImageStore

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

    struct Row {
        var repository: String
        var tag: String
        var digest: String
        var image: ImageStore.Image
    }

    func run() async throws {
        let store = try global.store()
        let filters = try ImageFilters(filter, store: store)
        let rows = try listRows(store, filters: filters)
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

    func listRows(_ store: ImageStore, filters: ImageFilters) throws -> [Row] {
        let images = try store.images().sorted {
            ($0.created ?? $0.added, $0.id.description) > ($1.created ?? $1.added, $1.id.description)
        }
        let wanted = try repository.map { try Reference(parsing: $0) }
        let parents = Set(images.compactMap(\.parent))
        var rows: [Row] = []
        for image in images where filters.accepts(image) {
            let tags = try store.tags(of: image.id).sorted { $0.familiarString < $1.familiarString }
            let digests = try store.repoDigests(of: image.id)
            func digest(for name: String) -> String {
                digests.first { $0.name == name }?.digest?.description ?? "<none>"
            }
            var imageRows: [Row] = tags.map {
                Row(repository: $0.familiarName, tag: $0.tag ?? "<none>", digest: digest(for: $0.name), image: image)
            }
            // A repository known only by digest shows with tag <none>.
            for d in digests where !tags.contains(where: { $0.name == d.name }) {
                imageRows.append(Row(repository: d.familiarName, tag: "<none>", digest: d.digest!.description, image: image))
            }
            if imageRows.isEmpty {
                // Untagged: dangling if nothing builds on it; intermediate otherwise (shown with -a).
                if parents.contains(image.id), !all { continue }
                imageRows.append(Row(repository: "<none>", tag: "<none>", digest: "<none>", image: image))
            }
            if let dangling = filters.dangling, dangling != (tags.isEmpty && digests.isEmpty) { continue }
            if let wanted {
                imageRows = imageRows.filter {
                    $0.repository == wanted.familiarName && (wanted.tag == nil || $0.tag == wanted.tag)
                }
            }
            imageRows = imageRows.filter { filters.acceptsName($0.repository, $0.tag) }
            rows += imageRows
        }
        return rows
    }
}

/// `--filter` for image listings and prune.
struct ImageFilters {
    var dangling: Bool?
    var references: [String] = []
    var before: Date?
    var since: Date?
    var labels: [(String, String?)] = []
    var labelsOf: (ImageStore.Image) -> [String: String] = { _ in [:] }

    init(_ raw: [String], store: ImageStore) throws {
        for item in raw {
            guard let eq = item.firstIndex(of: "=") else {
                throw StrataError(.invalidArgument, "bad format of filter \"\(item)\" (expected name=value)")
            }
            let key = item[..<eq].lowercased()
            let value = String(item[item.index(after: eq)...])
            switch key {
            case "dangling":
                guard let b = Bool(value.lowercased()) ?? (value == "1" ? true : value == "0" ? false : nil) else {
                    throw StrataError(.invalidArgument, "invalid filter 'dangling=\(value)': use true or false")
                }
                dangling = b
            case "reference": references.append(value)
            case "before": before = try store.resolve(value).created ?? .distantPast
            case "since": since = try store.resolve(value).created ?? .distantPast
            case "label":
                if let e = value.firstIndex(of: "=") {
                    labels.append((String(value[..<e]), String(value[value.index(after: e)...])))
                } else {
                    labels.append((value, nil))
                }
            default:
                throw StrataError(.invalidArgument, "invalid filter '\(key)' (supported: dangling, reference, before, since, label)")
            }
        }
        if !labels.isEmpty {
            labelsOf = { image in (try? store.config(of: image).config.config.labels ?? [:]) ?? [:] }
        }
    }

    func accepts(_ image: ImageStore.Image) -> Bool {
        let created = image.created ?? image.added
        if let before, created >= before { return false }
        if let since, created <= since { return false }
        if !labels.isEmpty {
            let have = labelsOf(image)
            for (k, v) in labels where have[k] == nil || (v != nil && have[k] != v) { return false }
        }
        return true
    }

    func acceptsName(_ repository: String, _ tag: String) -> Bool {
        references.isEmpty || references.contains { pattern in
            Glob.matches(pattern, repository) || Glob.matches(pattern, "\(repository):\(tag)")
        }
    }
}

/// Shell-style `*` and `?` matching for reference filters (`*` does not cross `/`, as in Go's path.Match).
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            switch p[i] {
            case "*":
                var k = j
                while true {
                    if match(i + 1, k) { return true }
                    if k == t.count || t[k] == "/" { return false }
                    k += 1
                }
            case "?": return j < t.count && t[j] != "/" && match(i + 1, j + 1)
            default: return j < t.count && t[j] == p[i] && match(i + 1, j + 1)
            }
        }
        return match(0, 0)
    }
}
