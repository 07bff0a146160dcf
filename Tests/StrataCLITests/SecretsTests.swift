import Foundation
import RegistryTestSupport
import Testing

/// Credentials never show: not in errors, not in logs, not in `--debug` output, however a
/// command ends. `-p` on the command line warns, as Docker's CLI does.
@Suite(.blocking, .serialized, .enabled(if: TestRegistry.available)) struct SecretsTests {
    static let password = "s3cret"
    static let basic = Data("strata:s3cret".utf8).base64EncodedString()

    func expectNoSecret(_ r: CLI.Result, _ what: String) {
        for secret in [Self.password, Self.basic] {
            #expect(!r.stdout.contains(secret) && !r.stderr.contains(secret), "\(what) shows a credential: \(r.stdout)\(r.stderr)")
        }
    }

    @Test(arguments: ["basic", "token"])
    func credentialsNeverShow(_ mode: String) throws {
        let registry = try TestRegistry(mode)
        let c = Client()
        let name = "\(registry.host)/secret/app:1"
        try c.importBusybox(name)
        let wrong = try c.strata(["--debug", "login", "-u", "strata", "--password-stdin", registry.host], stdin: Data("wrong-\(Self.password)\n".utf8))
        #expect(wrong.status != 0)
        expectNoSecret(wrong, "a failed login")

        let login = try c.strata(["--debug", "login", "-u", "strata", "-p", Self.password, registry.host])
        #expect(login.status == 0 && login.stderr.contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."), "\(login.stderr)")
        expectNoSecret(login, "login")
        for args in [["push", name], ["rmi", name], ["pull", name], ["pull", "\(registry.host)/secret/missing:1"]] {
            let r = try c.strata(["--debug"] + args)
            expectNoSecret(r, args.joined(separator: " "))
            #expect(!r.stderr.contains("Authorization: Basic") && !r.stderr.contains("Authorization: Bearer"), "\(r.stderr)")
        }
    }
}
