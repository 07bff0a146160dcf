import Synchronization

/// A process-wide interruption request (Ctrl-C, SIGTERM). Async work stops through task
/// cancellation; synchronous loops — copying a layer, reading a tar — call `check()` between
/// chunks, so a load or an unpack also stops promptly and unwinds through its cleanup: no
/// partial blob, snapshot or record is left behind.
public enum Interruption {
    private static let requested = Atomic<Int32>(0)

    /// Asks every long-running loop to stop; `signal` is what asked (for the exit code).
    public static func request(signal: Int32) { requested.store(signal, ordering: .relaxed) }

    /// The signal that asked for the interruption, if any.
    public static var signal: Int32? {
        let value = requested.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// Throws `.cancelled` once an interruption was requested or the current task was cancelled.
    @inline(__always)
    public static func check() throws {
        if requested.load(ordering: .relaxed) != 0 || Task.isCancelled {
            throw StrataError(.cancelled, "interrupted", cause: CancellationError())
        }
    }
}
