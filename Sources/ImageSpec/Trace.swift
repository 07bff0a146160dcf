import Foundation
import Synchronization

/// Where a command's time goes, stage by stage: `STRATA_TRACE=1` or `--debug` prints the
/// timeline when the command ends. Stages nest (an unpack reads through an inflate, which reads
/// through the download and the blob's hashing and writing): each is charged its *self* time,
/// the time inside it minus the time in the stages it called, so the column adds up to the
/// work done. Stages on different threads overlap in wall time; the first and last instants
/// show how. Off, a measure costs one atomic load.
public final class Trace: @unchecked Sendable {
    public enum Stage: String, CaseIterable, Sendable {
        // Reading and storing images.
        case open, download, hash, write, inflate, unpack, fsync, commit
        /// A pipeline's thread waiting for the one before it (or after it, when it is full).
        case stall
        // Running a container.
        case create, claim, mount, network, bundle, runtime, wait, unmount, record, remove
    }

    public static let shared = Trace()
    private static let on = Atomic<Bool>(ProcessInfo.processInfo.environment["STRATA_TRACE"].map { $0 != "" && $0 != "0" } ?? false)

    private let lock = NSLock()
    private let origin = ContinuousClock.now
    private var totals: [Stage: Total] = [:]

    struct Total {
        var seconds = 0.0
        var calls = 0
        var first = Double.infinity
        var last = 0.0
    }

    /// One thread's open stages, innermost last, each with the instant it was last charged from.
    private final class Stack {
        var open: [(stage: Stage, since: ContinuousClock.Instant)] = []
    }

    public static var isEnabled: Bool { on.load(ordering: .relaxed) }
    public static func enable() { on.store(true, ordering: .relaxed) }

    /// Runs `body` as `stage`: charged its self time, on this thread.
    @inline(__always)
    public static func measure<T>(_ stage: Stage, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        return try shared.measure(stage, body)
    }

    /// Runs `body` as `stage` on this trace, whether tracing is on or not.
    public func measure<T>(_ stage: Stage, _ body: () throws -> T) rethrows -> T {
        enter(stage)
        defer { leave() }
        return try body()
    }

    public init() {}

    private func enter(_ stage: Stage) {
        let stack = self.stack
        let now = ContinuousClock.now
        if let outer = stack.open.last { charge(outer.stage, from: outer.since, to: now, call: false) }
        stack.open.append((stage, now))
    }

    private func leave() {
        let stack = self.stack
        let now = ContinuousClock.now
        guard let inner = stack.open.popLast() else { return }
        charge(inner.stage, from: inner.since, to: now)
        if !stack.open.isEmpty { stack.open[stack.open.count - 1].since = now }
    }

    private func charge(_ stage: Stage, from start: ContinuousClock.Instant, to end: ContinuousClock.Instant, call: Bool = true) {
        let seconds = Self.seconds(start.duration(to: end))
        let (first, last) = (Self.seconds(origin.duration(to: start)), Self.seconds(origin.duration(to: end)))
        lock.withLock {
            var total = totals[stage] ?? Total()
            total.seconds += seconds
            if call { total.calls += 1 }
            total.first = min(total.first, first)
            total.last = max(total.last, last)
            totals[stage] = total
        }
    }

    /// This thread's open stages in this trace.
    private var stack: Stack {
        let key = "strata.trace.\(ObjectIdentifier(self).hashValue)"
        if let stack = Thread.current.threadDictionary[key] as? Stack { return stack }
        let stack = Stack()
        Thread.current.threadDictionary[key] = stack
        return stack
    }

    private static func fixed(_ x: Double) -> String { String(format: "%.3f", x) }
    private static func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(width - text.count, 0)) + text }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// A stage's self time so far and how many times it ran; nil if it never ran.
    public func total(_ stage: Stage) -> (seconds: Double, calls: Int)? {
        lock.withLock { totals[stage].map { ($0.seconds, $0.calls) } }
    }

    /// `reader`, its reads charged to `stage` (itself when tracing is off).
    public static func reader(_ reader: ByteReader, _ stage: Stage) -> ByteReader {
        isEnabled ? TracedReader(reader, stage) : reader
    }

    /// The timeline so far: every stage met, in the order of the first instant it ran.
    public func report(_ title: String) -> String {
        let elapsed = Self.seconds(origin.duration(to: .now))
        let rows = lock.withLock { totals }.sorted { $0.value.first < $1.value.first }
        var out = "trace: \(title) in \(Self.fixed(elapsed)) s (self time per stage; stages on other threads overlap)\n"
        out += "  stage      self time  share  calls    first     last\n"
        for (stage, total) in rows {
            let share = elapsed > 0 ? Int((total.seconds / elapsed * 100).rounded()) : 0
            out += "  " + stage.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                + Self.right("\(Self.fixed(total.seconds)) s", 11) + Self.right("\(share)%", 7) + Self.right("\(total.calls)", 7)
                + Self.right("\(Self.fixed(total.first)) s", 9) + Self.right("\(Self.fixed(total.last)) s", 9) + "\n"
        }
        return out
    }
}

private final class TracedReader: ByteReader {
    private let base: ByteReader
    private let stage: Trace.Stage

    init(_ base: ByteReader, _ stage: Trace.Stage) {
        self.base = base
        self.stage = stage
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try Trace.measure(stage) { try base.read(into: buffer) }
    }
}
