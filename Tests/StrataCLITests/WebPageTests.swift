import Foundation
import RegistryTestSupport
import Testing

/// The registry's web page in a real browser (Debian's headless Chromium, driven over the
/// DevTools pipe by Tests/Support/web/chromium-page.py): the HTML a user gets, at desktop and
/// phone widths, without JavaScript. Screenshots go to $STRATA_TEST_OUTPUT (else a temporary
/// directory), never into the repository.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("chromium") != nil && CLI.which("curl") != nil))
struct WebPageTests {
    static let output: String = {
        let directory = ProcessInfo.processInfo.environment["STRATA_TEST_OUTPUT"].map { $0 + "/web" } ?? CLI.temporaryDirectory("web-screenshots")
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }()

    struct Rendered: Decodable {
        var html: String
        var scrollWidth: Int
        var innerWidth: Int
        var scripts: Int
        var status: Int?
    }

    /// Loads `path` at a desktop and a phone width; both are returned after checking that the
    /// page ran no script and, on the phone, does not scroll sideways.
    func load(_ registry: StrataRegistry, _ path: String, cookie: String? = nil, name: String) throws -> Rendered {
        var results: [Rendered] = []
        for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
            let shot = "\(Self.output)/\(name)-\(label).png"
            var arguments = ["\(CLI.packageRoot)/Tests/Support/web/chromium-page.py", "http://\(registry.host)\(path)", String(width), String(height), shot]
            if let cookie { arguments += ["--cookie", cookie] }
            let run = try CLI.run(CLI.which("python3")!, arguments)
            guard run.status == 0, let rendered = try? JSONDecoder().decode(Rendered.self, from: Data(run.stdout.utf8)) else {
                throw TestFailure("chromium on \(path): \(run.stderr)")
            }
            #expect(rendered.scripts == 0, "\(path) has scripts")
            if label == "phone" { #expect(rendered.scrollWidth <= rendered.innerWidth, "\(path) is \(rendered.scrollWidth) px wide on a \(rendered.innerWidth) px phone") }
            #expect(FileManager.default.fileExists(atPath: shot))
            results.append(rendered)
        }
        return results[0]
    }

    func curl(_ arguments: [String]) throws -> CLI.Result { try CLI.run(CLI.which("curl")!, ["-s", "-i"] + arguments) }

