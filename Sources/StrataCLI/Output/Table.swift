/// Aligned columns like Go's tabwriter as Docker configures it (min width 10, padding 3):
/// every column but the last is padded to its widest cell plus three.
public struct Table {
    public var header: [String]
    public var rows: [[String]] = []

    public init(_ header: [String]) { self.header = header }

    public mutating func append(_ row: [String]) { rows.append(row) }

    public func render() -> String {
        let all = [header] + rows
        let columns = header.count
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (i, cell) in row.enumerated() where i < columns - 1 {
                widths[i] = max(widths[i], cell.unicodeScalars.count + 3, 10)
            }
        }
        var out = ""
        for row in all {
            for (i, cell) in row.enumerated() {
                out += cell
                if i < columns - 1 { out += String(repeating: " ", count: widths[i] - cell.unicodeScalars.count) }
            }
            out += "\n"
        }
        return out
    }
}
