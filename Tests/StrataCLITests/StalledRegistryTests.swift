import Foundation
import RegistryTestSupport
import Testing

/// A registry that stops answering mid-pull: the pull gives up after the user's timeout
/// (`STRATA_REGISTRY_TIMEOUT`) and its retries, says so, and stores nothing.
@Suite(.blocking) struct StalledRegistryTests {
    @Test func aStalledBlobTimesOutAsTheUserSet() async throws {
        let registry = try await InProcessRegistry.start()
        let image = try TestImage.random(layerSizes: [4096])
        registry.put(image, in: "stall/app", tag: "1")
        registry.inject(.stall, times: 100) { $0.path.contains("/blobs/") }
        let c = Client()
        let started = Date()
        let pull = try CLI.run(CLI.binary, ["--root", c.root, "pull", "\(registry.host)/stall/app:1"],
                               environment: ["STRATA_REGISTRY_TIMEOUT": "1s"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(pull.status != 0 && pull.stderr.contains("timed out"), "\(pull.stderr)")
        #expect(elapsed < 60, "took \(elapsed) s")
        #expect(try c.strata(["images", "-q"]).stdout.isEmpty)
        #expect(try c.strata(["system", "check"]).status == 0)

        let bad = try CLI.run(CLI.binary, ["--root", c.root, "pull", "\(registry.host)/stall/app:1"],
                              environment: ["STRATA_REGISTRY_TIMEOUT": "soon"])
        #expect(bad.status != 0 && bad.stderr.contains("invalid STRATA_REGISTRY_TIMEOUT \"soon\""), "\(bad.stderr)")
        await registry.stop()
    }
}
