import Foundation
import RegistryTestSupport
import Testing

/// The Hub's sign-in against the real clients: docker (Debian's dockerd), podman, skopeo and
/// Strata itself, each with a password and with an access token, and each refusal as the user
/// sees it.
@Suite(.blocking, .serialized) struct HubClientsTests {
    /// A token-auth registry with alice (a user) and an access token of hers with write scope.
    struct Hub {
        let registry: StrataRegistry
        let token: String

        init() throws {
            registry = try StrataRegistry(["--auth", "token"])
            let add = try CLI.run(CLI.binary, ["registry", "user", "add", "--root", registry.root, "alice"], stdin: Data("alice-password\n".utf8))
            guard add.status == 0 else { throw TestFailure("user add: \(add.stderr)") }
            _ = try CLI.run(CLI.binary, ["registry", "user", "add", "--root", registry.root, "bob"], stdin: Data("bob-password\n".utf8))
            let create = try CLI.run(CLI.binary, ["registry", "token", "create", "--root", registry.root, "--user", "alice", "--scope", "write"])
            guard create.status == 0, let token = create.lines.first, token.hasPrefix("strata_pat_") else { throw TestFailure("token create: \(create.stderr)") }
            self.token = token
        }

        func admin(_ arguments: [String], stdin: Data? = nil) throws -> CLI.Result {
            try CLI.run(CLI.binary, ["registry"] + arguments + ["--root", registry.root], stdin: stdin)
        }
    }

