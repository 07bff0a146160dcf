import Foundation
import ImageSpec
import Testing

/// The stage timeline of `--debug` and `STRATA_TRACE=1`: nested stages are charged their own time only.
@Suite struct TraceTests {
    @Test func aStageIsChargedItsSelfTimeNotItsInnerStages() throws {
        let trace = Trace()
        trace.measure(.unpack) {
            for _ in 0..<3 { trace.measure(.inflate) { _ = usleep(20_000) } }
        }
        let inner = try #require(trace.total(.inflate)), outer = try #require(trace.total(.unpack))
        #expect(inner.calls == 3 && outer.calls == 1)
        #expect(inner.seconds >= 0.06)
        // The outer stage did nothing of its own but call the inner one.
        #expect(outer.seconds < inner.seconds / 3, "unpack \(outer.seconds) s, inflate \(inner.seconds) s")
        #expect(trace.total(.download) == nil)
    }

    @Test func theReportListsStagesInTheOrderTheyFirstRan() {
        let trace = Trace()
        trace.measure(.download) {}
        trace.measure(.hash) {}
        trace.measure(.download) {}
        let lines = trace.report("strata pull").split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("trace: strata pull in ") && lines[0].hasSuffix("(self time per stage; stages on other threads overlap)"))
        #expect(lines[1].split(separator: " ") == ["stage", "self", "time", "share", "calls", "first", "last"])
        #expect(lines.dropFirst(2).map { $0.split(separator: " ").first.map(String.init) } == ["download", "hash"])
        #expect(lines[2].split(separator: " ")[4] == "2")
    }

    @Test func stagesOnOtherThreadsAreEachCharged() async {
        let trace = Trace()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { trace.measure(.hash) { _ = usleep(10_000) } } }
        }
        #expect(trace.total(.hash)?.calls == 4)
        #expect((trace.total(.hash)?.seconds ?? 0) >= 0.04)
    }
}
