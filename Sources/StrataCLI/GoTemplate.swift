import ImageSpec

/// The subset of Go's text/template that `docker … --format` users write, evaluated over `JSONValue`.
///
/// Parsed once (lexer → AST), rendered many times. Output follows Go: a missing map key prints
/// `<no value>`, values print the way fmt's `%v` prints them, and the function set is Docker's
/// (`json`, `join`, `split`, `upper`, `lower`, `title`, `truncate`, `pad`) plus Go's builtins
/// that format strings use (`index`, `len`, `print[f|ln]`, `not`, `and`, `or`, `eq`, `ne`, `lt`, …).
public struct GoTemplate: Sendable {
    private let nodes: [Node]
    private let source: String

    public init(_ source: String) throws {
        // Docker CLI turns a literal `\t` / `\n` in --format into tab / newline before parsing.
        let source = source.replacing("\\t", with: "\t").replacing("\\n", with: "\n")
        self.source = source
        do {
            var lexer = Lexer(source)
            var parser = Parser(tokens: try lexer.lex())
            nodes = try parser.parse()
        } catch let failure as Failure {
            throw StrataError(.invalidArgument, "invalid --format template: \(failure.located(in: source))")
        }
    }

    public func render(_ data: JSONValue) throws -> String {
        var exec = Exec(vars: [("$", data)])
        do {
            try exec.walk(nodes, data)
        } catch let failure as Failure {
            throw StrataError(.invalidArgument, "executing --format template: \(failure.located(in: source))")
        }
        return exec.out
    }
}

// MARK: - Errors

private struct Failure: Error {
    var pos: Int          // offset in unicode scalars
    var message: String
    init(_ pos: Int, _ message: String) { self.pos = pos; self.message = message }

    func located(in source: String) -> String {
        var line = 1, column = 1
        for u in source.unicodeScalars.prefix(pos) {
            if u == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return "line \(line), column \(column): \(message)"
    }
}

// MARK: - Lexer

private enum Kind: Equatable, Sendable {
    case text(String), open, close
    case dot, field(String), variable(String), ident(String), literal(JSONValue)
    case pipe, lparen, rparen, declare, assign, comma, eof

    var describe: String {
        switch self {
        case .text: "text"
        case .open: "{{"
        case .close: "}}"
        case .dot: "."
        case .field(let f): ".\(f)"
        case .variable(let v), .ident(let v): v
        case .literal(let v): Fmt.json(v)
        case .pipe: "|"
        case .lparen: "("
        case .rparen: ")"
        case .declare: ":="
        case .assign: "="
        case .comma: ","
        case .eof: "end of template"
        }
    }
}

private struct Token: Sendable {
    var kind: Kind
    var pos: Int
    var attached = false  // no space before it: `.A.B` and `$x.A` chain, `.A .B` are two operands
}

private extension Unicode.Scalar {
    var isSpace: Bool { self == " " || self == "\t" || self == "\n" || self == "\r" }
    var isDigit: Bool { value >= 0x30 && value <= 0x39 }
    var isIdentStart: Bool { self == "_" || properties.isAlphabetic }
    var isIdent: Bool { isIdentStart || isDigit || properties.numericType != nil }
}

private struct Lexer {
    let s: [Unicode.Scalar]
    var i = 0
    var tokens: [Token] = []

    init(_ source: String) { s = Array(source.unicodeScalars) }

    func at(_ k: Int) -> Unicode.Scalar? { k < s.count ? s[k] : nil }
    func text(_ r: Range<Int>) -> String { String(String.UnicodeScalarView(s[r])) }
    func has(_ literal: String, at k: Int) -> Bool {
        var k = k
        for u in literal.unicodeScalars {
            guard at(k) == u else { return false }
            k += 1
        }
        return true
    }
    func find(_ literal: String, from k: Int) -> Int? {
        (k..<max(k, s.count)).first { has(literal, at: $0) }
    }

