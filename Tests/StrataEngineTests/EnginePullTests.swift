import Foundation
import Testing
import RegistryTestSupport
import StrataEngine

/// Pull as a library user sees it: typed events in order, and a cancelled pull that leaves nothing.
@Suite(.serialized, .enabled(if: getuid() == 0))
struct EnginePullTests {
    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [PullEvent] = []
        func add(_ e: PullEvent) { lock.withLock { list.append(e) } }
        var all: [PullEvent] { lock.withLock { list } }
    }

    func image() throws -> TestImage {
        try TestImage(layers: [
            (try Layer().dir("etc").file("etc/motd", "pulled").bytes(), .ociLayer),
            (try Layer().file("app", "binary").bytes(), .ociLayer),
        ])
    }

    @Test func aPullReportsTypedEventsThenAnUpToDatePullCostsNothing() async throws {
        let registry = try await InProcessRegistry.start()
        let image = try image()
        registry.put(image, in: "lab/app", tag: "1")
        let engine = try Engine(root: temporaryDirectory("pull-store"))
        let events = Events()
        let result = try await engine.pull("\(registry.host)/lab/app:1", events: events.add)
        #expect(!result.upToDate && result.digest == image.manifestDigest)
        let all = events.all
        guard case .pulling(let ref)? = all.first, case .pulled(let last)? = all.last else {
            Issue.record("events out of order: \(all)")
            return
        }
        #expect(ref.description == "\(registry.host)/lab/app:1" && last.digest == image.manifestDigest)
        let completed = all.filter { if case .transfer(.layer(_, .complete)) = $0 { return true } else { return false } }
        #expect(completed.count == 2)
        #expect(try engine.images().map { "\($0.repository):\($0.tag)" } == ["\(registry.host)/lab/app:1"])
        let again = try await engine.pull("\(registry.host)/lab/app:1")
        #expect(again.upToDate)
        await registry.stop()
    }

    @Test func aCancelledPullLeavesNoBlobSnapshotOrRecord() async throws {
        let registry = try await InProcessRegistry.start()
        let image = try image()
        registry.put(image, in: "lab/slow", tag: "1")
        // The second layer's download never answers: the pull is mid-way when it is cancelled.
        let stalled = image.layers[1].digest.description
        registry.inject(.stall, times: 100) { $0.method == "GET" && $0.path.hasSuffix(stalled) }
        let root = temporaryDirectory("cancel-store")
        let engine = try Engine(root: root)
        let pull = Task { try await engine.pull("\(registry.host)/lab/slow:1") }
        for _ in 0..<100 where !registry.requests.contains(where: { $0.path.hasSuffix(stalled) }) {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        pull.cancel()
        let started = Date()
        do {
            _ = try await pull.value
            Issue.record("the pull finished")
        } catch {
            #expect(error is CancellationError || (error as? StrataError)?.code == .cancelled, "\(error)")
        }
        #expect(registry.requests.contains { $0.path.hasSuffix(stalled) })
        // Well under the 120 s a stalled read would take, with room for a loaded machine.
        #expect(Date().timeIntervalSince(started) < 60, "a stalled layer would hold the pull for minutes")
        let store = try engine.store
        #expect(try store.images().isEmpty)
        #expect(try store.tags().isEmpty)
        #expect(FileSystem.listDirectory("\(root)/ingest").isEmpty)
        let snapshots = (try? FileManager.default.subpathsOfDirectory(atPath: "\(root)/snapshots")) ?? []
        #expect(!snapshots.contains { $0.contains("tmp-") }, "\(snapshots)")
        await registry.stop()
    }
}
