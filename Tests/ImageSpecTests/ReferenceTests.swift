import Testing
@testable import ImageSpec

private let sha256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
private let sha512 = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
private let hex64 = String(sha256.dropFirst(7))
private let tag128 = String(repeating: "t", count: 128)
/// With "library/" (8 characters) this is a path of exactly 255, the limit: since
/// distribution/reference v0.6.0 the domain does not count.
private let longest = String(repeating: "a", count: 247)
/// A path of exactly 255 under an explicit domain.
private let longestPath = String(repeating: "b", count: 255)

private func abbreviated(_ s: String) -> String { s.count > 60 ? s.prefix(57) + "…" : s }

struct ValidReference: Sendable, CustomTestStringConvertible {
    let input, domain, path: String
    let tag, digest: String?
    let description, familiar: String
    init(_ input: String, _ domain: String, _ path: String, tag: String? = nil, digest: String? = nil,
         _ description: String, _ familiar: String) {
        (self.input, self.domain, self.path, self.tag, self.digest) = (input, domain, path, tag, digest)
        (self.description, self.familiar) = (description, familiar)
    }
    var testDescription: String { abbreviated(input) }
}

struct InvalidReference: Sendable, CustomTestStringConvertible {
    let input, problem: String
    init(_ input: String, _ problem: String) { (self.input, self.problem) = (input, problem) }
    var testDescription: String { abbreviated(input) }
}

