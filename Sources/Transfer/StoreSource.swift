import ImageSpec
import ImageStore
import Registry

/// An image of the local store: blobs are read (or uploaded) straight from the content store.
public final class StoreSource: ImageSource, @unchecked Sendable {
    let store: ImageStore
    public let image: ImageStore.Image
    public let name: String

    public init(store: ImageStore, image: ImageStore.Image, name: String) {
        self.store = store
        self.image = image
        self.name = name
    }

    public func rootManifest() async throws -> ManifestBlob {
        ManifestBlob(bytes: try store.content.read(image.manifestDigest), mediaType: image.manifestMediaType, digest: image.manifestDigest)
    }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestBlob {
        ManifestBlob(bytes: try store.content.read(descriptor.digest), mediaType: descriptor.mediaType, digest: descriptor.digest)
    }

    public func blobBytes(_ descriptor: Descriptor) async throws -> [UInt8] {
        try store.content.read(descriptor.digest)
    }

    public func uncompressedSize(of layer: Descriptor) -> Int64? {
        (try? store.layer(layer.digest))?.tarSize
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobContent {
        guard store.content.contains(descriptor.digest) else {
            throw StrataError(.blobUnknown, "blob \(descriptor.digest) of image \(image.id.short) is missing from the content store")
        }
        return .stored(store.content.path(for: descriptor.digest), descriptor.digest)
    }
}
