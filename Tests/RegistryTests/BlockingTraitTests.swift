import Foundation
import RegistryTestSupport
import Testing

/// The trait the subprocess-running suites carry, so their waiting never holds the cooperative
/// pool that the in-process servers and clients of the same run share.
@Suite(.blocking) struct BlockingTraitTests {
    @Test func aTestRunsOnThreadsOfItsOwn() {
        let executor = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
        #expect(executor == BlockingTrait.executor.asUnownedTaskExecutor())
    }

    /// Eight child tasks that block until a ninth runs: on an executor with fewer threads (the
    /// cooperative pool has one per core) the ninth would never start and the waits would run out.
    @Test func aBlockedJobNeverHoldsUpAnother() async {
        let blockers = 8
        let released = DispatchSemaphore(value: 0)
        let outcome = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<blockers { group.addTask { released.wait(timeout: .now() + 30) == .success } }
            group.addTask {
                for _ in 0..<blockers { released.signal() }
                return true
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(outcome)
    }
}
