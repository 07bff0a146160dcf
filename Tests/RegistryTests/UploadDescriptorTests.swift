import Foundation
import ImageSpec
import RegistryTestSupport
import Testing
@testable import Registry

/// An upload reads its blob through a descriptor per attempt: one that fails, is retried or is
/// cancelled midway must close it (the HTTP client drops the body unread).
struct UploadDescriptorTests {
    /// A blob file of `size` bytes (sparse: zeros, made at once).
    static func blobFile(size: Int64) throws -> (String, Descriptor) {
        let path = NSTemporaryDirectory() + "strata-upload-\(UUID().uuidString)"
        let fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0o600)
        guard fd >= 0, ftruncate(fd, off_t(size)) == 0 else { throw StrataError.posix("cannot make \(path)", errno: errno) }
        close(fd)
        let digest = Digest.sha256(of: [UInt8](repeating: 0, count: Int(size)))
        return (path, Descriptor(mediaType: .ociLayer, digest: digest, size: size))
    }

    /// The connection is dropped `failures` times after 64 KB of a 3 MB body: with 2 the upload
    /// succeeds on a retry, with 10 it runs out of retries. Either way no descriptor stays open.
    @Test(arguments: [2, 10])
    func aFailingUploadLeavesNoDescriptorOpen(_ failures: Int) async throws {
        let (path, blob) = try Self.blobFile(size: 3 << 20)
        defer { unlink(path) }
        let registry = try await InProcessRegistry.start()
        registry.inject(.dropRequest(afterBytes: 64 << 10), times: failures) { $0.method == "PUT" }
        let c = client(registry)
        guard case .session(let session) = try await c.startUpload("leak/app") else { Issue.record("mounted"); return }
        #expect(openDescriptors(on: path) == 0)
        let result = await outcome { try await c.upload("leak/app", session: session, descriptor: blob, file: path) }
        let puts = registry.requests.filter { $0.method == "PUT" }.count
        if failures <= 4 {
            #expect(throws: Never.self) { try result.get() }
            #expect(registry.blob(blob.digest, in: "leak/app")?.count == 3 << 20)
            #expect(puts == failures + 1)
        } else {
            #expect { try result.get() } throws: { ($0 as? StrataError)?.code == .unreachable }
            #expect(puts == 5)
        }
        #expect(await eventually { openDescriptors(on: path) == 0 }, "descriptors left open on the blob: \(openDescriptors(on: path))")
        await registry.stop()
    }

    /// The registry stops reading a 64 MB body; the upload is cancelled midway.
    @Test func aCancelledUploadLeavesNoDescriptorOpen() async throws {
        let (path, blob) = try Self.blobFile(size: 64 << 20)
        defer { unlink(path) }
        let registry = try await InProcessRegistry.start()
        registry.inject(.stall) { $0.method == "PUT" }
        let c = client(registry)
        guard case .session(let session) = try await c.startUpload("cancel/app") else { Issue.record("mounted"); return }
        let upload = Task { try await c.upload("cancel/app", session: session, descriptor: blob, file: path) }
        #expect(await eventually { registry.requests.contains { $0.method == "PUT" } })
        #expect(await eventually { openDescriptors(on: path) == 1 }, "the body is being read")
        upload.cancel()
        let result = await upload.result
        #expect { try result.get() } throws: { $0 is CancellationError || ($0 as? StrataError)?.code == .cancelled }
        #expect(await eventually { openDescriptors(on: path) == 0 }, "descriptors left open on the blob: \(openDescriptors(on: path))")
        await registry.stop()
    }
}

/// What an async call came to, to look at afterwards.
func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}