    mutating func lex() throws -> [Token] {
        var trimNext = false  // the previous action ended with ` -}}`
        while true {
            let open = find("{{", from: i) ?? s.count
            // `{{- ` needs the space, else `{{-3}}` would be a trim marker rather than a number.
            let trimLeft = open < s.count && at(open + 2) == "-" && at(open + 3)?.isSpace == true
            var a = i, b = open
            if trimNext { while a < b, s[a].isSpace { a += 1 } }
            if trimLeft { while b > a, s[b - 1].isSpace { b -= 1 } }
            if a < b { tokens.append(Token(kind: .text(text(a..<b)), pos: a)) }
            guard open < s.count else { break }
            i = open + (trimLeft ? 4 : 2)
            if has("/*", at: i) {
                guard let end = find("*/", from: i + 2) else { throw Failure(open, "unclosed comment") }
                i = end + 2
                guard let trim = closeDelimiter() else { throw Failure(open, "comment ends before closing delimiter") }
                trimNext = trim
                continue
            }
            tokens.append(Token(kind: .open, pos: open))
            trimNext = try action(open)
        }
        tokens.append(Token(kind: .eof, pos: s.count))
        return tokens
    }

    /// Consumes `}}` or ` -}}` (the dash needs whitespace before it); returns whether it trims.
    mutating func closeDelimiter() -> Bool? {
        var k = i
        while at(k)?.isSpace == true { k += 1 }
        if has("-}}", at: k), k > 0, s[k - 1].isSpace { i = k + 3; return true }
        if has("}}", at: k) { i = k + 2; return false }
        return nil
    }

    /// Lexes one action's tokens up to and including its close delimiter.
    mutating func action(_ open: Int) throws -> Bool {
        var spaced = true
        while true {
            guard i < s.count else { throw Failure(open, "unclosed action") }
            if let trim = closeDelimiter() {
                tokens.append(Token(kind: .close, pos: i))
                return trim
            }
            let c = s[i], start = i, attached = !spaced
            if c.isSpace { i += 1; spaced = true; continue }
            spaced = false
            let kind: Kind
            switch c {
            case "|": kind = .pipe; i += 1
            case "(": kind = .lparen; i += 1
            case ")": kind = .rparen; i += 1
            case ",": kind = .comma; i += 1
            case "=": kind = .assign; i += 1
            case ":":
                guard at(i + 1) == "=" else { throw Failure(i, "expected :=") }
                kind = .declare; i += 2
            case "\"": kind = .literal(.string(try quoted()))
            case "`":
                guard let end = find("`", from: i + 1) else { throw Failure(i, "unterminated raw quoted string") }
                kind = .literal(.string(text(i + 1..<end))); i = end + 1
            case "." where at(i + 1)?.isIdentStart == true: i += 1; kind = .field(word())
            case ".": kind = .dot; i += 1
            case "$": i += 1; kind = .variable("$" + word())
            case _ where c.isDigit || c == "-" || c == "+": kind = try number()
            case _ where c.isIdentStart: kind = .ident(word())
            default: throw Failure(i, "unexpected \"\(Character(c))\" in action")
            }
            tokens.append(Token(kind: kind, pos: start, attached: attached))
        }
    }

    mutating func word() -> String {
        let a = i
        while at(i)?.isIdent == true { i += 1 }
        return text(a..<i)
    }

    mutating func number() throws -> Kind {
        let a = i
        if s[i] == "-" || s[i] == "+" { i += 1 }
        let digits = i
        while at(i)?.isDigit == true { i += 1 }
        var integral = true
        if at(i) == ".", at(i + 1)?.isDigit == true {
            integral = false
            i += 1
            while at(i)?.isDigit == true { i += 1 }
        }
        let literal = text(a..<i)
        guard i > digits, at(i)?.isIdent != true else { throw Failure(a, "bad number syntax: \(literal)") }
        if integral, let n = Int64(literal) { return .literal(.int(n)) }
        guard let d = Double(literal) else { throw Failure(a, "bad number syntax: \(literal)") }
        return .literal(.double(d))
    }

