import Foundation
import ImageSpec

/// Runs a reader chain (read, hash, inflate, hash again) on its own thread, a few chunks ahead of
/// the consumer: on two cores, unpacking a layer overlaps the CPU work of decompressing and
/// hashing with the file creation that is the disk's.
public final class PipelinedReader: ByteReader, @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private var current: [UInt8] = []
    private var offset = 0
    private var finished = false
    private var failure: Error?
    private var cancelled = false
    private let depth: Int

    /// `source` is read only on the pipeline's thread until the end of the stream is returned.
    public init(_ source: ByteReader, chunkSize: Int = 1 << 20, depth: Int = 8) {
        self.depth = depth
        let box = Unchecked(source)
        let thread = Thread { [self] in self.produce(box.value, chunkSize: chunkSize) }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops the pipeline's thread (the consumer gave up, on an error say).
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    private func produce(_ source: ByteReader, chunkSize: Int) {
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            } catch {
                condition.lock()
                failure = error
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.lock()
            if chunks.count >= depth && !cancelled {
                Trace.measure(.stall) { while chunks.count >= depth && !cancelled { condition.wait() } }
            }
            if cancelled { condition.unlock(); return }
            if n == 0 {
                finished = true
            } else {
                chunks.append(Array(buffer[0..<n]))
            }
            condition.broadcast()
            condition.unlock()
            if n == 0 { return }
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset == current.count {
            condition.lock()
            if chunks.isEmpty && !finished && failure == nil {
                Trace.measure(.stall) { while chunks.isEmpty && !finished && failure == nil { condition.wait() } }
            }
            if chunks.isEmpty {
                let error = failure
                condition.unlock()
                if let error { throw error }
                return 0
            }
            current = chunks.removeFirst()
            offset = 0
            condition.broadcast()
            condition.unlock()
        }
        let n = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
        offset += n
        return n
    }
}
