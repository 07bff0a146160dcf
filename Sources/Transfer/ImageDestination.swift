import ImageSpec
import Registry

/// What a destination knows of a blob before it is written.
public enum BlobStatus: Sendable, Equatable {
    case missing
    /// Already there: nothing to transfer.
    case present
    /// Not there, but in another repository of the same registry: a mount can replace the upload.
    case mountable(from: String)
    /// Written now, by mounting from the named repository.
    case mounted(from: String)
    /// Written now.
    case written
}

/// The image being transferred: its manifest (chosen from an index when the source had one),
/// decoded, and its config.
public struct ImagePlan: Sendable {
    /// What the reference named: the manifest itself, or the index it was chosen from.
    public var root: ManifestBlob
    public var manifest: ManifestBlob
    public var parsed: Manifest
    public var configBytes: [UInt8]
    public var config: ImageConfig
    /// Layers' uncompressed tar lengths, where the source knows them without reading (the store).
    public var uncompressedSizes: [Digest: Int64] = [:]

    /// Diff IDs of the layers, lowest first.
    public var diffIDs: [Digest] { config.rootfs.diffIDs }
}

/// Where an image goes: a registry, the local store, an OCI layout or an archive.
public protocol ImageDestination: AnyObject, Sendable {
    var name: String { get }
    /// When the destination already holds the image `root` names, under the wanted name too,
    /// the manifest it knows the image by (a re-compressed push's differs): nothing needs to move.
    /// Asked before anything else, so an image already there costs one round trip.
    func holds(root: ManifestBlob) async throws -> Descriptor?
    /// Called once the plan is known, before any blob is written.
    func begin(_ plan: ImagePlan) async throws
    func status(of blob: Descriptor) async throws -> BlobStatus
    /// Writes a layer (`layer` is its index) or, with `layer` nil, the config. Verifies the
    /// digest before the blob becomes visible. `progress` is told the bytes done so far.
    func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
               progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus
    /// Writes a layer whose digest is known only once `produce` has written every byte (a layer
    /// compressed on the way), streaming it as it is made; returns what was written. Nil when
    /// this destination needs a blob's digest before its bytes: the caller spools to a file.
    func writeProduced(layer: Int, mediaType: MediaType, produce: @escaping @Sendable (ByteWriter) throws -> Void) async throws -> Descriptor?
    /// Stores the manifest (and names it); returns the digest the destination knows it by.
    func finish(_ plan: ImagePlan) async throws -> Digest
    /// Discards whatever was staged and not finished.
    func abort()
    /// How many blobs it can take at once (a tar stream: one); nil for no limit.
    var maxConcurrentWrites: Int? { get }
    /// Completes the destination after its last image (an archive's index is written last).
    func close() throws
}

extension ImageDestination {
    public func holds(root: ManifestBlob) async throws -> Descriptor? { nil }
    public func writeProduced(layer: Int, mediaType: MediaType, produce: @escaping @Sendable (ByteWriter) throws -> Void) async throws -> Descriptor? { nil }
    public func abort() {}
    public var maxConcurrentWrites: Int? { nil }
    public func close() throws {}
}
