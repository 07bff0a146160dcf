/// Validates an instruction's `--flags` against the ones it accepts (BuildKit's BFlags).
struct FlagParser {
    enum Kind { case string, bool, repeatable }

    /// The flags each instruction accepts; instructions not listed accept none.
    static let accepted: [String: [String: Kind]] = [
        "from": ["platform": .string],
        "run": ["mount": .repeatable, "network": .string, "security": .string],
        "copy": [
            "from": .string, "chown": .string, "chmod": .string, "link": .bool, "parents": .bool,
            "exclude": .repeatable,
        ],
        "add": [
            "chown": .string, "chmod": .string, "link": .bool, "keep-git-dir": .bool, "checksum": .string,
            "exclude": .repeatable,
        ],
        "healthcheck": [
            "interval": .string, "timeout": .string, "start-period": .string, "start-interval": .string,
            "retries": .string,
        ],
    ]

    private(set) var flags: [InstructionFlag] = []
    private var values: [String: [String]] = [:]

    init(_ words: [String], keyword: String) throws(DockerfileSyntaxError) {
        let accepted = Self.accepted[keyword] ?? [:]
        for word in words {
            let body = word.dropFirst(2)
            let name: String
            let value: String?
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                value = String(body[body.index(after: equals)...])
            } else {
                name = String(body)
                value = nil
            }
            guard let kind = accepted[name] else { throw DockerfileSyntaxError("unknown flag: \(name)") }
            if values[name] != nil, kind != .repeatable {
                throw DockerfileSyntaxError("duplicate flag specified: \(name)")
            }
            switch kind {
            case .bool:
                if value == "" { throw DockerfileSyntaxError("missing a value on flag: \(name)") }
                let lowered = value?.lowercased() ?? "true"
                guard lowered == "true" || lowered == "false" else {
                    throw DockerfileSyntaxError("expecting boolean value for flag \(name), not: \(value ?? "")")
                }
                values[name, default: []].append(lowered)
            case .string, .repeatable:
                guard let value else { throw DockerfileSyntaxError("missing a value on flag: \(name)") }
                values[name, default: []].append(value)
            }
            flags.append(InstructionFlag(name: name, value: value))
        }
    }

    func string(_ name: String) -> String? { values[name]?.last }
    func bool(_ name: String) -> Bool { values[name]?.last == "true" }
    func strings(_ name: String) -> [String] { values[name] ?? [] }
}
