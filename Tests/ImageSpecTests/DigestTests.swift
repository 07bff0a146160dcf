import Foundation
import Testing
@testable import ImageSpec

struct DigestTests {
    @Test(arguments: [
        ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", DigestAlgorithm.sha256),
        ("sha512:" + String(repeating: "ab", count: 64), .sha512),
    ])
    func parsesValid(_ input: String, _ algorithm: DigestAlgorithm) throws {
        let d = try Digest(parsing: input)
        #expect(d.algorithm == algorithm)
        #expect(d.description == input)
    }

    @Test(arguments: [
        ("", "expected ALGORITHM:HEX"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "expected ALGORITHM:HEX"),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm \"md5\""),
        ("sha256:abc", "64 lowercase hex"),
        ("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "64 lowercase hex"),
        ("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "64 lowercase hex"),
        ("sha512:" + String(repeating: "a", count: 64), "128 lowercase hex"),
    ])
    func rejectsInvalid(_ input: String, _ reason: String) {
        #expect {
            _ = try Digest(parsing: input)
        } throws: { error in
            let e = error as? StrataError
            return e?.code == .invalidDigest && e!.message.contains(reason)
        }
    }

    @Test func hashesKnownVectors() throws {
        #expect(Digest.sha256(of: []).encoded == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256(of: Array("abc".utf8)).encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var d = Digester(.sha512)
        Array("abc".utf8).withUnsafeBytes { d.update($0) }
        #expect(d.finalize().encoded.hasPrefix("ddaf35a193617aba"))
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var d = Digester()
        for chunk in stride(from: 0, to: data.count, by: 7919) {
            data[chunk..<min(chunk + 7919, data.count)].withUnsafeBytes { d.update($0) }
        }
        #expect(d.finalize() == Digest.sha256(of: data))
    }

    @Test func codableRejectsBadDigest() {
        let json = Data(#"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:nothex","size":1}"#.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Descriptor.self, from: json) }
    }

    @Test func chainIDsFollowTheSpec() throws {
        let a = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        let b = try Digest(parsing: "sha256:" + String(repeating: "b", count: 64))
        let chain = ChainID.compute([a, b])
        #expect(chain[0] == a)
        #expect(chain[1] == Digest.sha256(of: Array("\(a) \(b)".utf8)))
    }
}
