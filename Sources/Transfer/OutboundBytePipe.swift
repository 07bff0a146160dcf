import Foundation
import ImageSpec
import NIOCore

/// Joins a blocking producer (a compressor on its own thread) to an async consumer (an HTTP
/// request body): the mirror of `AsyncBytePipe`. `write` blocks while `capacity` bytes wait,
/// so memory stays bounded; either side's failure reaches the other.
final class OutboundBytePipe: ByteWriter, AsyncSequence, @unchecked Sendable {
    typealias Element = ByteBuffer
    private let condition = NSCondition()
    private var chunks: [ByteBuffer] = []
    private var buffered = 0
    private var finished = false
    private var failure: Error?
    private var consumerFailure: Error?
    private var waitingConsumer: CheckedContinuation<ByteBuffer?, Error>?
    private let capacity: Int
    private let chunkSize: Int
    private var pending = ByteBuffer()

    init(capacity: Int = 8 << 20, chunkSize: Int = 256 << 10) {
        self.capacity = capacity
        self.chunkSize = chunkSize
        pending.reserveCapacity(chunkSize)
    }

    /// Gathers small writes into chunks of `chunkSize` before handing them over.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        pending.writeBytes(bytes)
        if pending.readableBytes >= chunkSize { try flushPending() }
    }

    private func flushPending() throws {
        guard pending.readableBytes > 0 else { return }
        let chunk = pending
        pending = ByteBuffer()
        pending.reserveCapacity(chunkSize)
        condition.lock()
        while buffered >= capacity && consumerFailure == nil { condition.wait() }
        if let consumerFailure {
            condition.unlock()
            throw consumerFailure
        }
        if let waiting = waitingConsumer {
            waitingConsumer = nil
            condition.unlock()
            waiting.resume(returning: chunk)
            return
        }
        chunks.append(chunk)
        buffered += chunk.readableBytes
        condition.unlock()
    }

    /// Hands over what is gathered; the stream stays open.
    func finish() throws { try flushPending() }

    /// The end of the stream (after the last write), or the producer's failure.
    func close(throwing error: Error? = nil) {
        if error == nil {
            do { try flushPending() } catch { return }
        }
        condition.lock()
        finished = true
        failure = error
        let waiting = waitingConsumer
        waitingConsumer = nil
        condition.unlock()
        if let waiting {
            if let error { waiting.resume(throwing: error) } else { waiting.resume(returning: nil) }
        }
    }

    /// The consumer gave up (the request failed): the producer's next write throws.
    func cancelConsumer(_ error: Error) {
        condition.lock()
        consumerFailure = error
        condition.broadcast()
        condition.unlock()
    }

    func next() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, Error>) in
            condition.lock()
            if !chunks.isEmpty {
                let chunk = chunks.removeFirst()
                buffered -= chunk.readableBytes
                condition.signal()
                condition.unlock()
                continuation.resume(returning: chunk)
            } else if finished {
                let error = failure
                condition.unlock()
                if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: nil) }
            } else {
                waitingConsumer = continuation
                condition.unlock()
            }
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let pipe: OutboundBytePipe
        mutating func next() async throws -> ByteBuffer? { try await pipe.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pipe: self) }
}
