/// An image reference, `[domain/]path[:tag][@digest]`, parsed and normalised the way Docker does
/// (github.com/distribution/reference, `ParseNormalizedNamed`): "nginx" is "docker.io/library/nginx".
///
/// Grammar (reference.go):
///
///     domain          := host [":" port]             host := domain-name | "[" IPv6 "]"
///     domain-name     := label ("." label)*          label := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
///     path            := component ("/" component)*
///     component       := [a-z0-9]+ (separator [a-z0-9]+)*    separator := "." | "_" | "__" | "-"+
///     tag             := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// Docker Hub, the domain of names that have none.
    public static let defaultDomain = "docker.io"
    /// The tag `docker pull nginx` means.
    public static let defaultTag = "latest"
    /// Docker's limit on a repository's path, its "remote name": since distribution/reference v0.6.0
    /// the domain does not count, so "example.com/" and a 255-character path is a valid name.
    public static let maxPathLength = 255
    public static let maxTagLength = 128

    /// Docker Hub's old "Docker Index" name, canonicalised to `defaultDomain`.
    static let legacyDomain = "index.docker.io"
    /// Namespace of Docker Hub's official images: "nginx" is "library/nginx".
    static let officialPrefix = "library/"

    /// "docker.io", "localhost:5000", "127.0.0.1:5000", "[::1]:5000".
    public var domain: String
    /// The repository path within the domain: "library/nginx", "user/app".
    public var path: String
    /// Nil when absent; parsing never invents one (see `withDefaultTag`).
    public var tag: String?
    public var digest: Digest?

    /// The full repository name, "docker.io/library/nginx".
    public var name: String { "\(domain)/\(path)" }

    public var isTagged: Bool { tag != nil }

    /// This reference with the tag "latest" when it has neither tag nor digest, as `docker pull` assumes.
    public var withDefaultTag: Reference {
        guard tag == nil, digest == nil else { return self }
        var tagged = self
        tagged.tag = Self.defaultTag
        return tagged
    }

    /// "docker.io/library/nginx:1.25", "docker.io/library/nginx@sha256:…", "name:tag@sha256:…".
    public var description: String { Self.render(name, tag, digest) }

    /// The short name Docker shows: Docker Hub's domain is dropped, and so is "library/" unless the
    /// rest is nested ("library/a/b" stays, as Docker's familiarizeName keeps it).
    public var familiarName: String {
        guard domain == Self.defaultDomain else { return name }
        if path.hasPrefix(Self.officialPrefix) {
            let rest = path.dropFirst(Self.officialPrefix.utf8.count)
            if !rest.contains("/") { return String(rest) }
        }
        return path
    }

    /// `familiarName` with ":tag" and/or "@digest": "nginx:1.25", "localhost:5000/a/b@sha256:…".
    public var familiarString: String { Self.render(familiarName, tag, digest) }

    private static func render(_ name: String, _ tag: String?, _ digest: Digest?) -> String {
        var s = name
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    /// Whether `tag` matches `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    public static func isValidTag(_ tag: String) -> Bool { tagProblem(tag[...]) == nil }
}