    mutating func quoted() throws -> String {
        let open = i
        var out = String.UnicodeScalarView()
        i += 1
        while true {
            guard let c = at(i) else { throw Failure(open, "unterminated quoted string") }
            i += 1
            if c == "\"" { return String(out) }
            // A raw newline or tab is accepted: the `\n`/`\t` pre-pass in init may have put it there.
            guard c == "\\" else { out.append(c); continue }
            guard let e = at(i) else { throw Failure(open, "unterminated quoted string") }
            i += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\\", "\"", "'": out.append(e)
            case "x", "u", "U":
                let n = e == "x" ? 2 : e == "u" ? 4 : 8
                guard i + n <= s.count, let v = UInt32(text(i..<i + n), radix: 16), let u = Unicode.Scalar(v) else {
                    throw Failure(i - 2, "invalid escape \\\(e) in string")
                }
                out.append(u); i += n
            default: throw Failure(i - 2, "invalid escape \\\(e) in string")
            }
        }
    }
}

// MARK: - AST and parser

private typealias Value = JSONValue?  // nil: Go's "no value" (missing map key), distinct from JSON null

private indirect enum Term: Sendable {
    case dot
    case variable(String)
    case literal(JSONValue)
    case function(String)
    case pipeline(Pipeline)
    case fields(Term, [String])  // `.A.B` is fields(.dot, ["A", "B"]); `$x.A`, `(pipe).A` likewise
}

private struct Command: Sendable {
    var terms: [Term]
    var pos: Int
}

private struct Pipeline: Sendable {
    var vars: [String] = []  // `$x :=` or, in range, `$i, $e :=`
    var declare = true       // `:=` declares; `=` assigns an existing variable
    var commands: [Command] = []
}

private enum Control: Sendable { case `if`, range, with }

private enum Node: Sendable {
    case text(String)
    case action(Pipeline)
    case control(Control, Pipeline, body: [Node], alt: [Node])
}

private struct Parser {
    let tokens: [Token]
    var i = 0
    var vars = ["$"]  // in scope, so an undefined `$x` fails at parse time as in Go

    enum Stop { case eof(Int), end(Int), otherwise(Int) }

    init(tokens: [Token]) { self.tokens = tokens }

    func peek(_ k: Int = 0) -> Token { tokens[min(i + k, tokens.count - 1)] }
    mutating func next() -> Token { defer { i = min(i + 1, tokens.count - 1) }; return peek() }
    mutating func expectClose(_ what: String) throws {
        let t = next()
        guard t.kind == .close else { throw Failure(t.pos, "unexpected \(t.kind.describe) in \(what)") }
    }

    mutating func parse() throws -> [Node] {
        let (nodes, stop) = try list()
        switch stop {
        case .eof: return nodes
        case .end(let p): throw Failure(p, "unexpected {{end}}")
        case .otherwise(let p): throw Failure(p, "unexpected {{else}}")
        }
    }

    /// Nodes up to end of input, `{{end}}` or `{{else`; the caller decides which of these is legal.
    mutating func list() throws -> ([Node], Stop) {
        var nodes: [Node] = []
        while true {
            let t = next()
            switch t.kind {
            case .text(let s): nodes.append(.text(s))
            case .eof: return (nodes, .eof(t.pos))
            default:  // .open: the lexer emits nothing else between actions
                if case .ident(let word) = peek().kind {
                    switch word {
                    case "end": i += 1; try expectClose("{{end}}"); return (nodes, .end(t.pos))
                    case "else": i += 1; return (nodes, .otherwise(t.pos))
                    case "if": i += 1; nodes.append(try control(.if, "if", t.pos)); continue
                    case "range": i += 1; nodes.append(try control(.range, "range", t.pos)); continue
                    case "with": i += 1; nodes.append(try control(.with, "with", t.pos)); continue
                    default: break
                    }
                }
                let p = try pipeline(range: false)
                try expectClose("action")
                nodes.append(.action(p))
            }
        }
    }

