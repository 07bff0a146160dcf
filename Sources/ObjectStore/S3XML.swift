/// The few values Strata reads from S3's XML answers — an error's `Code`, an `UploadId`, a
/// listing's `Key`s — found by element name. The answers are flat and machine-written; a full
/// XML parser (FoundationXML) would bring libxml2 into the static binary for this.
enum S3XML {
    /// The text of every `<name>…</name>` in document order, entities decoded.
    static func values(_ name: String, in document: String) -> [String] {
        elements(name, in: document).map(decode)
    }

    static func value(_ name: String, in document: String) -> String? { values(name, in: document).first }

    /// The raw inside of every `<name>…</name>` (nested markup kept), for records like `<Contents>`.
    static func elements(_ name: String, in document: String) -> [Substring] {
        var found: [Substring] = []
        var rest = document[...]
        let open = "<\(name)>", close = "</\(name)>"
        while let start = rest.range(of: open) {
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    static func decode(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            rest = rest[amp...]
            guard let semicolon = rest.firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: rest.startIndex)..<semicolon]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) { out.unicodeScalars.append(scalar) } else { out += "&\(entity);" }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