private let valid: [ValidReference] = [
    .init("nginx", "docker.io", "library/nginx", "docker.io/library/nginx", "nginx"),
    .init("nginx:1.25", "docker.io", "library/nginx", tag: "1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
    .init("user/app", "docker.io", "user/app", "docker.io/user/app", "user/app"),
    .init("docker.io/user/app", "docker.io", "user/app", "docker.io/user/app", "user/app"),
    .init("docker.io/nginx", "docker.io", "library/nginx", "docker.io/library/nginx", "nginx"),
    .init("index.docker.io/library/x", "docker.io", "library/x", "docker.io/library/x", "x"),
    .init("index.docker.io/x:1", "docker.io", "library/x", tag: "1", "docker.io/library/x:1", "x:1"),
    .init("docker.io/library/a/b", "docker.io", "library/a/b", "docker.io/library/a/b", "library/a/b"),
    .init("localhost/x", "localhost", "x", "localhost/x", "localhost/x"),
    .init("localhost:5000/a/b:t", "localhost:5000", "a/b", tag: "t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
    // Docker's FIXME: with no "/" even "localhost:5000" is a Docker Hub name with a tag.
    .init("localhost:5000", "docker.io", "library/localhost", tag: "5000", "docker.io/library/localhost:5000", "localhost:5000"),
    .init("127.0.0.1:5000/lab/tiny", "127.0.0.1:5000", "lab/tiny", "127.0.0.1:5000/lab/tiny", "127.0.0.1:5000/lab/tiny"),
    .init("[::1]:5000/x", "[::1]:5000", "x", "[::1]:5000/x", "[::1]:5000/x"),
    .init("[2001:DB8::1]/x:v", "[2001:DB8::1]", "x", tag: "v", "[2001:DB8::1]/x:v", "[2001:DB8::1]/x:v"),
    .init("example:5000/x", "example:5000", "x", "example:5000/x", "example:5000/x"),
    // An uppercase first component cannot be a path, so Docker takes it as a domain.
    .init("Registry/app", "Registry", "app", "Registry/app", "Registry/app"),
    .init("foo.com/bar/baz:tag", "foo.com", "bar/baz", tag: "tag", "foo.com/bar/baz:tag", "foo.com/bar/baz:tag"),
    .init("My-Reg.example.com/team/sub/app", "My-Reg.example.com", "team/sub/app",
          "My-Reg.example.com/team/sub/app", "My-Reg.example.com/team/sub/app"),
    .init("nginx@\(sha256)", "docker.io", "library/nginx", digest: sha256,
          "docker.io/library/nginx@\(sha256)", "nginx@\(sha256)"),
    .init("nginx:1.25@\(sha256)", "docker.io", "library/nginx", tag: "1.25", digest: sha256,
          "docker.io/library/nginx:1.25@\(sha256)", "nginx:1.25@\(sha256)"),
    .init("foo.com/x@\(sha512)", "foo.com", "x", digest: sha512, "foo.com/x@\(sha512)", "foo.com/x@\(sha512)"),
    .init("localhost:5000/a:b@\(sha512)", "localhost:5000", "a", tag: "b", digest: sha512,
          "localhost:5000/a:b@\(sha512)", "localhost:5000/a:b@\(sha512)"),
    .init("a_b", "docker.io", "library/a_b", "docker.io/library/a_b", "a_b"),
    .init("a__b", "docker.io", "library/a__b", "docker.io/library/a__b", "a__b"),
    .init("a-b", "docker.io", "library/a-b", "docker.io/library/a-b", "a-b"),
    .init("a---b", "docker.io", "library/a---b", "docker.io/library/a---b", "a---b"),
    .init("a.b", "docker.io", "library/a.b", "docker.io/library/a.b", "a.b"),
    .init("a0--b/c.d_e__f9", "docker.io", "a0--b/c.d_e__f9", "docker.io/a0--b/c.d_e__f9", "a0--b/c.d_e__f9"),
    .init("app:v1.2.3-rc.1_X", "docker.io", "library/app", tag: "v1.2.3-rc.1_X",
          "docker.io/library/app:v1.2.3-rc.1_X", "app:v1.2.3-rc.1_X"),
    .init("app:_", "docker.io", "library/app", tag: "_", "docker.io/library/app:_", "app:_"),
    .init("app:\(tag128)", "docker.io", "library/app", tag: tag128, "docker.io/library/app:\(tag128)", "app:\(tag128)"),
    .init(longest, "docker.io", "library/\(longest)", "docker.io/library/\(longest)", longest),
    .init("example.com/" + longestPath, "example.com", longestPath, "example.com/\(longestPath)",
          "example.com/\(longestPath)"),
    .init("localhost:5000/a/" + String(longestPath.dropFirst(2)) + ":v1", "localhost:5000",
          "a/" + String(longestPath.dropFirst(2)), tag: "v1",
          "localhost:5000/a/\(longestPath.dropFirst(2)):v1", "localhost:5000/a/\(longestPath.dropFirst(2)):v1"),
    .init("user/" + String(longestPath.dropFirst(5)), "docker.io", "user/" + String(longestPath.dropFirst(5)),
          "docker.io/user/\(longestPath.dropFirst(5))", "user/\(longestPath.dropFirst(5))"),
    .init("localhost", "docker.io", "library/localhost", "docker.io/library/localhost", "localhost"),
]

private let invalid: [InvalidReference] = [
    .init("", "reference is empty"),
    .init("UPPER", "repository name must be lowercase"),
    .init("a/B", "repository name must be lowercase"),
    .init("docker.io/Nginx:1", "repository name must be lowercase"),
    .init(":tag", "repository name is missing"),
    .init("@\(sha256)", "repository name is missing"),
    .init("name:", "tag is empty"),
    .init("name:-bad", "tag \"-bad\" must start with a letter, digit or \"_\""),
    .init("name:.x", "tag \".x\" must start"),
    .init("name:\(tag128)t", "is 129 characters, at most 128 allowed"),
    .init("name:tag:tag", "invalid character \":\" in tag \"tag:tag\""),
    .init("name:t!", "invalid character \"!\" in tag"),
    .init("name@", "digest is empty"),
    .init("name@sha256:short", "sha256 needs 64 lowercase hex characters"),
    .init("name@sha256:\(hex64.uppercased())", "sha256 needs 64 lowercase hex characters"),
    .init("name@md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm \"md5\""),
    .init("name@\(hex64)", "expected ALGORITHM:HEX"),
    .init("a//b", "empty path component"),
    .init("a/", "empty path component"),
    .init("/a", "empty path component"),
    .init("-a", "path component \"-a\" must start and end"),
    .init("a-", "path component \"a-\" must start and end"),
    .init("a..b", "invalid separator \"..\" in path component \"a..b\""),
    .init("a___b", "invalid separator \"___\""),
    .init("a._b", "invalid separator \"._\""),
    .init("a!b", "invalid character \"!\" in path component \"a!b\""),
    .init("x/é", "invalid character \"é\""),
    .init(hex64, "cannot specify 64-byte hexadecimal strings"),
    .init("\(hex64):v1", "cannot specify 64-byte hexadecimal strings"),
    .init(longest + "a", "repository name must not be more than 255 characters"),
    .init("example.com/" + longestPath + "b", "must not be more than 255 characters"),
    .init("user/" + String(longestPath.dropFirst(4)), "must not be more than 255 characters"),
    .init("foo_bar.com/x", "invalid domain \"foo_bar.com\": invalid character \"_\""),
    // A "." makes the first component a domain (Docker's rule); Docker would then fall back to a
    // domain-less name, which has nowhere to be pulled from, so it is rejected here.
    .init("a.b_c/d", "invalid domain \"a.b_c\""),
    .init("-foo.com/x", "hostname component \"-foo\" must start and end"),
    .init("foo..com/x", "empty component"),
    .init("localhost:port/x", "port \"port\" must be decimal digits"),
    .init("localhost:/x", "port \"\" must be decimal digits"),
    .init("[::1/x", "lacks its closing \"]\""),
    .init("[::g]/x", "may hold only hex digits"),
    .init("[::1]5000/x", "unexpected \"5000\""),
]

@Test(arguments: valid)
func parsesValidReference(_ c: ValidReference) throws {
    let ref = try Reference(parsing: c.input)
    #expect(ref.domain == c.domain)
    #expect(ref.path == c.path)
    #expect(ref.tag == c.tag)
    #expect(ref.digest?.description == c.digest)
    #expect(ref.isTagged == (c.tag != nil))
    #expect(ref.name == "\(c.domain)/\(c.path)")
    #expect(ref.description == c.description)
    #expect(ref.familiarString == c.familiar)
    // Both printed forms parse back to the same reference.
    #expect(try Reference(parsing: ref.description) == ref)
    #expect(try Reference(parsing: ref.familiarString) == ref)
}

@Test(arguments: invalid)
func rejectsInvalidReference(_ c: InvalidReference) {
    let error = #expect(throws: StrataError.self) { try Reference(parsing: c.input) }
    #expect(error?.code == .invalidReference)
    #expect(error?.message.hasPrefix("invalid reference \"\(c.input)\": ") == true)
    #expect(error?.message.contains(c.problem) == true, "\(error?.message ?? "")")
}

@Test func defaultTagOnlyWhenNeitherTagNorDigest() throws {
    #expect(try Reference(parsing: "nginx").withDefaultTag.description == "docker.io/library/nginx:latest")
    #expect(try Reference(parsing: "nginx:1").withDefaultTag.tag == "1")
    let pinned = try Reference(parsing: "nginx@\(sha256)")
    #expect(pinned.withDefaultTag == pinned)
    #expect(pinned.withDefaultTag.tag == nil)
}

@Test func familiarNames() throws {
    #expect(try Reference(parsing: "docker.io/library/nginx:1").familiarName == "nginx")
    #expect(try Reference(parsing: "user/app").familiarName == "user/app")
    #expect(try Reference(parsing: "localhost:5000/a/b:t").familiarName == "localhost:5000/a/b")
    #expect(try Reference(parsing: "quay.io/library/x").familiarName == "quay.io/library/x")
}

@Test func equivalentSpellingsAreEqual() throws {
    let forms = ["nginx", "docker.io/nginx", "library/nginx", "docker.io/library/nginx", "index.docker.io/nginx"]
    let refs = try Set(forms.map(Reference.init(parsing:)))
    #expect(refs.count == 1)
}

@Test(arguments: ["latest", "_", "1.25", "v1.2.3-rc.1_X", tag128])
func validTags(_ tag: String) { #expect(Reference.isValidTag(tag)) }

@Test(arguments: ["", "-x", ".x", "a:b", "a/b", "a@b", "é", tag128 + "t"])
func invalidTags(_ tag: String) { #expect(!Reference.isValidTag(tag)) }
