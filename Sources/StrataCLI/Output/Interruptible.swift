import ArgumentParser
import Dispatch
import Foundation
import StrataEngine
import Synchronization

/// Ctrl-C and SIGTERM during a pull, push, copy, build, save or load: the work is cancelled and
/// unwinds through its own cleanup — ingests, snapshot temp trees and staged archives are removed,
/// no record is written — and the command exits 130 (SIGINT) or 143 (SIGTERM), as a shell expects.
/// Work that cannot unwind within a few seconds (a read blocked on a pipe), or a second signal,
/// ends the process after `cleanup` removed what it had half-made.
enum Interruptible {
    static let grace: Double = 3

    static func run<T: Sendable>(cleanup: @escaping @Sendable () -> Void = {},
                                 _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await work() }
        // The handlers hold the cleanup (and through it the engine) only while the work runs: a
        // cancelled source lets go of its handler later, on its queue, and a store still referenced
        // at exit is never closed, which leaves its WAL for the next process to replay.
        let pending = Mutex<(@Sendable () -> Void)?>(cleanup)
        let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                @Sendable func leave() -> Never {
                    pending.withLock { $0 }?()
                    warn("Error: interrupted")
                    exit(128 + number)
                }
                if Interruption.signal != nil { leave() }
                Interruption.request(signal: number)
                task.cancel()
                DispatchQueue.global().asyncAfter(deadline: .now() + grace) { leave() }
            }
            source.resume()
            return source
        }
        defer {
            pending.withLock { $0 = nil }
            sources.forEach { $0.cancel() }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        do {
            return try await task.value
        } catch {
            if let number = Interruption.signal {
                warn("Error: interrupted")
                throw ExitCode(128 + number)
            }
            throw error
        }
    }

    /// The same for synchronous work (load, save, import), run on its own thread so the signal
    /// handler stays free to ask it to stop.
    static func run<T: Sendable>(cleanup: @escaping @Sendable () -> Void = {},
                                 sync work: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(cleanup: cleanup) { try await onThread("strata-work", work) }
    }
}