    mutating func control(_ kind: Control, _ word: String, _ pos: Int) throws -> Node {
        let outer = vars.count
        defer { vars.removeSubrange(outer...) }
        let p = try pipeline(range: kind == .range)
        try expectClose("{{\(word)}}")
        let inner = vars.count
        let (body, stop) = try list()
        vars.removeSubrange(inner...)
        switch stop {
        case .end: return .control(kind, p, body: body, alt: [])
        case .eof: throw Failure(pos, "missing {{end}} for {{\(word)}}")
        case .otherwise(let elsePos):
            // `{{else if …}}` / `{{else with …}}` is `{{else}}{{if …}}…{{end}}` sharing the outer {{end}}.
            if kind != .range, peek().kind == .ident(word) {
                i += 1
                return .control(kind, p, body: body, alt: [try control(kind, word, elsePos)])
            }
            try expectClose("{{else}}")
            let (alt, stop) = try list()
            switch stop {
            case .end: return .control(kind, p, body: body, alt: alt)
            case .eof: throw Failure(pos, "missing {{end}} for {{\(word)}}")
            case .otherwise(let q): throw Failure(q, "unexpected {{else}} after {{else}}")
            }
        }
    }

    mutating func pipeline(range: Bool) throws -> Pipeline {
        var p = Pipeline()
        if case .variable(let v) = peek().kind {
            var names = [v], k = 1
            if range, peek(1).kind == .comma, case .variable(let v2) = peek(2).kind { names.append(v2); k = 3 }
            let op = peek(k).kind
            if op == .declare || op == .assign {
                if op == .assign, let undefined = names.first(where: { !vars.contains($0) }) {
                    throw Failure(peek().pos, "undefined variable \"\(undefined)\"")
                }
                p.vars = names; p.declare = op == .declare; i += k + 1
            }
        }
        while true {
            p.commands.append(try command())
            guard peek().kind == .pipe else { break }
            i += 1
        }
        if p.declare { vars += p.vars }
        return p
    }

    mutating func command() throws -> Command {
        let pos = peek().pos
        var terms: [Term] = []
        while true {
            switch peek().kind {
            case .close, .rparen, .pipe, .eof:
                guard !terms.isEmpty else { throw Failure(pos, "missing value for command") }
                return Command(terms: terms, pos: pos)
            default: terms.append(try operand())
            }
        }
    }

    mutating func operand() throws -> Term {
        let t = next()
        var term: Term
        switch t.kind {
        case .dot: term = .dot
        case .field(let f): term = .fields(.dot, [f])
        case .variable(let v):
            guard vars.contains(v) else { throw Failure(t.pos, "undefined variable \"\(v)\"") }
            term = .variable(v)
        case .literal(let v): return .literal(v)
        case .ident("true"): return .literal(.bool(true))
        case .ident("false"): return .literal(.bool(false))
        case .ident("nil"): return .literal(.null)
        case .ident(let name):
            guard Builtins.arity[name] != nil else { throw Failure(t.pos, "function \"\(name)\" not defined") }
            return .function(name)
        case .lparen:
            let p = try pipeline(range: false)
            guard next().kind == .rparen else { throw Failure(t.pos, "unclosed left paren") }
            term = .pipeline(p)
        default: throw Failure(t.pos, "unexpected \(t.kind.describe) in operand")
        }
        var names: [String] = []
        while case .field(let f) = peek().kind, peek().attached { names.append(f); i += 1 }
        if names.isEmpty { return term }
        if case .fields(let base, let first) = term { return .fields(base, first + names) }
        return .fields(term, names)
    }
}

// MARK: - Evaluation

private struct Exec {
    var vars: [(name: String, value: Value)]
    var out = ""

    mutating func walk(_ nodes: [Node], _ dot: Value) throws {
        for node in nodes {
            switch node {
            case .text(let s):
                out += s
            case .action(let p):
                let v = try run(p, dot)
                // Go prints nothing for an action that declares or assigns a variable.
                if p.vars.isEmpty { out += v.map { Fmt.value($0) } ?? "<no value>" } else { bind(p.vars[0], v, p.declare) }
            case .control(let kind, let p, let body, let alt):
                let mark = vars.count
                let v = try run(p, dot)
                if kind == .range {
                    try range(p, v, body, alt, dot)
                } else {
                    if let name = p.vars.first { bind(name, v, p.declare) }
                    try walk(v.isTrue ? body : alt, kind == .with && v.isTrue ? v : dot)
                }
                vars.removeSubrange(mark...)
            }
        }
    }

