import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import Registry
import Testing
@testable import ObjectStore
import RegistryTestSupport

/// The client against a real S3 server (Ceph's RADOS Gateway on loopback): every operation the
/// registry uses, and the answer to each way of getting the store wrong.
// Serialized: an object store on two cores is slow enough without all its tests at once.
@Suite(.serialized, .enabled(if: RadosGateway.installed, "radosgw is not installed (make deps installs it)"))
struct S3ClientTests {
    static func gateway() async throws -> RadosGateway { try await RadosGateway.shared() }

    static func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 12)) &+ seed }
    }

    @Test func objectsWholeByRangeListedAndDeleted() async throws {
        let s3 = try await Self.gateway().client()
        let bytes = Self.pattern(100_000)
        try await s3.put("blobs/a", bytes)
        let head = try #require(try await s3.head("blobs/a"))
        #expect(head.size == 100_000 && head.etag.count == 32)
        #expect(try await s3.bytes("blobs/a") == bytes)
        let (part, body) = try await s3.get("blobs/a", range: 65_530...65_545)
        #expect(part.size == 16)
        #expect(Array(buffer: try await body.collect(upTo: 1 << 20)) == Array(bytes[65_530...65_545]))
        // Keys that need encoding are stored under their own names.
        try await s3.put("blobs/sha256:b c+d", [1, 2, 3])
        #expect(try await s3.bytes("blobs/sha256:b c+d") == [1, 2, 3])

        for i in 0..<5 { try await s3.put("page/\(i)", [UInt8(i)]) }
        let first = try await s3.list(prefix: "page/", limit: 2)
        #expect(first.objects.map(\.key) == ["page/0", "page/1"] && first.next != nil)
        #expect(try await s3.listAll(prefix: "page/").map(\.key) == (0..<5).map { "page/\($0)" })
        #expect(try await s3.listAll(prefix: "blobs/").map(\.size) == [100_000, 3])

        try await s3.delete("blobs/a")
        try await s3.delete("blobs/a")  // twice: gone is gone
        #expect(try await s3.head("blobs/a") == nil)
        #expect(try await s3.bytes("blobs/a") == nil)
        await #expect { try await s3.get("blobs/a") } throws: { ($0 as? StrataError)?.code == .blobUnknown }
    }

    @Test func aMultipartUploadJoinsItsPartsInOrder() async throws {
        let s3 = try await Self.gateway().client()
        let size = S3Configuration.minimumPartSize
        let parts = [Self.pattern(size, seed: 1), Self.pattern(size, seed: 2), Self.pattern(1000, seed: 3)]
        let id = try await s3.startMultipart("uploads/x")
        var done: [S3Client.Part] = []
        // Out of order on the wire; joined by number.
        for number in [2, 1, 3] { done.append(try await s3.uploadPart("uploads/x", uploadID: id, number: number, parts[number - 1])) }
        #expect(try await s3.head("uploads/x") == nil, "nothing is visible before completion")
        try await s3.completeMultipart("uploads/x", uploadID: id, parts: done.sorted { $0.number < $1.number })
        let head = try #require(try await s3.head("uploads/x"))
        #expect(head.size == Int64(2 * size + 1000) && head.etag.hasSuffix("-3"))
        // A range across the first boundary.
        let (_, body) = try await s3.get("uploads/x", range: Int64(size - 4)...Int64(size + 3))
        #expect(Array(buffer: try await body.collect(upTo: 64)) == Array(parts[0].suffix(4) + parts[1].prefix(4)))
        try await s3.copy("uploads/x", to: "blobs/x")
        #expect(try await s3.head("blobs/x")?.size == head.size)
    }

    @Test func anUnfinishedUploadCanBeAbortedAndABadPartListIsRefused() async throws {
        let s3 = try await Self.gateway().client()
        let id = try await s3.startMultipart("uploads/y")
        let part = try await s3.uploadPart("uploads/y", uploadID: id, number: 1, Self.pattern(1000))
        await #expect { try await s3.completeMultipart("uploads/y", uploadID: id, parts: [S3Client.Part(number: 1, etag: String(repeating: "0", count: 32))]) }
            throws: { ($0 as? StrataError)?.cause(as: S3Error.self)?.code == "InvalidPart" }
        try await s3.abortMultipart("uploads/y", uploadID: id)
        try await s3.abortMultipart("uploads/y", uploadID: id)
        // AWS says NoSuchUpload; radosgw 16 says InternalError ("completion is already in progress").
        await #expect { try await s3.completeMultipart("uploads/y", uploadID: id, parts: [part]) }
            throws: { ($0 as? StrataError)?.code == .objectStore }
        #expect(try await s3.head("uploads/y") == nil)
    }

    @Test func aPresignedURLNeedsNoCredentialsAndNothingElse() async throws {
        let s3 = try await Self.gateway().client()
        try await s3.put("blobs/p", Self.pattern(5000))
        let url = s3.presignedGET("blobs/p", expires: 300)
        let answer = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        #expect(answer.status.code == 200)
        #expect(Array(buffer: try await answer.body.collect(upTo: 1 << 20)) == Self.pattern(5000))
        let tampered = try await HTTPClient.shared.execute(HTTPClientRequest(url: url.replacingOccurrences(of: "blobs/p", with: "blobs/q")), timeout: .seconds(30))
        #expect(tampered.status.code == 403)
    }

    // MARK: faults: each a clear error naming what to fix

    @Test func aWrongSecretSaysSo() async throws {
        let gateway = try await Self.gateway()
        let good = try await gateway.client()
        let s3 = try await gateway.client(bucket: good.configuration.bucket, secret: "wrong", create: false)
        await #expect { try await s3.put("blobs/a", [1]) } throws: { error in
            let e = error as? StrataError
            return e?.code == .objectStore && e?.cause(as: S3Error.self)?.code == "SignatureDoesNotMatch"
                && e?.message.contains("the secret key is wrong: check storage.secret-key or AWS_SECRET_ACCESS_KEY") == true
        }
    }

    @Test func anUnknownAccessKeySaysSo() async throws {
        let s3 = try await Self.gateway().client(accessKey: "NOSUCHKEY", create: false)
        await #expect { try await s3.checkBucket() } throws: { error in
            (error as? StrataError)?.cause(as: S3Error.self)?.code == "InvalidAccessKeyId"
                && (error as? StrataError)?.message.contains("does not know this access key") == true
        }
    }

    @Test func aMissingBucketIsNamed() async throws {
        let s3 = try await Self.gateway().client(bucket: "no-such-bucket", create: false)
        await #expect { try await s3.checkBucket() } throws: { error in
            let e = error as? StrataError
            return e?.cause(as: S3Error.self)?.code == "NoSuchBucket"
                && e?.message.hasPrefix("object store \(s3.configuration.endpoint) refused GET no-such-bucket: NoSuchBucket") == true
                && e?.message.hasSuffix("the bucket does not exist: create it, or correct storage.bucket") == true
        }
        await #expect { try await s3.put("blobs/a", [1]) } throws: { ($0 as? StrataError)?.cause(as: S3Error.self)?.code == "NoSuchBucket" }
    }

    @Test func aSkewedClockIsNamed() async throws {
        let gateway = try await Self.gateway()
        let good = try await gateway.client()
        let s3 = try await gateway.client(bucket: good.configuration.bucket, clock: { Date().addingTimeInterval(-3600) }, create: false)
        await #expect { try await s3.put("blobs/a", [1]) } throws: { error in
            (error as? StrataError)?.cause(as: S3Error.self)?.code == "RequestTimeTooSkewed"
                && (error as? StrataError)?.message.contains("this machine's clock differs from the object store's") == true
        }
    }

    @Test func anEndpointWithNothingListeningIsUnreachable() async throws {
        // A port just released: nothing listens there.
        let port = try freeLoopbackPort()
        let s3 = S3Client(S3Configuration(endpoint: "http://127.0.0.1:\(port)", bucket: "blobs", credentials: .init(accessKey: "a", secretKey: "b")))
        await #expect { try await s3.put("blobs/a", [1]) } throws: { error in
            (error as? StrataError)?.code == .unreachable
                && (error as? StrataError)?.message.hasPrefix("cannot reach the object store at http://127.0.0.1:\(port) (PUT blobs/blobs/a)") == true
        }
    }
}

