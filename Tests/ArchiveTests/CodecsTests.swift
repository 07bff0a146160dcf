import Foundation
import Testing
@testable import Archive
import ImageSpec

struct CodecsTests {
    /// Compressible but not trivial: 3 MB of text-like bytes.
    static let sample: [UInt8] = (0..<3_000_000).map { (i: Int) -> UInt8 in
        let letter: Int = (i * 7 + i / 1000) % 26
        return UInt8(97 + letter)
    }

    static func compress(_ data: [UInt8], _ compression: Compression) throws -> [UInt8] {
        let out = MemoryWriter()
        let w = try Codecs.compressing(out, as: compression)
        for start in stride(from: 0, to: data.count, by: 100_000) {
            try w.write(Array(data[start..<min(start + 100_000, data.count)]))
        }
        try w.finish()
        return out.bytes
    }

    static func decompress(_ data: [UInt8]) throws -> (bytes: [UInt8], compression: Compression) {
        let (reader, compression) = try Codecs.decompressing(MemoryReader(data))
        return (try reader.readAll(limit: 1 << 30), compression)
    }

    static func run(_ tool: String, _ args: [String], input: [UInt8]) throws -> [UInt8] {
        Array(try runTool(tool, args, input: input).stdout)
    }

    @Test(arguments: [Compression.gzip, .zstd, .none])
    func roundTrips(_ compression: Compression) throws {
        let packed = try Self.compress(Self.sample, compression)
        if compression != .none { #expect(packed.count < Self.sample.count / 2) }
        let (bytes, detected) = try Self.decompress(packed)
        #expect(detected == compression)
        #expect(bytes == Self.sample)
    }

    @Test func readsWhatSystemToolsWrite() throws {
        let gz = try Self.run("/bin/gzip", ["-c"], input: Self.sample)
        #expect(try Self.decompress(gz).bytes == Self.sample)
        let zst = try Self.run("/usr/bin/zstd", ["-c", "-q"], input: Self.sample)
        #expect(try Self.decompress(zst).bytes == Self.sample)
    }

    @Test func systemToolsReadWhatWeWrite() throws {
        #expect(try Self.run("/bin/gzip", ["-dc"], input: try Self.compress(Self.sample, .gzip)) == Self.sample)
        #expect(try Self.run("/usr/bin/zstd", ["-dc", "-q"], input: try Self.compress(Self.sample, .zstd)) == Self.sample)
    }

    @Test func readsMultiMemberGzip() throws {
        let a = try Self.compress(Array("hello ".utf8), .gzip), b = try Self.compress(Array("world".utf8), .gzip)
        #expect(try Self.decompress(a + b + [0, 0, 0]).bytes == Array("hello world".utf8))
    }

    @Test(arguments: [Compression.gzip, .zstd])
    func truncatedStreamIsAnError(_ compression: Compression) throws {
        let packed = try Self.compress(Self.sample, compression)
        #expect {
            _ = try Self.decompress(Array(packed[0..<packed.count / 2]))
        } throws: { error in
            (error as? StrataError)?.message.contains("truncated") ?? false
        }
    }

    @Test(arguments: [Compression.gzip, .zstd])
    func corruptStreamIsAnError(_ compression: Compression) throws {
        var packed = try Self.compress(Self.sample, compression)
        for i in stride(from: 100, to: packed.count - 100, by: 97) { packed[i] ^= 0x5a }
        #expect {
            _ = try Self.decompress(packed)
        } throws: { error in
            (error as? StrataError)?.message.contains("corrupt") ?? false
        }
    }
}

struct TreeArchiverTests {
    static func makeTree() throws -> String {
        let root = NSTemporaryDirectory() + "strata-tree-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/b/nested", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: root + "/b/nested/file"))
        try Data(repeating: 7, count: 70_000).write(to: URL(fileURLWithPath: root + "/a/big"))
        try fm.createSymbolicLink(atPath: root + "/a/link", withDestinationPath: "../b/nested/file")
        try fm.linkItem(atPath: root + "/a/big", toPath: root + "/b/hard")
        chmod(root + "/a/big", 0o4755)
        mkfifo(root + "/fifo", 0o600)
        return root
    }

    static func archive(_ root: String, clamp: Int64?) throws -> [UInt8] {
        let out = MemoryWriter()
        let tar = TarWriter(out)
        try TreeArchiver(clampTime: clamp).archive(directory: root, into: tar)
        try tar.finish()
        return out.bytes
    }

    @Test func writesSortedEntriesOfEveryKind() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let reader = TarReader(MemoryReader(try Self.archive(root, clamp: nil)))
        var entries: [TarHeader] = []
        while let h = try reader.next() { entries.append(h) }
        #expect(entries.map(\.name) == ["a/", "a/big", "a/link", "b/", "b/hard", "b/nested/", "b/nested/file", "fifo"])
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        #expect(byName["a/big"]?.mode == 0o4755 && byName["a/big"]?.size == 70_000)
        #expect(byName["a/link"]?.kind == .symlink && byName["a/link"]?.linkName == "../b/nested/file")
        #expect(byName["b/hard"]?.kind == .hardLink && byName["b/hard"]?.linkName == "a/big")
        #expect(byName["fifo"]?.kind == .fifo)
        #expect(entries.allSatisfy { $0.userName.isEmpty && $0.groupName.isEmpty })
    }

    @Test func sameTreeSameBytesAndClampedTimes() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try Self.archive(root, clamp: 1_000)
        // Touching files changes nothing once times are clamped to SOURCE_DATE_EPOCH.
        utimes(root + "/b/nested/file", nil)
        let second = try Self.archive(root, clamp: 1_000)
        #expect(first == second)
        let reader = TarReader(MemoryReader(first))
        while let h = try reader.next() { #expect(h.modificationTime <= 1_000) }
    }

    @Test func refusesNonDirectory() {
        #expect(throws: StrataError.self) { _ = try Self.archive("/etc/hostname", clamp: nil) }
    }
}