    mutating func range(_ p: Pipeline, _ v: Value, _ body: [Node], _ alt: [Node], _ dot: Value) throws {
        let items: [(JSONValue, JSONValue)]
        switch v {
        case nil, .null?: items = []  // like Go's nil slice or map
        case .array(let a)?: items = a.enumerated().map { (.int(Int64($0.offset)), $0.element) }
        case .object(let o)?: items = Fmt.sortedKeys(o).map { (.string($0), o[$0]!) }  // Go ranges maps in key order
        case let other?: throw Failure(p.commands[0].pos, "range can't iterate over \(Fmt.value(other))")
        }
        if items.isEmpty { return try walk(alt, dot) }
        for (key, element) in items {
            let mark = vars.count
            if p.vars.count == 2 { bind(p.vars[0], key, p.declare); bind(p.vars[1], element, p.declare) }
            if p.vars.count == 1 { bind(p.vars[0], element, p.declare) }
            try walk(body, element)
            vars.removeSubrange(mark...)
        }
    }

    mutating func bind(_ name: String, _ v: Value, _ declare: Bool) {
        if declare {
            vars.append((name, v))
        } else if let k = vars.lastIndex(where: { $0.name == name }) {
            vars[k].value = v
        }
    }

    func run(_ p: Pipeline, _ dot: Value) throws -> Value {
        var v: Value = nil
        for (n, c) in p.commands.enumerated() { v = try command(c, dot, piped: n > 0, final: v) }
        return v
    }

    /// One command; a piped-in value becomes the function's last argument, as in Go.
    func command(_ c: Command, _ dot: Value, piped: Bool, final: Value) throws -> Value {
        guard case .function(let name) = c.terms[0] else {
            if c.terms.count > 1 || piped { throw Failure(c.pos, "can't give argument to non-function") }
            return try term(c.terms[0], dot, c.pos)
        }
        let argTerms = c.terms.dropFirst()
        if name == "and" || name == "or" {
            // Go short-circuits these: `and .State .State.Health` must not evaluate the second on a null State.
            guard !argTerms.isEmpty || piped else { return try Builtins.call(name, [], at: c.pos) }
            for (k, t) in argTerms.enumerated() {
                let v = try argument(t, dot, c.pos)
                if v.isTrue == (name == "or") || (k == argTerms.count - 1 && !piped) { return v }
            }
            return final
        }
        var args = try argTerms.map { try argument($0, dot, c.pos) }
        if piped { args.append(final) }
        return try Builtins.call(name, args.map { $0 ?? .null }, at: c.pos)
    }

    /// A function name as an argument is a call with no arguments.
    func argument(_ t: Term, _ dot: Value, _ pos: Int) throws -> Value {
        if case .function(let name) = t { return try Builtins.call(name, [], at: pos) }
        return try term(t, dot, pos)
    }

    func term(_ t: Term, _ dot: Value, _ pos: Int) throws -> Value {
        switch t {
        case .dot: return dot
        case .variable(let name): return vars.last { $0.name == name }?.value ?? nil
        case .literal(let v): return v
        case .function(let name): return try Builtins.call(name, [], at: pos)
        case .pipeline(let p): return try run(p, dot)
        case .fields(let base, let names):
            var v = try term(base, dot, pos)
            for name in names {
                switch v {
                case nil: return nil  // a field of "no value" is still "no value"
                case .object(let o)?: v = o[name]
                case .null?: throw Failure(pos, "nil pointer evaluating interface {}.\(name)")
                case let other?: throw Failure(pos, "can't evaluate field \(name) in type \(other.goType)")
                }
            }
            return v
        }
    }
}

private extension Optional where Wrapped == JSONValue {
    /// Go's truth: false, 0, nil, and empty string, slice or map are false.
    var isTrue: Bool {
        switch self {
        case nil, .null?: false
        case .bool(let b)?: b
        case .int(let n)?: n != 0
        case .double(let d)?: d != 0
        case .string(let s)?: !s.isEmpty
        case .array(let a)?: !a.isEmpty
        case .object(let o)?: !o.isEmpty
        }
    }
}

