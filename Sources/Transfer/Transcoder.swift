import Archive
import Foundation
import ImageSpec
import NIOCore

/// Re-compresses a layer (gzip ↔ zstd ↔ none): the same tar, so the same diff ID.
enum Transcoder {
    /// Writes `layer`'s tar, compressed as `target`, into `sink`, checking the source's digest as
    /// it reads (the check ends the call: a sink that streams must not commit before it returns).
    /// Reading and hashing the source run a step ahead on a thread of their own, so compressing
    /// has this one to itself.
    static func transcode(_ reader: ByteReader, layer: Descriptor, to target: Compression, into sink: ByteWriter) throws {
        let verified = DigestingReader(reader)
        let reading = PipelinedReader(verified)
        defer { reading.cancel() }
        let compressor = try Codecs.compressing(sink, as: target)
        try Codecs.decompressing(reading, as: layer.mediaType.layerCompression ?? .none).copy(to: compressor)
        try reading.copy(to: NullWriter())
        try compressor.finish()
        guard verified.digest() == layer.digest else {
            throw StrataError(.digestMismatch, "layer digest mismatch: expected \(layer.digest), got \(verified.digest())")
        }
    }

    /// Re-compresses into a temp file (for destinations that need a blob's digest first).
    static func transcode(_ content: BlobContent, layer: Descriptor, to target: Compression) async throws -> (String, Descriptor) {
        let path = SpoolDirectory.newPath("layer")
        do {
            let (digest, size) = try await withReader(content) { reader -> (Digest, Int64) in
                let file = try FileWriter(path: path, mode: 0o600, exclusive: true)
                let digesting = DigestingWriter(file)
                try transcode(reader, layer: layer, to: target, into: digesting)
                try file.flush()
                return (digesting.digest(), digesting.count)
            }
            return (path, Descriptor(mediaType: .layer(target), digest: digest, size: size))
        } catch {
            unlink(path)
            throw error
        }
    }

    /// The re-compressed bytes as a stream, made while they are consumed.
    static func stream(_ content: BlobContent, layer: Descriptor, to target: Compression) -> BlobContent {
        .stream { consume in
            let pipe = OutboundBytePipe()
            let producer = Task {
                try await withReader(content) { reader in
                    do {
                        try transcode(reader, layer: layer, to: target, into: pipe)
                        pipe.close()
                    } catch {
                        pipe.close(throwing: error)
                        throw error
                    }
                }
            }
            do {
                for try await chunk in pipe { try await consume(chunk) }
            } catch {
                pipe.cancelConsumer(error)
                _ = try? await producer.value
                throw error
            }
            try await producer.value
        }
    }

}

/// Runs blocking `body` on its own thread over the content's bytes: a file is read directly; a
/// stream is fed through a bounded pipe while it arrives.
func withReader<T: Sendable>(_ content: BlobContent, progress: (@Sendable (Int64) -> Void)? = nil,
                             _ body: @escaping @Sendable (ByteReader) throws -> T) async throws -> T {
    switch content {
    case .file, .stored, .staged:
        let path = content.localFile!
        return try await onThread("strata-blob") {
            let reader = try FileReader(path: path)
            do {
                return try body(progress.map { ProgressReader(reader, report: $0) } ?? reader)
            } catch {
                throw content.diagnose(error)
            }
        }
    case .stream(let produce):
        let pipe = AsyncBytePipe()
        let consumer = Task {
            do {
                return try await onThread("strata-blob") {
                    let result = try body(Trace.reader(pipe, .download))
                    try pipe.copy(to: NullWriter())  // the producer never waits on a reader that left
                    return result
                }
            } catch {
                pipe.cancelConsumer(error)
                throw error
            }
        }
        do {
            var done: Int64 = 0
            try await produce { chunk in
                try await pipe.send(chunk)
                done += Int64(chunk.readableBytes)
                progress?(done)
            }
            pipe.finish()
        } catch {
            pipe.finish(throwing: error)
            _ = try? await consumer.value
            throw error
        }
        return try await consumer.value
    }
}

/// Reports bytes read, every few megabytes.
final class ProgressReader: ByteReader {
    let base: ByteReader
    let report: @Sendable (Int64) -> Void
    var done: Int64 = 0
    var reported: Int64 = 0
    init(_ base: ByteReader, report: @escaping @Sendable (Int64) -> Void) {
        self.base = base
        self.report = report
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        done += Int64(n)
        if n == 0 || done - reported >= 4 << 20 {
            reported = done
            report(done)
        }
        return n
    }
}