/// Streaming uploads: parts cut from any buffers, nothing visible until whole, nothing left on failure.
@Suite(.serialized, .blocking, .enabled(if: RadosGateway.installed, "radosgw is not installed (make deps installs it)"))
struct S3UploadTests {
    struct Failure: Error {}

    /// `bytes` as a request body would bring them: buffers of uneven sizes, failing after `failAfter` bytes when set.
    /// `midway` runs once, when the body is past `failAfter`, instead of failing it. Lazy: each
    /// buffer is made when the reader asks for it.
    static func chunks(_ bytes: [UInt8], failAfter: Int? = nil, midway: (@Sendable () -> Void)? = nil) -> AsyncThrowingStream<ByteBuffer, any Error> {
        final class Position: @unchecked Sendable {
            var offset = 0, step = 1, ranMidway = false
        }
        let position = Position()
        return AsyncThrowingStream(unfolding: {
            guard position.offset < bytes.count else { return nil }
            if let failAfter, position.offset >= failAfter {
                guard let midway else { throw Failure() }
                if !position.ranMidway { midway() }
                position.ranMidway = true
            }
            let n = Swift.min(bytes.count - position.offset, 65_521 * position.step % 300_007 + 1)
            defer { position.offset += n; position.step += 1 }
            return ByteBuffer(bytes: bytes[position.offset..<position.offset + n])
        })
    }

