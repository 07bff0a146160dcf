import Foundation
import Testing
@testable import ContentStore
import ImageSpec

struct ContentStoreTests {
    let root = NSTemporaryDirectory() + "strata-cs-\(UUID().uuidString)"

    func files(_ store: ContentStore) -> (blobs: [String], ingest: [String]) {
        (FileSystem.listDirectory(root + "/blobs/sha256"), FileSystem.listDirectory(root + "/ingest"))
    }

    @Test func ingestsVerifiesAndDeduplicates() throws {
        let store = try ContentStore(root: root)
        defer { FileSystem.removeTree(root) }
        let data = Array("layer bytes".utf8)
        let expected = Digest.sha256(of: data)
        let (digest, size) = try store.ingest(from: MemoryReader(data), expected: expected, expectedSize: Int64(data.count))
        #expect(digest == expected && size == Int64(data.count))
        #expect(try store.read(digest) == data)
        #expect(store.size(of: digest) == Int64(data.count))
        // The same content again: still one file.
        try store.ingest(from: MemoryReader(data))
        #expect(files(store).blobs == [expected.encoded])
        #expect(files(store).ingest.isEmpty)
        #expect(store.path(for: digest).hasSuffix("/blobs/sha256/\(expected.encoded)"))
    }

    @Test func mismatchNamesBothDigestsAndLeavesNothing() throws {
        let store = try ContentStore(root: root)
        defer { FileSystem.removeTree(root) }
        let wrong = Digest.sha256(of: Array("other".utf8))
        let actual = Digest.sha256(of: Array("payload".utf8))
        #expect {
            try store.ingest(from: MemoryReader(Array("payload".utf8)), expected: wrong)
        } throws: { error in
            let e = error as! StrataError
            return e.code == .digestMismatch && e.message.contains(wrong.description) && e.message.contains(actual.description)
        }
        #expect(files(store).blobs.isEmpty && files(store).ingest.isEmpty)
    }

    @Test func truncatedBlobIsRefused() throws {
        let store = try ContentStore(root: root)
        defer { FileSystem.removeTree(root) }
        #expect {
            try store.ingest(from: MemoryReader(Array("short".utf8)), expectedSize: 100)
        } throws: { error in
            (error as! StrataError).message.contains("truncated: expected 100 bytes, got 5")
        }
        #expect(files(store).blobs.isEmpty && files(store).ingest.isEmpty)
    }

    @Test func abortAndFailingSourceLeaveNothing() throws {
        let store = try ContentStore(root: root)
        defer { FileSystem.removeTree(root) }
        let ingest = try store.ingest()
        try ingest.write(Array("partial".utf8))
        ingest.abort()
        final class Failing: ByteReader {
            var calls = 0
            func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
                calls += 1
                if calls > 2 { throw StrataError(.io, "connection reset") }
                buffer[0] = 1
                return 1
            }
        }
        #expect(throws: StrataError.self) { try store.ingest(from: Failing()) }
        #expect(files(store).blobs.isEmpty && files(store).ingest.isEmpty)
    }

    @Test func missingBlobIsAClearError() throws {
        let store = try ContentStore(root: root)
        defer { FileSystem.removeTree(root) }
        let d = Digest.sha256(of: [1, 2, 3])
        #expect {
            _ = try store.read(d)
        } throws: { error in
            (error as! StrataError).code == .blobUnknown && (error as! StrataError).message.contains(d.description)
        }
        #expect(!store.contains(d) && store.size(of: d) == nil)
    }

    @Test func listsAndDeletes() throws {
        let store = try ContentStore(root: root)
        defer { FileSystem.removeTree(root) }
        let a = try store.ingest(bytes: [1]), b = try store.ingest(bytes: [2])
        #expect(Set(store.list()) == [a, b])
        store.delete(a)
        store.delete(a)
        #expect(store.list() == [b])
    }
}
