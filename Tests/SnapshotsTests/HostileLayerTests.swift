import Foundation
import Testing
@testable import Archive
import ImageSpec

/// Layers that lie about themselves: each is refused with an error, or bounded, never a crash or
/// memory grown with what the layer claims.
struct HostileLayerTests {
    /// A tar header that claims a 100 GB file, followed by a few bytes: the body runs out, the
    /// unpack fails, and no more than what was there was written.
    @Test func aHeaderClaiming100GBEndsAsATruncatedLayer() throws {
        var bytes = try LayerBuilder().file("big", "0123456789").bytes()
        // The size field (12 bytes at 124) in base-256 (GNU's form for sizes past 8 GB), then the
        // checksum (8 bytes at 148) again.
        let size = UInt64(100) << 30
        bytes.replaceSubrange(124..<136, with: [0x80, 0, 0, 0] + (0..<8).reversed().map { UInt8((size >> (8 * UInt64($0))) & 0xff) })
        bytes.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
        let checksum = Array(String(sum, radix: 8).utf8)
        bytes.replaceSubrange(148..<156, with: [UInt8](repeating: 0x30, count: 6 - checksum.count) + checksum + [0, 0x20])
        let root = temporaryDirectory("hundred-gb")
        #expect(throws: StrataError.self) { try apply([bytes], to: root) }
        var st = stat()
        if stat("\(root)/big", &st) == 0 { #expect(st.st_size < 1 << 20) }
    }

    /// 10,000 path components (20,001 bytes, past PATH_MAX): refused with an error, not a stack
    /// overflow or 10,000 directories.
    @Test func aPathOf10000ComponentsIsRefused() throws {
        let name = String(repeating: "a/", count: 10_000) + "f"
        let layer = try LayerBuilder().file(name, "deep").bytes()
        let root = temporaryDirectory("deep-path")
        #expect(throws: StrataError.self) { try apply([layer], to: root) }
    }

    /// A layer that inflates a thousandfold (64 MB of zeros in 64 KB of gzip) streams through in
    /// bounded memory; what bounds it is the disk, where a full one is a clean `No space left`.
    @Test func aThousandfoldGzipStreamsThrough() throws {
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let tar = MemoryWriter()
        let writer = TarWriter(tar)
        final class Zeros: ByteReader {
            var left = 64 << 20
            let chunk: [UInt8]
            init(_ chunk: [UInt8]) { self.chunk = chunk }
            func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
                let n = min(left, buffer.count, chunk.count)
                chunk.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                left -= n
                return n
            }
        }
        try writer.append(TarHeader(name: "zeros", size: 64 << 20), body: Zeros(zeros))
        try writer.finish()
        let compressed = MemoryWriter()
        let gzip = try Codecs.compressing(compressed, as: .gzip)
        try gzip.write(tar.bytes)
        try gzip.finish()
        #expect(compressed.bytes.count * 500 < tar.bytes.count, "\(compressed.bytes.count) bytes of gzip")
        let root = temporaryDirectory("bomb")
        let applier = try LayerApplier(directory: root, mode: .flatten)
        try applier.apply(blob: MemoryReader(compressed.bytes), compression: .gzip, digest: nil, diffID: nil)
        var st = stat()
        #expect(stat("\(root)/zeros", &st) == 0 && st.st_size == 64 << 20)
        try? FileManager.default.removeItem(atPath: root)
    }
}
