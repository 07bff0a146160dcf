import ImageSpec

/// What instructions are applied in: how words expand, and what earlier ones left behind.
public struct InstructionScope: Sendable {
    public var expander: WordExpander
    /// The build args in scope, with their values. Words see them where the config's ENV does
    /// not set the same variable (ENV wins, as in Docker).
    public var args: [String: String]
    /// Whether a CMD was set since the stage began (or earlier in a change list): an ENTRYPOINT
    /// then keeps it, and otherwise drops the CMD the image had.
    public var cmdSet: Bool

    public init(expander: WordExpander = WordExpander(), args: [String: String] = [:], cmdSet: Bool = false) {
        self.expander = expander
        self.args = args
        self.cmdSet = cmdSet
    }

    /// The variables words expand against: the config's ENV over the build args.
    public func variables(env: [String]) -> [String: String] {
        var variables = args
        for item in env {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            variables[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return variables
    }
}

/// What applying a metadata instruction recorded, in Docker's words.
public struct AppliedInstruction: Sendable, Equatable {
    /// The step as Docker's classic builder describes it, expanded: `ENV A=1`, `WORKDIR /srv/1`,
    /// `CMD ["echo" "hi"]` (Go's `%q`), `VOLUME [/data]` (Go's `%v`).
    public var comment: String
    /// The history's `created_by`: the shell, `#(nop)`, the comment.
    public var createdBy: String
}

extension ImageConfig {
    /// Applies one Dockerfile instruction to the config, as Docker's classic builder dispatches it:
    /// the one implementation behind the builder's metadata steps and `import`/`commit --change`.
    /// Words expand against the config's ENV over `scope.args` (CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
    /// ONBUILD and MAINTAINER are taken as written, as Docker does); EXPOSE ports and STOPSIGNAL
    /// are checked. ARG changes nothing here (the builder keeps build args) but gets its words.
    /// RUN, COPY, ADD and FROM change files, not the config, and are refused.
    @discardableResult
    public mutating func apply(_ instruction: Instruction, scope: inout InstructionScope) throws -> AppliedInstruction {
        var run = config
        let expansion = scope.expander, variables = scope.variables(env: run.env ?? [])
        func expand(_ word: String) throws -> String { try expansion.expand(word, variables: variables).value }
        let comment: String
        // WORKDIR's comment is one word with `#(nop)` (one space), the others' a word of their own.
        var oneWord = false
        switch instruction.arguments {
        case .env(let pairs):
            // Every pair expands against the ENV before the instruction: `ENV A=2 B=$A` gives B the old A.
            var env = run.env ?? []
            var entries: [String] = []
            for pair in pairs {
                let entry = "\(try expand(pair.key))=\(try expand(pair.value))"
                entries.append(entry)
                let key = Self.variableName(entry)
                // A variable already set changes in place; a new one goes last.
                if let i = env.firstIndex(where: { Self.variableName($0) == key }) { env[i] = entry } else { env.append(entry) }
            }
            run.env = env
            comment = "ENV " + entries.joined(separator: " ")
        case .label(let pairs):
            var labels = run.labels ?? [:]
            var entries: [String] = []
            for pair in pairs {
                let key = try expand(pair.key), value = try expand(pair.value)
                labels[key] = value
                entries.append("\(key)=\(value)")
            }
            run.labels = labels
            comment = "LABEL " + entries.joined(separator: " ")
        case .expose(let written):
            // Docker sorts the words as written, then expands each into any number of ports.
            var ports: [String] = []
            for word in written.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                ports += try expansion.expand(word, variables: variables).words
            }
            var exposed = Set(run.exposedPorts ?? [])
            for port in ports { exposed.formUnion(try PortSpec.exposedPorts(port)) }
            run.exposedPorts = exposed.sorted()
            comment = "EXPOSE " + ports.joined(separator: " ")
        case .volume(let paths):
            let expanded = try paths.map(expand)
            guard !expanded.contains(where: \.isEmpty) else {
                throw StrataError(.invalidArgument, "VOLUME specified can not be an empty string")
            }
            run.volumes = Set((run.volumes ?? []) + expanded).sorted()
            comment = "VOLUME " + GoFormat.list(expanded)
        case .user(let user):
            let value = try expand(user)
            run.user = value
            comment = "USER " + value
        case .workdir(let path):
            let value = try expand(path)
            guard !value.isEmpty else { throw StrataError(.invalidArgument, "WORKDIR: cannot normalize nothing") }
            // Absolute as given; relative to the current directory (joined and cleaned, as Go's filepath.Join).
            let directory = value.hasPrefix("/") ? value : PathCleaning.clean("/" + (run.workingDir ?? "") + "/" + value)
            run.workingDir = directory
            comment = "WORKDIR " + directory
            oneWord = true
        case .cmd(let form):
            let cmd = Self.command(form, shell: run.shell)
            run.cmd = cmd
            if !form.isEmpty { scope.cmdSet = true }
            comment = "CMD " + GoFormat.quotedList(cmd)
        case .entrypoint(let form):
            let entrypoint = Self.command(form, shell: run.shell)
            run.entrypoint = entrypoint
            if !scope.cmdSet { run.cmd = nil }
            comment = "ENTRYPOINT " + GoFormat.quotedList(entrypoint)
        case .shell(let shell):
            run.shell = shell
            comment = "SHELL " + GoFormat.list(shell)
        case .stopSignal(let signal):
            let value = try expand(signal)
            guard SignalName.isValid(value) else { throw StrataError(.invalidArgument, "Invalid signal: \(value)") }
            run.stopSignal = value
            comment = "STOPSIGNAL " + value
        case .healthcheck(let check):
            var healthcheck = ImageSpec.Healthcheck(test: check.test)
            healthcheck.interval = check.interval
            healthcheck.timeout = check.timeout
            healthcheck.startPeriod = check.startPeriod
            healthcheck.startInterval = check.startInterval
            healthcheck.retries = check.retries
            run.healthcheck = healthcheck
            comment = "HEALTHCHECK " + Self.goDescription(check)
        case .onbuild(let trigger):
            run.onBuild = (run.onBuild ?? []) + [trigger.expression]
            comment = "ONBUILD " + trigger.expression
        case .maintainer(let name):
            author = name
            comment = "MAINTAINER " + name
        case .arg(let declarations):
            comment = "ARG " + (try declarations.map { d in
                try expand(d.name) + (try d.defaultValue.map { "=" + (try expand($0)) } ?? "")
            }).joined(separator: " ")
        case .run, .copy, .add, .from:
            throw StrataError(.invalidArgument, "\(instruction.keyword) changes files, not only the image config: it cannot be applied to one")
        }
        config = run
        return AppliedInstruction(comment: comment, createdBy: nopCommand(comment, oneWord: oneWord))
    }

    /// Applies `import --change` / `commit --change` instructions in order (see `Dockerfile.parseChanges`).
    public mutating func apply(changes: [Instruction]) throws {
        var scope = InstructionScope()
        for change in changes { try apply(change, scope: &scope) }
    }

    /// What Docker's classic builder records as a step's `created_by` when it runs nothing: the
    /// config's shell, `#(nop)` and the comment. Docker passes most comments as a word of their own
    /// (two spaces after `#(nop)`) and WORKDIR's, COPY's and ADD's inside that word (one space).
    public func nopCommand(_ comment: String, oneWord: Bool = false) -> String {
        (config.shell ?? ["/bin/sh", "-c"]).joined(separator: " ") + (oneWord ? " #(nop) " : " #(nop)  ") + comment
    }

    /// CMD and ENTRYPOINT words: exec form as written; shell form through the SHELL.
    static func command(_ form: CommandForm, shell: [String]?) -> [String] {
        switch form {
        case .exec(let words): return words
        case .shell(let text): return (shell ?? ["/bin/sh", "-c"]) + [text]
        }
    }

    /// `KEY` of a `KEY=value` Env entry.
    static func variableName(_ entry: String) -> Substring {
        entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
    }

    /// Go's `%q` of Docker's `*HealthConfig`: `&{["CMD-SHELL" "curl …"] "30s" "3s" "0s" '\x03'}`
    /// (durations through their String, the retry count as a quoted rune). StartInterval, which
    /// Docker 20.10 lacks, appears only when set, where later Dockers put it.
    static func goDescription(_ check: Healthcheck) -> String {
        var fields = [GoFormat.quotedList(check.test)]
        fields += [check.interval, check.timeout, check.startPeriod].map { GoFormat.quote(GoFormat.duration($0 ?? 0)) }
        if let startInterval = check.startInterval { fields.append(GoFormat.quote(GoFormat.duration(startInterval))) }
        fields.append(GoFormat.quoteRune(check.retries ?? 0))
        return "&{" + fields.joined(separator: " ") + "}"
    }
}

extension CommandForm {
    /// No command at all (`CMD []`): Docker does not count it as setting one.
    var isEmpty: Bool {
        switch self {
        case .exec(let words): return words.isEmpty
        case .shell(let text): return text.isEmpty
        }
    }
}
