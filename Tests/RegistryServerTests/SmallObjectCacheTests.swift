import ImageSpec
@testable import RegistryServer
import Testing

@Suite struct SmallObjectCacheTests {
    static func blob(_ n: Int, _ size: Int) -> (Digest, [UInt8]) {
        let bytes = [UInt8](repeating: UInt8(n), count: size)
        return (Digest.sha256(of: bytes), bytes)
    }

    @Test func theOldestGoFirstOnceTheBudgetIsFullAndLargeBlobsAreNeverKept() {
        let cache = SmallObjectCache(budget: 3000, largest: 1500)
        let blobs = (0..<5).map { Self.blob($0, 1000) }
        for (digest, bytes) in blobs { cache.keep(bytes, for: digest) }
        #expect(blobs.map { cache[$0.0] != nil } == [false, false, true, true, true])
        #expect(cache[blobs[4].0] == blobs[4].1)
        let large = Self.blob(9, 2000)
        cache.keep(large.1, for: large.0)
        #expect(cache[large.0] == nil && cache[blobs[2].0] != nil)
        // Kept again, a blob is not counted twice.
        cache.keep(blobs[4].1, for: blobs[4].0)
        #expect(cache[blobs[2].0] != nil)
    }

    @Test func manyEvictionsKeepOnlyTheNewest() {
        let cache = SmallObjectCache(budget: 10 * 108, largest: 200)
        let blobs = (0..<3000).map { i in ([UInt8](repeating: UInt8(i % 251), count: 100) + withUnsafeBytes(of: i) { Array($0) }) }
            .map { (Digest.sha256(of: $0), $0) }
        for (digest, bytes) in blobs { cache.keep(bytes, for: digest) }
        #expect(blobs.suffix(10).allSatisfy { cache[$0.0] == $0.1 })
        #expect(blobs.prefix(2990).allSatisfy { cache[$0.0] == nil })
    }
}
