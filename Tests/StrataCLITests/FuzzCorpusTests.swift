import Foundation
import RegistryTestSupport
import Testing

/// Every fuzz target replays its committed corpus — the seeds and each input that once crashed
/// it — through the same code libFuzzer drives (`make fuzz`), without the fuzzer: a crash fixed
/// stays fixed.
@Suite(.blocking) struct FuzzCorpusTests {
    static let targets = ["tar", "gzip", "zstd", "dockerfile", "dockerignore", "reference", "manifest", "gotemplate",
                          "www-authenticate", "registry-route", "registry-upload"]

    @Test(arguments: targets)
    func theCorpusReplaysWithoutACrash(_ target: String) throws {
        let replayer = (CLI.binary as NSString).deletingLastPathComponent + "/strata-fuzz"
        let corpus = "\(CLI.packageRoot)/Fuzz/Corpus/\(target)"
        let count = try FileManager.default.contentsOfDirectory(atPath: corpus).count
        #expect(count > 0, "no seeds for \(target)")
        let r = try CLI.run(replayer, [target, corpus])
        #expect(r.status == 0 && r.stdout == "\(target): \(count) inputs replayed\n", "\(r.status) \(r.stdout)\(r.stderr)")
    }

    @Test func everyTargetIsReplayedHere() throws {
        let replayer = (CLI.binary as NSString).deletingLastPathComponent + "/strata-fuzz"
        let usage = try CLI.run(replayer, [])
        #expect(usage.status == 2 && usage.stderr.contains("targets: \(Self.targets.joined(separator: ", "))"), "\(usage.stderr)")
        let corpora = try FileManager.default.contentsOfDirectory(atPath: "\(CLI.packageRoot)/Fuzz/Corpus").sorted()
        #expect(corpora == Self.targets.sorted())
    }
}
