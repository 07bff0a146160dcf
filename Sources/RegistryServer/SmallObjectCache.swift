import ImageSpec
import Synchronization

/// Small blobs read from an object store (manifests, configs), kept in memory once verified.
/// They are content-addressed, so a copy never goes stale, and the database still decides
/// whether one exists; a manifest GET then costs a replica no round trip to the store. The
/// oldest go first once `budget` bytes are held.
final class SmallObjectCache: Sendable {
    private struct State {
        var entries: [Digest: [UInt8]] = [:]
        var order: [Digest] = []
        var oldest = 0
        var bytes = 0
    }

    let budget: Int
    /// Larger blobs are never kept: a few of them would push out every manifest.
    let largest: Int
    private let state = Mutex(State())

    init(budget: Int = 32 << 20, largest: Int = 1 << 20) {
        self.budget = budget
        self.largest = largest
    }

    subscript(digest: Digest) -> [UInt8]? {
        state.withLock { $0.entries[digest] }
    }

    func keep(_ bytes: [UInt8], for digest: Digest) {
        guard bytes.count <= largest else { return }
        state.withLock { state in
            guard state.entries.updateValue(bytes, forKey: digest) == nil else { return }
            state.order.append(digest)
            state.bytes += bytes.count
            while state.bytes > budget, state.oldest < state.order.count {
                let gone = state.order[state.oldest]
                state.oldest += 1
                state.bytes -= state.entries.removeValue(forKey: gone)?.count ?? 0
            }
            // The evicted front of the queue is dropped once it is most of it.
            if state.oldest > 1024, state.oldest * 2 > state.order.count {
                state.order.removeFirst(state.oldest)
                state.oldest = 0
            }
        }
    }
}
