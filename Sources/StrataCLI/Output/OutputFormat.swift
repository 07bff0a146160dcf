import Foundation
import ImageSpec

/// What `--format` asks for: Docker's default table, one JSON object per line (`json`), or a Go template.
public enum OutputFormat: Sendable {
    case table
    case json
    case template(GoTemplate, table: Bool)

    public init(_ raw: String?) throws {
        guard let raw, !raw.isEmpty, raw != "table" else { self = .table; return }
        if raw == "json" { self = .json; return }
        if raw.hasPrefix("table ") {
            self = .template(try GoTemplate(String(raw.dropFirst(6))), table: true)
            return
        }
        self = .template(try GoTemplate(raw), table: false)
    }

    /// Renders rows (each a JSON object of Docker's field names) in the chosen format; `table`
    /// is the default rendering.
    /// `headers` names each field's column for `table {{…}}` templates (ID → IMAGE ID).
    public func render(_ rows: [JSONValue], headers: [String: String] = [:], table: () -> String) throws -> String {
        switch self {
        case .table:
            return table()
        case .json:
            let json = try GoTemplate("{{json .}}")
            return try rows.map { try json.render($0) + "\n" }.joined()
        case .template(let template, let isTable):
            let lines = try rows.map { try template.render($0) }
            guard isTable else { return lines.map { $0 + "\n" }.joined() }
            let header = try template.render(.object(headers.mapValues(JSONValue.string)))
            var table = Table(header.components(separatedBy: "\t"))
            for line in lines { table.append(line.components(separatedBy: "\t")) }
            return table.render()
        }
    }
}