    /// alice/app:1 (busybox) and :2 (one more layer, with ENV, LABEL, EXPOSE), and a private alice/secret.
    func hub() throws -> (StrataRegistry, Client) {
        let registry = try StrataRegistry(["--auth", "token"])
        for (user, password) in [("alice", "alice-password"), ("bob", "bob-password")] {
            #expect(try CLI.run(CLI.binary, ["registry", "user", "add", "--root", registry.root, user], stdin: Data("\(password)\n".utf8)).status == 0)
        }
        #expect(try CLI.run(CLI.binary, ["registry", "repo", "create", "--private", "--root", registry.root, "alice/secret"]).status == 0)
        let client = Client()
        #expect(try client.strata(["login", "-u", "alice", "--password-stdin", registry.host], stdin: Data("alice-password".utf8)).status == 0)
        let base = "\(registry.host)/alice/app:1"
        try client.importBusybox(base)
        let context = CLI.temporaryDirectory("web-context")
        try "hello\n".write(toFile: "\(context)/hello", atomically: true, encoding: .utf8)
        try "FROM \(base)\nCOPY hello /hello\nENV GREETING=hi\nLABEL org.example.team=web\nEXPOSE 8080\n"
            .write(toFile: "\(context)/Dockerfile", atomically: true, encoding: .utf8)
        #expect(try client.strata(["build", "-t", "\(registry.host)/alice/app:2", context]).status == 0)
        for name in [base, "\(registry.host)/alice/app:2"] { #expect(try client.strata(["push", name]).status == 0) }
        try client.importBusybox("\(registry.host)/alice/secret:1")
        #expect(try client.strata(["push", "\(registry.host)/alice/secret:1"]).status == 0)
        return (registry, client)
    }

    /// Signs in through the form; returns the session cookie as NAME=VALUE.
    func signIn(_ registry: StrataRegistry, _ user: String, _ password: String) throws -> String? {
        let answer = try curl(["--data-urlencode", "username=\(user)", "--data-urlencode", "password=\(password)", "http://\(registry.host)/signin"])
        guard let line = answer.stdout.components(separatedBy: "\r\n").first(where: { $0.lowercased().hasPrefix("set-cookie: strata_session=") }) else {
            throw TestFailure("no session for \(user): \(answer.stdout)\(answer.stderr)")
        }
        return String(line.dropFirst("set-cookie: ".count).prefix { $0 != ";" })
    }

    @Test func anonymousVisitorsSeePublicRepositoriesOnly() throws {
        let (registry, _) = try hub()
        let index = try load(registry, "/", name: "index-anonymous")
        #expect(index.status == 200)
        #expect(index.html.contains("<a href=\"/r/alice/app\">alice/app</a>"))
        #expect(!index.html.contains("alice/secret"))
        #expect(index.html.contains("<a href=\"/signin\">Sign in</a>"))
        let hidden = try load(registry, "/r/alice/secret", name: "private-anonymous")
        let missing = try load(registry, "/r/alice/nothing", name: "missing-anonymous")
        #expect(hidden.status == 404 && missing.status == 404)
        #expect(hidden.html.replacingOccurrences(of: "alice/secret", with: "X") == missing.html.replacingOccurrences(of: "alice/nothing", with: "X"))
        let search = try load(registry, "/?q=app", name: "search")
        #expect(search.html.contains("Repositories matching “app”") && search.html.contains("1 repository"))
        _ = registry.stop()
    }

    @Test func signingInShowsWhatTheUserMayPull() throws {
        let (registry, _) = try hub()
        let wrong = try curl(["--data-urlencode", "username=alice", "--data-urlencode", "password=nope-nope", "http://\(registry.host)/signin"])
        #expect(wrong.lines.first?.contains("401") == true && wrong.stdout.contains("incorrect username or password"))
        let cookie = try #require(try signIn(registry, "alice", "alice-password"))
        let index = try load(registry, "/", cookie: cookie, name: "index-alice")
        #expect(index.html.contains("<span class=\"who\">alice</span>"))
        #expect(index.html.contains("alice/secret") && index.html.contains("<span class=\"badge private\">private</span>"))
        // bob sees no more than anyone.
        let bob = try #require(try signIn(registry, "bob", "bob-password"))
        #expect(!(try load(registry, "/", cookie: bob, name: "index-bob")).html.contains("alice/secret"))
        _ = registry.stop()
    }

    @Test func aRepositoryListsItsTagsAndAnImageItsLayersHistoryAndConfig() throws {
        let (registry, client) = try hub()
        let repository = try load(registry, "/r/alice/app", name: "repository")
        let digest = try client.strata(["inspect", "--format", "{{index .RepoDigests 0}}", "\(registry.host)/alice/app:2"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "@").last ?? ""
        #expect(digest.hasPrefix("sha256:"))
        #expect(repository.html.contains("<a href=\"/r/alice/app/tags/2\">2</a>") && repository.html.contains("<a href=\"/r/alice/app/tags/1\">1</a>"))
        #expect(repository.html.contains("title=\"\(digest)\""), "\(digest) in \(repository.html)")
        #expect(repository.html.contains("<td>linux/amd64</td>") && repository.html.contains("<td>alice</td>"))
        #expect(repository.html.contains("value=\"docker pull \(registry.host)/alice/app:2\""))

        let image = try load(registry, "/r/alice/app/tags/2", name: "image")
        // Two layers, bottom first; the busybox layer is tag 1's too.
        let layers = image.html.components(separatedBy: "<li class=\"layer").dropFirst()
        #expect(layers.count == 2)
        #expect(layers.first?.contains("shared with 1") == true && layers.last?.contains("shared with") == false)
        // History as docker history shows it: the image's ID on top, <missing> below, 0B for metadata steps.
        #expect(image.html.contains("&lt;missing&gt;") && image.html.contains("<td>0B</td>"))
        #expect(image.html.contains("ENV GREETING=hi") || image.html.contains("GREETING=hi"))
        for key in ["Env", "Cmd", "Entrypoint", "ExposedPorts", "Labels"] { #expect(image.html.contains("<dt>\(key)</dt>"), "\(key)") }
        #expect(image.html.contains("<code>GREETING=hi</code>") && image.html.contains("<code>8080/tcp</code>") && image.html.contains("<code>org.example.team=web</code>"))
        #expect(image.html.contains("value=\"docker pull \(registry.host)/alice/app:2\""))
        _ = registry.stop()
    }

    @Test func twoTagsAreComparedWithTheEnginesImageDiff() throws {
        let (registry, client) = try hub()
        let page = try load(registry, "/r/alice/app/diff?from=1&to=2", name: "diff")
        #expect(page.html.contains("1 shared") && page.html.contains("1 only in 2") && page.html.contains("0 only in 1"))
        #expect(page.html.contains("<tr class=\"added\"><td title=\"added\">A</td><td><code>/hello</code></td>"), "\(page.html)")
        // The same answer as `strata image diff` on the same two images.
        let engine = try client.strata(["image", "diff", "\(registry.host)/alice/app:1", "\(registry.host)/alice/app:2"])
        #expect(engine.stdout.contains("A /hello"), "\(engine.stdout)")
        _ = registry.stop()
    }

    @Test func theOwnerSetsTheDescriptionWithAFormThatCarriesItsToken() throws {
        let (registry, _) = try hub()
        let cookie = try #require(try signIn(registry, "alice", "alice-password"))
        let page = try load(registry, "/r/alice/app", cookie: cookie, name: "repository-owner")
        let csrf = try #require(page.html.components(separatedBy: "name=\"csrf\" value=\"").dropFirst().first?.prefix { $0 != "\"" })
        let stale = try curl(["-b", cookie, "--data-urlencode", "description=forged", "http://\(registry.host)/r/alice/app/description"])
        #expect(stale.lines.first?.contains("403") == true)
        let saved = try curl(["-b", cookie, "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "description=A <b>tiny</b> app",
                              "http://\(registry.host)/r/alice/app/description"])
        #expect(saved.lines.first?.contains("303") == true, "\(saved.stdout)")
        let after = try load(registry, "/r/alice/app", name: "repository-described")
        #expect(after.html.contains("A &lt;b&gt;tiny&lt;/b&gt; app"))
        // bob may not, and is told whose it is.
        let bob = try #require(try signIn(registry, "bob", "bob-password"))
        let bobsPage = try load(registry, "/r/alice/app", cookie: bob, name: "repository-bob")
        #expect(!bobsPage.html.contains("<textarea"))
        _ = registry.stop()
    }
}
