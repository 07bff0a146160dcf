import ContentStore
import ImageSpec
import NIOCore
import Registry

/// A blob's bytes as a source offers them: a local file (read, or uploaded, straight from disk),
/// or a stream pushed chunk by chunk (a download).
public enum BlobContent: Sendable {
    case file(String)
    /// A blob file of the local content store, and its digest: checked when it was stored, and
    /// never rewritten. A destination that hashes it anyway (save, a re-compression) and finds it
    /// wrong, or fails to decode it, reports it as `damagedBlob` (`ContentStore.diagnose`).
    case stored(String, Digest)
    case stream(@Sendable (_ consume: (ByteBuffer) async throws -> Void) async throws -> Void)
    /// Bytes a source already wrote to disk and hashed (an archive being loaded): read like a
    /// file, or — by the store they were staged in — adopted without a copy.
    case staged(StagedBlob)

    /// What an error met while reading these bytes stands for: for a store's blob that no longer
    /// hashes to its name, `damagedBlob` (with the remedy); otherwise the error itself.
    public func diagnose(_ error: any Error) -> any Error {
        guard case .stored(let path, let digest) = self else { return error }
        return ContentStore.diagnose(file: path, as: digest, error)
    }

    /// The local file holding the bytes, if they are in one.
    public var localFile: String? {
        switch self {
        case .file(let path), .stored(let path, _): return path
        case .staged(let blob): return blob.path
        case .stream: return nil
        }
    }
}

/// Where an image comes from: a registry, the local store, an OCI layout or an archive.
/// Every transfer — pull, push, save, load, copy — reads through this one interface.
public protocol ImageSource: AnyObject, Sendable {
    /// How messages name the source.
    var name: String { get }
    /// The manifest or index the reference names, as stored (its digest is over these bytes).
    func rootManifest() async throws -> ManifestBlob
    /// A manifest an index points at.
    func manifest(_ descriptor: Descriptor) async throws -> ManifestBlob
    /// A small blob (a config), whole and verified.
    func blobBytes(_ descriptor: Descriptor) async throws -> [UInt8]
    /// A blob's content, for the destination to consume; its digest is checked by whoever stores it.
    func blob(_ descriptor: Descriptor) async throws -> BlobContent
    /// Releases temporary files.
    func close()
    /// A layer's uncompressed tar length, if the source knows it without reading the layer (the
    /// store records it): a docker-archive's tar header needs it before the body.
    func uncompressedSize(of layer: Descriptor) -> Int64?
}

extension ImageSource {
    public func close() {}
    public func uncompressedSize(of layer: Descriptor) -> Int64? { nil }
}
