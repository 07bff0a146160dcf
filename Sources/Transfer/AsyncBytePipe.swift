import Foundation
import ImageSpec
import NIOCore

/// Joins an async producer (a network download) to a blocking consumer (the layer unpacker on its
/// own thread): the producer's `send` suspends while the pipe holds `capacity` bytes, so memory
/// stays bounded whichever side is slower; either side's failure reaches the other.
final class AsyncBytePipe: ByteReader, @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [ByteBuffer] = []
    private var head = 0
    private var buffered = 0
    private var finished = false
    private var failure: Error?
    private var consumerFailure: Error?
    private var waitingProducer: CheckedContinuation<Void, Error>?
    private let capacity: Int

    init(capacity: Int = 8 << 20) { self.capacity = capacity }

    /// Hands a chunk to the consumer; waits while the pipe is full.
    func send(_ chunk: ByteBuffer) async throws {
        guard try enqueue(chunk) else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            park(continuation)
        }
    }

    /// Adds a chunk; returns whether the pipe is now full.
    private func enqueue(_ chunk: ByteBuffer) throws -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if let consumerFailure { throw consumerFailure }
        chunks.append(chunk)
        buffered += chunk.readableBytes
        condition.signal()
        return buffered >= capacity
    }

    /// Resumes the producer at once unless the pipe is still full; else it waits for the reader.
    private func park(_ continuation: CheckedContinuation<Void, Error>) {
        condition.lock()
        if let consumerFailure {
            condition.unlock()
            continuation.resume(throwing: consumerFailure)
        } else if buffered < capacity {
            condition.unlock()
            continuation.resume()
        } else {
            waitingProducer = continuation
            condition.unlock()
        }
    }

    /// The end of the stream, or the producer's failure.
    func finish(throwing error: Error? = nil) {
        condition.lock()
        finished = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer gave up: the producer's next `send` throws.
    func cancelConsumer(_ error: Error) {
        condition.lock()
        consumerFailure = error
        let waiting = waitingProducer
        waitingProducer = nil
        condition.unlock()
        waiting?.resume(throwing: error)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        condition.lock()
        while head == chunks.count && !finished { condition.wait() }
        if head == chunks.count {
            let error = failure
            condition.unlock()
            if let error { throw error }
            return 0
        }
        let n = chunks[head].readableBytes < buffer.count ? chunks[head].readableBytes : buffer.count
        chunks[head].withUnsafeReadableBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<n]))
        }
        chunks[head].moveReaderIndex(forwardBy: n)
        if chunks[head].readableBytes == 0 {
            head += 1
            if head > 64 {
                chunks.removeFirst(head)
                head = 0
            }
        }
        buffered -= n
        var resume: CheckedContinuation<Void, Error>?
        if buffered < capacity / 2 {
            resume = waitingProducer
            waitingProducer = nil
        }
        condition.unlock()
        resume?.resume()
        return n
    }
}

/// Passes reads through and writes every byte read into a sink: the compressed layer lands in the
/// content store while the same bytes are inflated and unpacked.
final class TeeReader: ByteReader {
    let base: ByteReader
    let sink: ByteWriter
    init(_ base: ByteReader, into sink: ByteWriter) {
        self.base = base
        self.sink = sink
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        return n
    }
}
