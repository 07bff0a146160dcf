import ImageSpec

/// Turns a logical line into a typed `Instruction`, with BuildKit's argument rules and messages.
struct InstructionParser {
    let escape: Character

    private static let keywords: Set<String> = [
        "from", "run", "cmd", "entrypoint", "shell", "copy", "add", "env", "arg", "label", "expose", "volume",
        "user", "workdir", "stopsignal", "healthcheck", "onbuild", "maintainer",
    ]

    func parse(_ raw: RawInstruction) throws -> Instruction {
        do {
            return try parse(line: raw.line, raw: raw)
        } catch {
            throw StrataError.dockerfileParse(line: raw.startLine, error.message)
        }
    }

    private func parse(line: String, raw: RawInstruction) throws(DockerfileSyntaxError) -> Instruction {
        let (written, flagWords, rest) = RawInstruction.split(line)
        let keyword = written.lowercased()
        guard Self.keywords.contains(keyword) else {
            // Named as written, as BuildKit does since it keeps the keyword's case in the AST.
            throw DockerfileSyntaxError("unknown instruction: \(written)")
        }
        let flags = try FlagParser(flagWords, keyword: keyword)
        let arguments: InstructionArguments
        switch keyword {
        case "from": arguments = .from(try from(rest, flags: flags))
        case "run":
            guard !rest.isEmpty else { throw DockerfileSyntaxError("RUN requires at least one argument") }
            arguments = .run(try run(rest, flags: flags))
        case "cmd": arguments = .cmd(try commandForm(rest))
        case "entrypoint": arguments = .entrypoint(try commandForm(rest))
        case "shell":
            guard !rest.isEmpty else { throw DockerfileSyntaxError("SHELL requires at least one argument") }
            guard case .exec(let words) = try commandForm(rest) else {
                throw DockerfileSyntaxError("SHELL requires the arguments to be in JSON form")
            }
            guard !words.isEmpty else { throw DockerfileSyntaxError("SHELL requires at least one argument") }
            arguments = .shell(words)
        case "copy": arguments = .copy(try copy(rest, flags: flags, heredocs: raw.heredocs, keyword: "COPY"))
        case "add": arguments = .add(try copy(rest, flags: flags, heredocs: raw.heredocs, keyword: "ADD"))
        case "env": arguments = .env(try keyValuePairs(rest, keyword: "ENV"))
        case "label": arguments = .label(try keyValuePairs(rest, keyword: "LABEL"))
        case "arg": arguments = .arg(try argDeclarations(rest))
        case "expose":
            let ports = ArgumentSplitter.whitespaceWords(rest)
            guard !ports.isEmpty else { throw DockerfileSyntaxError("EXPOSE requires at least one argument") }
            arguments = .expose(ports)
        case "volume": arguments = .volume(try volumes(rest))
        case "user": arguments = .user(try single(rest, keyword: "USER"))
        case "workdir": arguments = .workdir(try single(rest, keyword: "WORKDIR"))
        case "stopsignal": arguments = .stopSignal(try single(rest, keyword: "STOPSIGNAL"))
        case "maintainer": arguments = .maintainer(try single(rest, keyword: "MAINTAINER"))
        case "healthcheck": arguments = .healthcheck(try healthcheck(rest, flags: flags))
        default: arguments = .onbuild(try onbuild(rest, line: line, raw: raw))
        }
        return Instruction(
            keyword: keyword.uppercased(), startLine: raw.startLine, endLine: raw.endLine,
            original: line.trimmingSpace(), flags: flags.flags, heredocs: raw.heredocs, arguments: arguments)
    }

    private func from(_ rest: String, flags: FlagParser) throws(DockerfileSyntaxError) -> FromArguments {
        let words = ArgumentSplitter.whitespaceWords(rest)
        var stageName: String?
        if words.count == 3, words[1].lowercased() == "as" {
            let name = words[2].lowercased()
            guard Self.isValidStageName(name) else {
                throw DockerfileSyntaxError(
                    "invalid name for build stage: \"\(words[2])\", name can't start with a number or contain symbols")
            }
            stageName = name
        } else if words.count != 1 {
            throw DockerfileSyntaxError("FROM requires either one or three arguments")
        }
        return FromArguments(image: words[0], platform: flags.string("platform"), stageName: stageName)
    }

    /// `^[a-z][a-z0-9-_\.]*$`
    static func isValidStageName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    private func run(_ rest: String, flags: FlagParser) throws(DockerfileSyntaxError) -> RunArguments {
        var mounts: [RunMount] = []
        for value in flags.strings("mount") { mounts.append(try RunMount.parse(value)) }
        let network = flags.string("network")
        if let network, !["default", "none", "host"].contains(network) {
            throw DockerfileSyntaxError("invalid network mode \"\(network)\"")
        }
        let security = flags.string("security")
        if let security, !["sandbox", "insecure"].contains(security) {
            throw DockerfileSyntaxError("security \"\(security)\" is not valid")
        }
        return RunArguments(command: try commandForm(rest), mounts: mounts, network: network, security: security)
    }