private extension JSONValue {
    /// The Go type a decoded value of this kind has, for messages like Go's.
    var goType: String {
        switch self {
        case .null: "<nil>"
        case .bool: "bool"
        case .int: "int64"
        case .double: "float64"
        case .string: "string"
        case .array: "[]interface {}"
        case .object: "map[string]interface {}"
        }
    }

    var number: Double? {
        switch self {
        case .int(let n): Double(n)
        case .double(let d): d
        default: nil
        }
    }
}

// MARK: - Functions

private enum Builtins {
    /// Name → (minimum, maximum) argument count; a nil maximum is variadic.
    static let arity: [String: (Int, Int?)] = [
        "json": (1, 1), "index": (1, nil), "len": (1, 1), "join": (2, 2), "split": (2, 2),
        "upper": (1, 1), "lower": (1, 1), "title": (1, 1), "truncate": (2, 2), "pad": (3, 3),
        "print": (0, nil), "println": (0, nil), "printf": (1, nil),
        "not": (1, 1), "and": (1, nil), "or": (1, nil),
        "eq": (2, nil), "ne": (2, 2), "lt": (2, 2), "le": (2, 2), "gt": (2, 2), "ge": (2, 2),
    ]

    static func call(_ name: String, _ a: [JSONValue], at pos: Int) throws -> Value {
        let (lo, hi) = arity[name]!
        guard a.count >= lo, a.count <= hi ?? .max else {
            throw Failure(pos, "wrong number of args for \(name): want \(hi == lo ? "" : "at least ")\(lo) got \(a.count)")
        }
        func fail(_ message: String) -> Failure { Failure(pos, "error calling \(name): \(message)") }
        func string(_ v: JSONValue) throws -> String {
            guard case .string(let s) = v else { throw fail("wrong type for value; expected string; got \(v.goType)") }
            return s
        }
        func int(_ v: JSONValue) throws -> Int {
            guard case .int(let n) = v else { throw fail("wrong type for value; expected int; got \(v.goType)") }
            return Int(n)
        }
        func order(_ x: JSONValue, _ y: JSONValue) throws -> Int {
            switch (x, y) {
            case (.int(let p), .int(let q)): return p < q ? -1 : p == q ? 0 : 1
            case (.string(let p), .string(let q)): return p < q ? -1 : p == q ? 0 : 1
            default:
                guard let p = x.number, let q = y.number else { throw fail("incompatible types for comparison") }
                return p < q ? -1 : p == q ? 0 : 1
            }
        }
        func equal(_ x: JSONValue, _ y: JSONValue) throws -> Bool {
            switch (x, y) {
            case (.bool(let p), .bool(let q)): return p == q
            case (.null, .null): return true
            case (.null, _), (_, .null): return false
            case (.array, _), (.object, _), (_, .array), (_, .object): throw fail("invalid type for comparison")
            default: return try order(x, y) == 0
            }
        }

        switch name {
        case "json": return .string(Fmt.json(a[0]))
        case "index":
            var v: Value = a[0]
            for key in a.dropFirst() {
                switch (v, key) {
                case (.array(let items)?, .int(let n)):
                    guard n >= 0, n < items.count else { throw fail("index out of range: \(n)") }
                    v = items[Int(n)]
                case (.object(let o)?, .string(let k)): v = o[k]  // missing key: no value, as for a Go map
                case (.string(let s)?, .int(let n)):
                    guard n >= 0, n < s.utf8.count else { throw fail("index out of range: \(n)") }
                    v = .int(Int64(Array(s.utf8)[Int(n)]))
                case (nil, _), (.null?, _): throw fail("index of untyped nil")
                case (.array?, _): throw fail("cannot index slice/array with type \(key.goType)")
                case (.object?, _): throw fail("value has type \(key.goType); should be string")
                case (let other?, _): throw fail("can't index item of type \(other.goType)")
                }
            }
            return v
        case "len":
            switch a[0] {
            case .string(let s): return .int(Int64(s.utf8.count))  // Go's len counts bytes
            case .array(let items): return .int(Int64(items.count))
            case .object(let o): return .int(Int64(o.count))
            default: throw fail("len of type \(a[0].goType)")
            }
        case "join":
            let separator = try string(a[1])
            switch a[0] {
            case .null: return .string("")
            // Lenient where Go wants []string: non-strings join in their %v form.
            case .array(let items): return .string(items.map { $0.stringValue ?? Fmt.value($0) }.joined(separator: separator))
            default: throw fail("wrong type for value; expected []string; got \(a[0].goType)")
            }
        case "split":
            let s = try string(a[0]), separator = try string(a[1])
            let parts = separator.isEmpty ? s.map { String($0) }
                : s.split(separator: separator, omittingEmptySubsequences: false).map { String($0) }
            return .array(parts.map { .string($0) })
        case "upper": return .string(try string(a[0]).uppercased())
        case "lower": return .string(try string(a[0]).lowercased())
        case "title": return .string(Fmt.title(try string(a[0])))
        case "truncate": return .string(String(try string(a[0]).prefix(max(0, try int(a[1])))))
        case "pad":
            let s = try string(a[0])
            if s.isEmpty { return .string(s) }
            return .string(String(repeating: " ", count: max(0, try int(a[1]))) + s
                + String(repeating: " ", count: max(0, try int(a[2]))))
        case "print": return .string(Fmt.sprint(a))
        case "println": return .string(a.map { Fmt.value($0) }.joined(separator: " ") + "\n")
        case "printf": return .string(Fmt.sprintf(try string(a[0]), Array(a.dropFirst())))
        case "not": return .bool(!Value.some(a[0]).isTrue)
        case "and": return a.first { !Value.some($0).isTrue } ?? a.last
        case "or": return a.first { Value.some($0).isTrue } ?? a.last
        case "eq": return .bool(try a.dropFirst().contains { try equal(a[0], $0) })
        case "ne": return .bool(!(try equal(a[0], a[1])))
        case "lt": return .bool(try order(a[0], a[1]) < 0)
        case "le": return .bool(try order(a[0], a[1]) <= 0)
        case "gt": return .bool(try order(a[0], a[1]) > 0)
        default: return .bool(try order(a[0], a[1]) >= 0)  // "ge"
        }
    }
}

