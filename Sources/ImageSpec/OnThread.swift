import Foundation

/// Runs blocking work (file creation, inflating, a container run to its end) on a thread of its
/// own, off Swift's cooperative pool — as wide as the cores, so a few parked threads would stall
/// every other task — and awaits its result.
public func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }
}

/// Carries a value the compiler cannot prove Sendable into a closure that runs elsewhere; the
/// caller guarantees it is used by one thread at a time.
public struct Unchecked<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