extension Reference {
    /// Parses and normalises `input`; does not add a default tag. Throws `.invalidReference` saying what is wrong.
    public init(parsing input: String) throws {
        func invalid(_ what: String) -> StrataError {
            StrataError(.invalidReference, "invalid reference \"\(input)\": \(what)")
        }
        guard !input.isEmpty else { throw invalid("reference is empty") }
        // An image ID would otherwise parse as the Docker Hub repository "library/<id>".
        if input.utf8.count == 64, input.unicodeScalars.allSatisfy(\.isLowerHex) {
            throw invalid("cannot specify 64-byte hexadecimal strings as a repository name (that is an image ID)")
        }

        // Peel "@digest", then ":tag". Neither a path nor a tag holds "@"; a ":" before the last "/"
        // is a domain's port, so the tag's ":" is the first one after it.
        var rest = input[...]
        var digestText: Substring?
        if let at = rest.firstIndex(of: "@") {
            digestText = rest[rest.index(after: at)...]
            rest = rest[..<at]
        }
        var tagText: Substring?
        let lastComponent = rest.lastIndex(of: "/").map { rest.index(after: $0) } ?? rest.startIndex
        if let colon = rest[lastComponent...].firstIndex(of: ":") {
            tagText = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw invalid("repository name is missing") }
        // Also with a tag or digest: "<64 hex>:v1" would shadow image IDs wherever names and IDs mix.
        if rest.utf8.count == 64, rest.unicodeScalars.allSatisfy(\.isLowerHex) {
            throw invalid("cannot specify 64-byte hexadecimal strings as a repository name (that is an image ID)")
        }

        // splitDockerDomain: the first component is a domain only if it is "localhost", holds "." or ":",
        // or has uppercase (which a path may not). So "localhost:5000" alone is docker.io/library/localhost:5000.
        var domain = Self.defaultDomain
        var path = String(rest)
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if first == "localhost" || first.unicodeScalars.contains(where: { $0 == "." || $0 == ":" || $0.isUpper }) {
                if let problem = Self.domainProblem(first) { throw invalid("invalid domain \"\(first)\": \(problem)") }
                domain = first == Self.legacyDomain ? Self.defaultDomain : String(first)
                path = String(rest[rest.index(after: slash)...])
            }
        }
        if domain == Self.defaultDomain, !path.contains("/") { path = Self.officialPrefix + path }

