import Foundation
import Synchronization
import Testing

/// For suites whose tests block their thread: waiting for a subprocess (`strata`, skopeo, docker,
/// runc), `usleep`, a pipe. Swift's cooperative pool has one thread per core, two here; a test
/// blocked on one of them stalls every in-process server and client of the run, whose requests
/// then time out and are retried, so counts and ranges come out wrong in tests that did nothing
/// wrong. With this trait such a test runs on threads of its own, and at most two of them at once,
/// as many as blocked the pool before, so the machine's load stays what it was.
public struct BlockingTrait: SuiteTrait, TestTrait, TestScoping {
    static let slots = AsyncSlots(2)
    public static let executor = ThreadsOfTheirOwn()

    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { testCase == nil ? nil : self }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await Self.slots.acquire()
        defer { Self.slots.release() }
        try await withTaskExecutorPreference(Self.executor) { try await function() }
    }
}

extension Trait where Self == BlockingTrait {
    /// This suite's tests block their thread: run them off Swift's cooperative pool.
    public static var blocking: Self { BlockingTrait() }
}

/// A counting semaphore whose waiters are suspended, never blocked.
final class AsyncSlots: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: count)) }

    func acquire() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                guard state.free > 0 else {
                    state.waiters.append(waiter)
                    return false
                }
                state.free -= 1
                return true
            }
            if granted { waiter.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// A task executor that gives every job a thread: an idle one if there is one, else a new one.
/// A job that blocks therefore never holds up another, not even one of its own child tasks.
public final class ThreadsOfTheirOwn: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var idle = 0

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        // Every queued job needs an idle thread that will take it; start one when there are more jobs.
        if jobs.count > idle {
            Thread { self.work() }.start()
        } else {
            condition.signal()
        }
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
