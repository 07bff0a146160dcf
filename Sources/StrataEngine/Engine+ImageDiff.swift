import Foundation

extension Engine {
    /// `strata image diff A B`: the layers the images share, then B's files against A's.
    public func imageDiff(_ first: String, _ second: String) throws -> ImageDiff {
        let store = try self.store
        func layers(_ name: String) throws -> [ImageDiff.Layer] {
            try store.layers(of: store.resolve(name)).map { layer in
                ImageDiff.Layer(diffID: layer.diffID, size: layer.size, name: layer.descriptor.digest.short) { [content = store.content] in
                    try Codecs.decompressing(try content.open(layer.descriptor.digest), as: layer.descriptor.mediaType.layerCompression ?? .none)
                }
            }
        }
        return try ImageDiff.between(try layers(first), try layers(second))
    }
}