    @Test(arguments: [0, 1000, S3Configuration.minimumPartSize, 2 * S3Configuration.minimumPartSize + 12_345])
    func aStreamIsStoredWholeWithItsDigest(_ size: Int) async throws {
        let s3 = try await S3ClientTests.gateway().client()
        let bytes = S3ClientTests.pattern(size, seed: 7)
        let uploaded = try await s3.upload("blobs/s", from: Self.chunks(bytes))
        #expect(uploaded == S3Client.Uploaded(size: Int64(size), digest: Digest.sha256(of: bytes)))
        #expect(try await s3.head("blobs/s")?.size == Int64(size))
        #expect(try await s3.bytes("blobs/s") == bytes)
        #expect(try await s3.unfinishedUploads(prefix: "").isEmpty)
    }

    @Test func aBodyThatFailsLeavesNothing() async throws {
        let s3 = try await S3ClientTests.gateway().client()
        let bytes = S3ClientTests.pattern(3 * S3Configuration.minimumPartSize)
        await #expect(throws: Failure.self) {
            try await s3.upload("blobs/f", from: Self.chunks(bytes, failAfter: 2 * S3Configuration.minimumPartSize + 10))
        }
        #expect(try await s3.head("blobs/f") == nil)
        #expect(try await s3.unfinishedUploads(prefix: "").isEmpty)
    }

    @Test func anObjectStoreThatGoesAwayMidUploadIsAClearError() async throws {
        // A gateway of its own, stopped while the parts go up.
        let gateway = try await RadosGateway.start()
        defer { gateway.stop() }
        let s3 = try await gateway.client()
        let bytes = S3ClientTests.pattern(4 * S3Configuration.minimumPartSize)
        // The body stops the gateway once two parts have gone up; the third cannot.
        let body = Self.chunks(bytes, failAfter: 2 * S3Configuration.minimumPartSize + 1, midway: { gateway.stop() })
        await #expect { try await s3.upload("blobs/g", from: body, concurrency: 1) } throws: { error in
            let e = error as? StrataError
            return e?.code == .unreachable && e?.message.hasPrefix("cannot reach the object store at \(gateway.started.endpoint)") == true
        }
    }
}