    /// JSON array → exec form; malformed JSON → shell form (as BuildKit's parseMaybeJSON).
    private func commandForm(_ rest: String) throws(DockerfileSyntaxError) -> CommandForm {
        switch ExecFormJSON.parse(rest) {
        case .strings(let words): return .exec(words)
        case .notStringArray: throw DockerfileSyntaxError(ExecFormJSON.notStringArrayMessage)
        case .invalid: return .shell(rest)
        }
    }

    /// JSON array or whitespace-separated words (COPY, ADD, VOLUME).
    private func jsonOrWords(_ rest: String) throws(DockerfileSyntaxError) -> [String] {
        switch ExecFormJSON.parse(rest) {
        case .strings(let words): return words
        case .notStringArray: throw DockerfileSyntaxError(ExecFormJSON.notStringArrayMessage)
        case .invalid: return ArgumentSplitter.whitespaceWords(rest)
        }
    }

    private func copy(
        _ rest: String, flags: FlagParser, heredocs: [Heredoc], keyword: String
    ) throws(DockerfileSyntaxError) -> CopyArguments {
        let words = try jsonOrWords(rest)
        // Exec form has no heredocs, and a `<<name` word only means one when a body was read for it.
        let heredocNames = Set(heredocs.map(\.name))
        let isExecForm = if case .strings = ExecFormJSON.parse(rest) { true } else { false }
        guard words.count >= 2, let destination = words.last else {
            throw DockerfileSyntaxError(
                "\(keyword) requires at least two arguments, but only one was provided. Destination could not be determined.")
        }
        if !isExecForm, HeredocHeader.parse(destination) != nil {
            throw DockerfileSyntaxError("\(keyword) cannot accept a heredoc as a destination")
        }
        var sources: [String] = []
        var heredocSources: [String] = []
        for word in words.dropLast() {
            if !isExecForm, let header = HeredocHeader.parse(word), heredocNames.contains(header.name) {
                heredocSources.append(header.name)
            } else {
                sources.append(word)
            }
        }
        return CopyArguments(
            sources: sources, heredocSources: heredocSources, destination: destination, from: flags.string("from"),
            chown: flags.string("chown"), chmod: flags.string("chmod"), link: flags.bool("link"),
            parents: flags.bool("parents"), excludes: flags.strings("exclude"), checksum: flags.string("checksum"),
            keepGitDir: flags.bool("keep-git-dir"))
    }

    private func words(_ rest: String) throws(DockerfileSyntaxError) -> [String] {
        let (words, openQuote) = ArgumentSplitter.shellWords(rest, escape: escape.unicodeScalars.first ?? "\\")
        if let openQuote {
            let kind = openQuote == "'" ? "single-quote" : "double-quote"
            throw DockerfileSyntaxError("unexpected end of statement while looking for matching \(kind)")
        }
        return words
    }

    /// ENV and LABEL: `K=V K2="a b"`, or the legacy `K some value` (one pair, rest of line is the value).
    private func keyValuePairs(_ rest: String, keyword: String) throws(DockerfileSyntaxError) -> [KeyValuePair] {
        let words = try words(rest)
        guard let first = words.first else { throw DockerfileSyntaxError("\(keyword) requires at least one argument") }
        guard first.contains("=") else {
            let scalars = Array(rest.unicodeScalars)
            let isSeparator: (Unicode.Scalar) -> Bool = { " \t\u{0B}\u{0C}\r".unicodeScalars.contains($0) }
            guard let end = scalars.firstIndex(where: isSeparator) else {
                throw DockerfileSyntaxError("\(keyword) must have two arguments")
            }
            let key = String(String.UnicodeScalarView(scalars[..<end]))
            let value = String(String.UnicodeScalarView(scalars[end...].drop(while: isSeparator)))
            return [KeyValuePair(key: key, value: value)]
        }
        var pairs: [KeyValuePair] = []
        for word in words {
            guard let equals = word.firstIndex(of: "=") else {
                throw DockerfileSyntaxError(
                    "Syntax error - can't find = in \"\(word)\". Must be of the form: name=value")
            }
            let key = String(word[..<equals])
            guard !key.isEmpty else { throw DockerfileSyntaxError("\(keyword) names can not be blank") }
            pairs.append(KeyValuePair(key: key, value: String(word[word.index(after: equals)...])))
        }
        return pairs
    }