// MARK: - Formatting

private enum Fmt {
    /// Go compares map keys bytewise when it sorts them, for fmt and for encoding/json.
    static func sortedKeys(_ o: [String: JSONValue]) -> [String] {
        o.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    static func number(_ d: Double) -> String {
        if let n = Int64(exactly: d) { return String(n) }
        return "\(d)"
    }

    /// fmt's %v of the decoded value. An empty object that is a map's value prints `{}`, since in
    /// Docker's structs those are `struct{}` (ExposedPorts, Volumes): `map[80/tcp:{}]`.
    static func value(_ v: JSONValue, inMap: Bool = false) -> String {
        switch v {
        case .null: "<nil>"
        case .bool(let b): String(b)
        case .int(let n): String(n)
        case .double(let d): number(d)
        case .string(let s): s
        case .array(let items): "[" + items.map { value($0) }.joined(separator: " ") + "]"
        case .object(let o) where o.isEmpty && inMap: "{}"
        case .object(let o): "map[" + sortedKeys(o).map { "\($0):\(value(o[$0]!, inMap: true))" }.joined(separator: " ") + "]"
        }
    }

    /// Docker's `json`: compact encoding/json output with sorted keys. Docker 20.10 keeps Go's HTML
    /// escaping (`"Digest":"\u003cnone\u003e"` in `docker images --format '{{json .}}'`), so we do too.
    static func json(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .int(let n): return String(n)
        case .double(let d): return number(d)
        case .array(let items): return "[" + items.map(json).joined(separator: ",") + "]"
        case .object(let o): return "{" + sortedKeys(o).map { json(.string($0)) + ":" + json(o[$0]!) }.joined(separator: ",") + "}"
        case .string(let s):
            return JSONCoding.quote(s, escapeHTML: true)
        }
    }