    @Test func strataLogsInAndPushesWithAPasswordAndWithAToken() throws {
        let hub = try Hub()
        for secret in ["alice-password", hub.token] {
            let client = Client()
            let login = try client.strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data(secret.utf8))
            #expect(login.status == 0 && login.stdout == "Login Succeeded\n", "\(login.stderr)")
            let name = "\(hub.registry.host)/alice/app:\(secret == hub.token ? "token" : "password")"
            try client.importBusybox(name)
            let push = try client.strata(["push", name])
            #expect(push.status == 0, "\(push.stderr)")
            // Someone else's namespace: the registry says whose it is, and the client shows it.
            let other = "\(hub.registry.host)/bob/app:1"
            #expect(try client.strata(["tag", name, other]).status == 0)
            let denied = try client.strata(["push", other])
            #expect(denied.status != 0)
            #expect(denied.stderr.contains("denied: bob/app is in bob's namespace: only bob may push there, not alice"), "\(denied.stderr)")
        }
        let wrong = try Client().strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data("not-her-password".utf8))
        #expect(wrong.status != 0 && wrong.stderr.contains("incorrect username or password"), "\(wrong.stderr)")
        #expect(!(try String(contentsOfFile: hub.registry.log, encoding: .utf8)).contains("alice-password"))
        _ = hub.registry.stop()
    }

    /// A distribution htpasswd file, made by Apache's htpasswd -B, moves over whole.
    @Test(.enabled(if: CLI.which("htpasswd") != nil))
    func htpasswdUsersImportAndSignIn() throws {
        let hub = try Hub()
        let file = CLI.temporaryDirectory("htpasswd") + "/htpasswd"
        #expect(try CLI.run(CLI.which("htpasswd")!, ["-Bbc", file, "carol", "carols-password"]).status == 0)
        #expect(try CLI.run(CLI.which("htpasswd")!, ["-Bb", file, "dave", "daves-password"]).status == 0)
        let imported = try hub.admin(["user", "add", "--import-htpasswd", file])
        #expect(imported.stdout == "Imported 2 users from \(file): carol, dave\n", "\(imported.stderr)")
        let login = try Client().strata(["login", "-u", "dave", "--password-stdin", hub.registry.host], stdin: Data("daves-password".utf8))
        #expect(login.status == 0, "\(login.stderr)")
        let users = try hub.admin(["user", "ls"])
        #expect(users.lines.dropFirst().map { CLI.columns($0).first ?? "" } == ["alice", "bob", "carol", "dave"])
        // A file that is not bcrypt is refused whole, naming the line.
        try "erin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n".write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try hub.admin(["user", "add", "--import-htpasswd", file])
        #expect(refused.status != 0 && refused.stderr.contains("htpasswd line 1: erin's password is not a bcrypt hash"), "\(refused.stderr)")
        _ = hub.registry.stop()
    }

    @Test func aRevokedTokenNoLongerSignsIn() throws {
        let hub = try Hub()
        let client = Client()
        #expect(try client.strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data(hub.token.utf8)).status == 0)
        let id = String(hub.token.dropFirst("strata_pat_".count).prefix(12))
        #expect(try hub.admin(["token", "revoke", id]).stdout == "Revoked \(id)\n")
        let list = try hub.admin(["token", "ls", "--user", "alice"])
        #expect(list.lines.count == 2 && list.lines[1].hasPrefix(id) && list.lines[1].hasSuffix("revoked"), "\(list.stdout)")
        let again = try Client().strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data(hub.token.utf8))
        #expect(again.status != 0 && again.stderr.contains("access token \(id) was revoked on "), "\(again.stderr)")
        _ = hub.registry.stop()
    }

    @Test(.enabled(if: CLI.which("podman") != nil && CLI.which("skopeo") != nil))
    func podmanAndSkopeoLogIn() throws {
        let hub = try Hub()
        for secret in ["alice-password", hub.token] {
            let authfile = CLI.temporaryDirectory("auth") + "/auth.json"
            let podman = try CLI.run(CLI.which("podman")!, ["login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "--password-stdin", hub.registry.host],
                                     stdin: Data(secret.utf8))
            #expect(podman.status == 0 && podman.stdout.contains("Login Succeeded!"), "\(podman.stdout)\(podman.stderr)")
            let skopeo = try CLI.run(CLI.which("skopeo")!, ["login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "--password-stdin", hub.registry.host],
                                     stdin: Data(secret.utf8))
            #expect(skopeo.status == 0 && skopeo.stdout.contains("Login Succeeded!"), "\(skopeo.stdout)\(skopeo.stderr)")
        }
        let authfile = CLI.temporaryDirectory("auth") + "/auth.json"
        let wrong = try CLI.run(CLI.which("skopeo")!, ["login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "-p", "wrong-password", hub.registry.host])
        // skopeo's own words for any 401 from a token server.
        #expect(wrong.status != 0 && wrong.stderr.contains("invalid username/password"), "\(wrong.stderr)")
        _ = hub.registry.stop()
    }

    @Test(.enabled(if: Daemon.dockerAvailable))
    func dockerLogsInPushesPullsAndLogsOut() throws {
        let hub = try Hub()
        let (dockerd, daemon) = try Daemon.dockerd(insecureRegistry: hub.registry.host)
        defer { withExtendedLifetime(dockerd) {} }
        let seed = Client()
        let base = "\(hub.registry.host)/alice/base:1"
        try seed.importBusybox(base)
        #expect(try seed.strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data("alice-password".utf8)).status == 0)
        #expect(try seed.strata(["push", base]).status == 0)
        for secret in ["alice-password", hub.token] {
            let config = CLI.temporaryDirectory("docker-config")
            func docker(_ arguments: [String], stdin: Data? = nil) throws -> CLI.Result {
                try CLI.run(CLI.which("docker")!, daemon + arguments, environment: ["DOCKER_CONFIG": config], stdin: stdin)
            }
            let login = try docker(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data(secret.utf8))
            #expect(login.status == 0 && login.stdout.contains("Login Succeeded"), "\(login.stdout)\(login.stderr)")
            let pull = try docker(["pull", base])
            #expect(pull.status == 0, "\(pull.stdout)\(pull.stderr)")
            let copy = "\(hub.registry.host)/alice/docker:\(secret == hub.token ? "token" : "password")"
            #expect(try docker(["tag", base, copy]).status == 0)
            let push = try docker(["push", copy])
            #expect(push.status == 0, "\(push.stdout)\(push.stderr)")
            let other = "\(hub.registry.host)/bob/docker:1"
            #expect(try docker(["tag", base, other]).status == 0)
            let denied = try docker(["push", other])
            #expect(denied.status != 0 && denied.stderr.contains("bob/docker is in bob's namespace"), "\(denied.stdout)\(denied.stderr)")
            let search = try docker(["search", "\(hub.registry.host)/base"])
            #expect(search.status == 0 && search.lines.first.map(CLI.columns)?.prefix(4) == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"], "\(search.stdout)\(search.stderr)")
            #expect(search.lines.dropFirst().first?.hasPrefix("alice/base ") == true, "\(search.stdout)")
            let logout = try docker(["logout", hub.registry.host])
            #expect(logout.status == 0 && logout.stdout.contains("Removing login credentials for \(hub.registry.host)"), "\(logout.stdout)\(logout.stderr)")
        }
        let config = CLI.temporaryDirectory("docker-config")
        let wrong = try CLI.run(CLI.which("docker")!, daemon + ["login", "-u", "alice", "--password-stdin", hub.registry.host],
                                environment: ["DOCKER_CONFIG": config], stdin: Data("wrong-password".utf8))
        #expect(wrong.status != 0 && wrong.stderr.contains("incorrect username or password"), "\(wrong.stderr)")
        _ = hub.registry.stop()
    }

    @Test func strataSearchPrintsDockersColumns() throws {
        let hub = try Hub()
        let client = Client()
        #expect(try client.strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data("alice-password".utf8)).status == 0)
        for name in ["alice/web", "alice/webhooks"] {
            try client.importBusybox("\(hub.registry.host)/\(name):1")
            #expect(try client.strata(["push", "\(hub.registry.host)/\(name):1"]).status == 0)
        }
        #expect(try hub.admin(["repo", "set-description", "alice/web", "A web server that answers every request with a cheerful hello"]).status == 0)
        let search = try client.strata(["search", "\(hub.registry.host)/web"])
        #expect(search.status == 0, "\(search.stderr)")
        #expect(search.lines == [
            "NAME             DESCRIPTION                                     STARS     OFFICIAL",
            "alice/web        A web server that answers every request with…   0         ",
            "alice/webhooks                                                   0         ",
        ], "\(search.stdout)")
        let limited = try client.strata(["search", "--limit", "1", "--format", "{{.Name}}: {{.StarCount}}", "\(hub.registry.host)/web"])
        #expect(limited.stdout == "alice/web: 0\n", "\(limited.stderr)")
        let none = try client.strata(["search", "--limit", "0", "\(hub.registry.host)/web"])
        #expect(none.status != 0 && none.stderr.contains("invalid --limit 0: from 1 to 100"))
        _ = hub.registry.stop()
    }

    @Test func eventsArePrintedAndFollowed() throws {
        let hub = try Hub()
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: CLI.binary)
        follower.arguments = ["registry", "events", "--follow", "--root", hub.registry.root]
        let output = Pipe()
        follower.standardOutput = output
        try follower.run()
        let client = Client()
        #expect(try client.strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data("alice-password".utf8)).status == 0)
        try client.importBusybox("\(hub.registry.host)/alice/app:1")
        #expect(try client.strata(["push", "\(hub.registry.host)/alice/app:1"]).status == 0)
        // --follow prints the push as it happens.
        var seen = ""
        for _ in 0..<100 where !seen.contains(" push alice/app:1 ") {
            usleep(100_000)
            seen += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        kill(follower.processIdentifier, SIGTERM)
        follower.waitUntilExit()
        #expect(seen.contains(" user-add - (actor=local:"), "\(seen)")
        #expect(seen.contains(" login - (actor=alice, address=127.0.0.1, detail=password)"), "\(seen)")
        #expect(seen.contains(" push alice/app:1 (actor=alice, address=127.0.0.1, digest=sha256:"), "\(seen)")
        let json = try hub.admin(["events", "--format", "json"])
        let pushes = json.lines.filter { $0.contains("\"action\":\"push\"") }
        #expect(pushes.count == 1 && pushes[0].contains("\"actor\":\"alice\"") && pushes[0].contains("\"time\":\"20"), "\(json.stdout)")
        _ = hub.registry.stop()
    }

    /// Private repositories and an admin's push to library/, through the CLI that manages them.
    @Test func privateRepositoriesAndOfficialImages() throws {
        let hub = try Hub()
        #expect(try hub.admin(["user", "add", "--admin", "root"], stdin: Data("root-password\n".utf8)).status == 0)
        #expect(try hub.admin(["repo", "create", "--private", "alice/secret"]).stdout == "Created private repository alice/secret\n")
        let alice = Client()
        #expect(try alice.strata(["login", "-u", "alice", "--password-stdin", hub.registry.host], stdin: Data("alice-password".utf8)).status == 0)
        let secret = "\(hub.registry.host)/alice/secret:1"
        try alice.importBusybox(secret)
        #expect(try alice.strata(["push", secret]).status == 0)
        // Anonymously, the private repository and one that does not exist answer alike.
        let stranger = Client()
        let hidden = try stranger.strata(["pull", secret])
        let missing = try stranger.strata(["pull", "\(hub.registry.host)/alice/nothing:1"])
        #expect(hidden.status != 0 && hidden.stderr == missing.stderr.replacingOccurrences(of: "alice/nothing", with: "alice/secret"), "\(hidden.stderr)\n\(missing.stderr)")
        #expect(hidden.stderr.contains("pull access denied for \(hub.registry.host)/alice/secret, repository does not exist or may require 'strata login'"))
        // Made public, anyone pulls it.
        #expect(try hub.admin(["repo", "set-visibility", "alice/secret", "public"]).status == 0)
        #expect(try stranger.strata(["pull", secret]).status == 0)
        // library/ is the admins': alice is refused, root pushes, and the bare name is the same image.
        let official = "\(hub.registry.host)/busybox:1"
        #expect(try alice.strata(["tag", secret, official]).status == 0)
        let refused = try alice.strata(["push", official])
        #expect(refused.stderr.contains("library/ holds the official images, which only an admin may push; alice is not an admin"), "\(refused.stderr)")
        let root = Client()
        try root.importBusybox(official)
        #expect(try root.strata(["login", "-u", "root", "--password-stdin", hub.registry.host], stdin: Data("root-password".utf8)).status == 0)
        #expect(try root.strata(["push", official]).status == 0)
        #expect(try stranger.strata(["pull", "\(hub.registry.host)/library/busybox:1"]).status == 0)
        _ = hub.registry.stop()
    }
}
