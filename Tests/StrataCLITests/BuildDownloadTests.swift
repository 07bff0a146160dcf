import Foundation
import ImageSpec
import RegistryTestSupport
import Testing

/// `ADD <url>` goes through the registry client's HTTP stack: its proxy rules, retries and errors.
@Suite(.blocking) struct BuildDownloadTests {
    static func context(_ dockerfile: String) throws -> String {
        let dir = CLI.temporaryDirectory("add-context")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try dockerfile.write(toFile: "\(dir)/Dockerfile", atomically: true, encoding: .utf8)
        return dir
    }

    /// The server is named `files.strata.test`, which only the proxy can find: the build's
    /// download works only through `HTTP_PROXY`, and a 503 on the way is retried.
    @Test func addOfAURLUsesTheProxyAndRetries() async throws {
        let server = try await InProcessRegistry.start()
        let content = Array("fetched through the proxy\n".utf8)
        server.putFile("/downloads/tool.txt", content)
        server.inject(.status(503)) { $0.path == "/downloads/tool.txt" }
        let proxy = try await TestProxy.start(aliases: ["files.strata.test": "127.0.0.1"])
        let url = "http://files.strata.test:\(server.port)/downloads/tool.txt"
        let dir = try Self.context("FROM scratch\nADD --checksum=\(Digest.sha256(of: content)) \(url) /tool.txt\n")
        let root = CLI.temporaryDirectory("add-store")
        let build = try CLI.run(CLI.binary, ["--root", root, "build", "-q", "-t", "add/proxied", dir], environment: ["HTTP_PROXY": proxy.url])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(!proxy.requests.isEmpty && proxy.requests.allSatisfy { $0.target == "files.strata.test:\(server.port)" && $0.relayed })
        #expect(server.requests.filter { $0.path == "/downloads/tool.txt" }.map(\.status) == [503, 200])
        #expect(server.requests.allSatisfy { $0.header("User-Agent")?.hasPrefix("strata/") == true })

        // Without the proxy the name does not resolve: the build says which URL failed.
        let direct = try CLI.run(CLI.binary, ["--root", root, "build", "-q", "--no-cache", dir], environment: ["HTTP_PROXY": ""])
        #expect(direct.status != 0 && direct.stderr.contains("ADD \(url):"), "\(direct.stderr)")
        await proxy.stop()
        await server.stop()
    }
}