    private func argDeclarations(_ rest: String) throws(DockerfileSyntaxError) -> [ArgDeclaration] {
        let words = try words(rest)
        guard !words.isEmpty else { throw DockerfileSyntaxError("ARG requires at least one argument") }
        var declarations: [ArgDeclaration] = []
        for word in words {
            if let equals = word.firstIndex(of: "=") {
                let name = String(word[..<equals])
                guard !name.isEmpty else { throw DockerfileSyntaxError("ARG names can not be blank") }
                declarations.append(ArgDeclaration(name: name, defaultValue: String(word[word.index(after: equals)...])))
            } else {
                declarations.append(ArgDeclaration(name: word))
            }
        }
        return declarations
    }

    private func volumes(_ rest: String) throws(DockerfileSyntaxError) -> [String] {
        let paths = try jsonOrWords(rest)
        guard !paths.isEmpty else { throw DockerfileSyntaxError("VOLUME requires at least one argument") }
        for path in paths where path.trimmingSpace().isEmpty {
            throw DockerfileSyntaxError("VOLUME specified can not be an empty string")
        }
        return paths
    }

    /// USER, WORKDIR, STOPSIGNAL, MAINTAINER take the rest of the line as one (unexpanded) value.
    private func single(_ rest: String, keyword: String) throws(DockerfileSyntaxError) -> String {
        guard !rest.isEmpty else { throw DockerfileSyntaxError("\(keyword) requires exactly one argument") }
        return rest
    }

    private func healthcheck(_ rest: String, flags: FlagParser) throws(DockerfileSyntaxError) -> Healthcheck {
        let scalars = Array(rest.unicodeScalars)
        guard !scalars.isEmpty else { throw DockerfileSyntaxError("HEALTHCHECK requires at least one argument") }
        let end = scalars.firstIndex(where: ArgumentSplitter.isSpace) ?? scalars.count
        let type = String(String.UnicodeScalarView(scalars[..<end])).uppercased()
        let command = String(String.UnicodeScalarView(scalars[end...].drop(while: ArgumentSplitter.isSpace)))
        if type == "NONE" {
            guard command.isEmpty else { throw DockerfileSyntaxError("HEALTHCHECK NONE takes no arguments") }
            return Healthcheck(test: ["NONE"])
        }
        guard type == "CMD" else {
            throw DockerfileSyntaxError("Unknown type \"\(type)\" in HEALTHCHECK (try CMD)")
        }
        var check: Healthcheck
        switch try commandForm(command) {
        case .exec(let words) where !words.isEmpty: check = Healthcheck(test: ["CMD"] + words)
        case .shell(let text) where !text.isEmpty: check = Healthcheck(test: ["CMD-SHELL", text])
        default: throw DockerfileSyntaxError("Missing command after HEALTHCHECK CMD")
        }
        check.interval = try duration(flags, "interval")
        check.timeout = try duration(flags, "timeout")
        check.startPeriod = try duration(flags, "start-period")
        check.startInterval = try duration(flags, "start-interval")
        if let retries = flags.string("retries") {
            guard let count = Int32(retries) else {
                throw DockerfileSyntaxError("strconv.ParseInt: parsing \"\(retries)\": invalid syntax")
            }
            guard count >= 0 else { throw DockerfileSyntaxError("--retries cannot be negative (\(count))") }
            check.retries = Int(count)
        }
        return check
    }

    private func duration(_ flags: FlagParser, _ name: String) throws(DockerfileSyntaxError) -> Int64? {
        guard let text = flags.string(name) else { return nil }
        guard let nanoseconds = GoDuration.nanoseconds(text) else {
            throw DockerfileSyntaxError("time: invalid duration \"\(text)\"")
        }
        if nanoseconds != 0, nanoseconds < 1_000_000 {
            throw DockerfileSyntaxError("Interval \"\(name)\" cannot be less than 1ms")
        }
        return nanoseconds
    }

    private func onbuild(_ rest: String, line: String, raw: RawInstruction) throws(DockerfileSyntaxError) -> OnbuildTrigger {
        guard !rest.isEmpty else { throw DockerfileSyntaxError("ONBUILD requires at least one argument") }
        let trigger = RawInstruction.split(rest).keyword.uppercased()
        switch trigger {
        case "ONBUILD": throw DockerfileSyntaxError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        case "FROM", "MAINTAINER": throw DockerfileSyntaxError("\(trigger) isn't allowed as an ONBUILD trigger")
        default: break
        }
        let instruction = try parse(line: rest, raw: raw)
        // Docker stores the text after ONBUILD, with heredoc bodies appended so the trigger is self-contained.
        var expression = String(line.trimmingSpace().dropFirst("ONBUILD".count)).trimmingLeadingSpace()
        for heredoc in raw.heredocs { expression += "\n" + heredoc.content + heredoc.name }
        return OnbuildTrigger(expression: expression, instruction: instruction)
    }
}