        // Docker checks case before syntax, so "a/B!" reports the uppercase.
        if path.unicodeScalars.contains(where: \.isUpper) {
            throw invalid("repository name must be lowercase (\"\(path)\")")
        }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if let problem = Self.pathComponentProblem(component) { throw invalid(problem) }
        }
        // After normalisation, as Docker checks it: "library/" counts for an official image's name.
        guard path.utf8.count <= Self.maxPathLength else {
            throw invalid("repository name must not be more than \(Self.maxPathLength) characters (its path \"\(path.prefix(20))…\" has \(path.utf8.count); the domain does not count)")
        }

        if let tagText, let problem = Self.tagProblem(tagText) { throw invalid(problem) }
        var digest: Digest?
        if let digestText {
            guard !digestText.isEmpty else { throw invalid("digest is empty after \"@\"") }
            do { digest = try Digest(parsing: String(digestText)) } catch {
                throw invalid((error as? StrataError)?.message ?? "\(error)")
            }
        }
        self.init(domain: domain, path: path, tag: tagText.map(String.init), digest: digest)
    }

    /// What is wrong with a repository name as a registry sees it (`library/busybox`,
    /// `team/app`: the path of a reference, no domain, no tag), or nil: the same grammar and
    /// length limit as `init(parsing:)`.
    public static func repositoryNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "repository name is empty" }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            if let problem = pathComponentProblem(component) { return problem }
        }
        if name.utf8.count > maxPathLength {
            return "repository name must not be more than \(maxPathLength) characters (it has \(name.utf8.count))"
        }
        return nil
    }

    /// What is wrong with a tag, or nil.
    public static func tagNameProblem(_ tag: String) -> String? { tagProblem(tag[...]) }

    /// What is wrong with a hostname/IPv4/[IPv6] with optional ":port", or nil if nothing.
    static func domainProblem(_ domain: Substring) -> String? {
        var port: Substring?
        if domain.first == "[" {
            guard let close = domain.firstIndex(of: "]") else { return "IPv6 address lacks its closing \"]\"" }
            let address = domain[domain.index(after: domain.startIndex)..<close]
            if address.isEmpty || !address.unicodeScalars.allSatisfy({ $0.isHex || $0 == ":" }) {
                return "IPv6 address \"[\(address)]\" may hold only hex digits and \":\""
            }
            let after = domain[domain.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return "unexpected \"\(after)\" after the IPv6 address" }
                port = after.dropFirst()
            }
        } else {
            var host = domain
            if let colon = domain.firstIndex(of: ":") {
                host = domain[..<colon]
                port = domain[domain.index(after: colon)...]
            }
            for label in host.split(separator: ".", omittingEmptySubsequences: false) {
                guard let first = label.unicodeScalars.first, let last = label.unicodeScalars.last else {
                    return "hostname \"\(host)\" has an empty component"
                }
                if let bad = label.unicodeScalars.first(where: { !($0.isAlnum || $0 == "-") }) {
                    return "invalid character \"\(bad)\" in hostname component \"\(label)\" (letters, digits and \"-\" only)"
                }
                if first == "-" || last == "-" {
                    return "hostname component \"\(label)\" must start and end with a letter or digit"
                }
            }
        }
        if let port, port.isEmpty || !port.unicodeScalars.allSatisfy(\.isDigit) {
            return "port \"\(port)\" must be decimal digits"
        }
        return nil
    }

    /// What is wrong with one path component (`[a-z0-9]+` joined by ".", "_", "__" or dashes), or nil.
    static func pathComponentProblem(_ component: Substring) -> String? {
        let scalars = component.unicodeScalars
        guard let first = scalars.first, let last = scalars.last else {
            return "empty path component (\"/\" must separate non-empty components)"
        }
        if let bad = scalars.first(where: { !($0.isLowerAlnum || $0.isSeparator) }) {
            return "invalid character \"\(bad)\" in path component \"\(component)\""
        }
        guard first.isLowerAlnum, last.isLowerAlnum else {
            return "path component \"\(component)\" must start and end with a lowercase letter or digit"
        }
        // Every run of separators sits between alphanumerics; check each run is one allowed separator.
        var i = scalars.startIndex
        while i < scalars.endIndex {
            guard scalars[i].isSeparator else { i = scalars.index(after: i); continue }
            let start = i
            while scalars[i].isSeparator { i = scalars.index(after: i) }   // ends at an alphanumeric: last is one
            let run = component[start..<i]
            if !(run == "." || run == "_" || run == "__" || run.allSatisfy({ $0 == "-" })) {
                return "invalid separator \"\(run)\" in path component \"\(component)\" (use \".\", \"_\", \"__\" or dashes)"
            }
        }
        return nil
    }

    /// What is wrong with a tag, naming it and the rule, or nil.
    static func tagProblem(_ tag: Substring) -> String? {
        let rule = "(a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
        guard let first = tag.unicodeScalars.first else { return "tag is empty after \":\" \(rule)" }
        let length = tag.utf8.count
        if length > maxTagLength {
            return "tag \"\(tag)\" is \(length) characters, at most \(maxTagLength) allowed \(rule)"
        }
        guard first.isWord else { return "tag \"\(tag)\" must start with a letter, digit or \"_\" \(rule)" }
        if let bad = tag.unicodeScalars.first(where: { !($0.isWord || $0 == "." || $0 == "-") }) {
            return "invalid character \"\(bad)\" in tag \"\(tag)\" \(rule)"
        }
        return nil
    }
}

// ASCII classes of the grammar; Unicode letters are never valid in a reference.
private extension Unicode.Scalar {
    var isDigit: Bool { ("0"..."9").contains(self) }
    var isLowerAlnum: Bool { ("a"..."z").contains(self) || isDigit }
    var isUpper: Bool { ("A"..."Z").contains(self) }
    var isAlnum: Bool { isLowerAlnum || isUpper }
    var isWord: Bool { isAlnum || self == "_" }
    var isSeparator: Bool { self == "." || self == "_" || self == "-" }
    var isLowerHex: Bool { isDigit || ("a"..."f").contains(self) }
    var isHex: Bool { isLowerHex || ("A"..."F").contains(self) }
}