    static func hex(_ n: UInt32, _ width: Int) -> String {
        let digits = String(n, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Go's strconv.Quote, for %q.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            case _ where u.value < 0x20 || u.value == 0x7F: out += "\\x" + hex(u.value, 2)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// Go's strings.Title: upper-case each letter that follows a separator.
    static func title(_ s: String) -> String {
        func separates(_ u: Unicode.Scalar) -> Bool {
            if u.isASCII { return !(u.isIdent || u == "_") }
            return !(u.properties.isAlphabetic || u.properties.numericType != nil) && u.properties.isWhitespace
        }
        var out = "", previous: Unicode.Scalar = " "
        for u in s.unicodeScalars {
            if separates(previous) { out += String(u).uppercased() } else { out.unicodeScalars.append(u) }
            previous = u
        }
        return out
    }

    /// fmt.Sprint: a space goes between operands only when neither is a string.
    static func sprint(_ args: [JSONValue]) -> String {
        var out = ""
        for (k, v) in args.enumerated() {
            if k > 0, v.stringValue == nil, args[k - 1].stringValue == nil { out += " " }
            out += value(v)
        }
        return out
    }

    /// fmt.Sprintf for %s %d %v %q %t %%, with `-`/`0` flags, width and (string) precision.
    static func sprintf(_ format: String, _ args: [JSONValue]) -> String {
        let f = Array(format.unicodeScalars)
        var out = "", i = 0, used = 0
        while i < f.count {
            let c = f[i]
            i += 1
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var left = false, zero = false
            while i < f.count, "-+# 0".unicodeScalars.contains(f[i]) {
                if f[i] == "-" { left = true } else if f[i] == "0" { zero = true }
                i += 1
            }
            // Go's parsenum: a number grown past 1e6 ends the format ("%!(NOVERB)"), as in fmt,
            // rather than overflowing.
            func number() -> Int {
                var n = 0
                while i < f.count, f[i].isDigit {
                    if n > 1_000_000 { i = f.count; return 0 }
                    n = n * 10 + Int(f[i].value - 0x30)
                    i += 1
                }
                return n
            }
            let width = number()
            var precision: Int?
            if i < f.count, f[i] == "." {
                i += 1
                precision = number()
            }
            guard i < f.count else { out += "%!(NOVERB)"; break }
            let verb = f[i]
            i += 1
            if verb == "%" { out += "%"; continue }
            guard used < args.count else { out += "%!\(verb)(MISSING)"; continue }
            let arg = args[used]
            used += 1
            var s = formatted(arg, verb, precision)
            let pad = width - s.unicodeScalars.count
            if pad > 0 {
                if left {
                    s += String(repeating: " ", count: pad)
                } else if zero {
                    let sign = s.hasPrefix("-") && arg.number != nil ? "-" : ""
                    s = sign + String(repeating: "0", count: pad) + s.dropFirst(sign.count)
                } else {
                    s = String(repeating: " ", count: pad) + s
                }
            }
            out += s
        }
        if used < args.count {
            out += "%!(EXTRA " + args[used...].map { "\($0.goType)=\(value($0))" }.joined(separator: ", ") + ")"
        }
        return out
    }

    static func formatted(_ v: JSONValue, _ verb: Unicode.Scalar, _ precision: Int?) -> String {
        let composite = verb == "s" || verb == "d" || verb == "q"
        switch (verb, v) {
        case ("s", .string(let s)), ("v", .string(let s)): return precision.map { String(s.prefix($0)) } ?? s
        case ("q", .string(let s)): return quote(precision.map { String(s.prefix($0)) } ?? s)
        case ("v", _): return value(v)
        case ("d", .int(let n)): return String(n)
        case ("t", .bool(let b)): return String(b)
        // Go applies the verb to each element of a slice or map.
        case (_, .array(let items)) where composite:
            return "[" + items.map { formatted($0, verb, precision) }.joined(separator: " ") + "]"
        case (_, .object(let o)) where composite:
            return "map[" + sortedKeys(o).map {
                formatted(.string($0), verb, precision) + ":" + formatted(o[$0]!, verb, precision)
            }.joined(separator: " ") + "]"
        case (_, .null): return "%!\(verb)(<nil>)"
        default: return "%!\(verb)(\(v.goType)=\(value(v)))"
        }
    }
}
