import ImageSpec

/// A Dockerfile instruction applied to a config by `import --change` and `commit --change`
/// (Docker allows CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR).
public struct ConfigChange: Sendable, Equatable {
    public var instruction: String
    public var arguments: String

    public static let allowed = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"]

    public init(parsing line: String) throws {
        let trimmed = line.trimmingWhitespace
        let parts = trimmed.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
        guard let first = parts.first else { throw StrataError(.invalidArgument, "empty --change instruction") }
        instruction = first.uppercased()
        arguments = parts.count > 1 ? String(parts[1]).trimmingWhitespace : ""
        guard Self.allowed.contains(instruction) else {
            throw StrataError(.invalidArgument,
                "\(instruction) is not a valid change command (allowed: \(Self.allowed.joined(separator: ", ")))")
        }
        guard !arguments.isEmpty else { throw StrataError(.invalidArgument, "\(instruction) requires at least one argument") }
    }

    /// Applies the change to a container config.
    public func apply(to config: inout ContainerConfig) throws {
        switch instruction {
        case "CMD": config.cmd = try commandForm(shell: config.shell)
        case "ENTRYPOINT": config.entrypoint = try commandForm(shell: config.shell)
        case "ENV":
            for (k, v) in try keyValues() { config.setEnvironment(k, v) }
        case "LABEL":
            var labels = config.labels ?? [:]
            for (k, v) in try keyValues() { labels[k] = v }
            config.labels = labels
        case "EXPOSE":
            var ports = Set(config.exposedPorts ?? [])
            for word in arguments.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                let port = word.contains("/") ? word.lowercased() : "\(word)/tcp"
                let number = port.split(separator: "/")[0]
                guard let n = Int(number), (1...65535).contains(n) else {
                    throw StrataError(.invalidArgument, "EXPOSE: invalid port \"\(word)\"")
                }
                ports.insert(port)
            }
            config.exposedPorts = ports.sorted()
        case "VOLUME":
            var volumes = Set(config.volumes ?? [])
            for path in try listForm() { volumes.insert(path) }
            config.volumes = volumes.sorted()
        case "WORKDIR": config.workingDir = arguments
        case "USER": config.user = arguments
        case "STOPSIGNAL": config.stopSignal = arguments
        case "ONBUILD": config.onBuild = (config.onBuild ?? []) + [arguments]
        default: break
        }
    }

    /// JSON exec form `["a", "b"]`, else shell form wrapped in the shell (`/bin/sh -c`).
    private func commandForm(shell: [String]?) throws -> [String] {
        if let list = try jsonList() { return list }
        return (shell ?? ["/bin/sh", "-c"]) + [arguments]
    }

    private func listForm() throws -> [String] {
        if let list = try jsonList() { return list }
        return arguments.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    private func jsonList() throws -> [String]? {
        guard arguments.hasPrefix("[") else { return nil }
        guard let value = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(arguments.utf8)),
              case .array(let items) = value, items.allSatisfy({ $0.stringValue != nil }) else {
            return nil  // Docker treats a malformed JSON list as shell form
        }
        return items.compactMap(\.stringValue)
    }

    /// `K=V K2="v 2"` pairs, or the legacy `K V` form.
    private func keyValues() throws -> [(String, String)] {
        let words = try ShellWords.split(arguments)
        if let first = words.first, !first.contains("=") {
            let value = arguments.dropFirst(first.count).trimmingWhitespace
            return [(first, try ShellWords.split(value).joined(separator: " "))]
        }
        return try words.map { word in
            guard let eq = word.firstIndex(of: "="), eq != word.startIndex else {
                throw StrataError(.invalidArgument, "\(instruction): \"\(word)\" is not KEY=VALUE")
            }
            return (String(word[..<eq]), String(word[word.index(after: eq)...]))
        }
    }
}

/// Splits words the way Dockerfile key=value lists are: whitespace separates, quotes and backslashes group.
enum ShellWords {
    static func split(_ s: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in s {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" && quote != "'" { escaped = true; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "\"" || c == "'" { quote = c; inWord = true; continue }
            if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        if quote != nil { throw StrataError(.invalidArgument, "unterminated quote in \"\(s)\"") }
        if inWord { words.append(current) }
        return words
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

import Foundation
