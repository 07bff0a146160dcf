import Foundation

extension Engine {
    /// `strata image diff A B`: the layers the images share, then B's files against A's, read
    /// from the layers' tar headers (the shared base once, for both; nothing is unpacked).
    public func imageDiff(_ first: String, _ second: String) throws -> ImageDiff {
        let store = try self.store
        let a = try store.layers(of: store.resolve(first)), b = try store.layers(of: store.resolve(second))
        let chainA = ChainID.compute(a.map(\.diffID)), chainB = ChainID.compute(b.map(\.diffID))
        // Layers are shared while their chain IDs agree: the same layer on the same base.
        var common = 0
        while common < min(a.count, b.count), chainA[common] == chainB[common] { common += 1 }
        func info(_ layer: ImageStore.Layer) -> ImageDiff.LayerInfo { .init(diffID: layer.diffID, size: layer.size) }

        var base = LayerFileIndex()
        for layer in a.prefix(common) { try index(layer, into: &base, hashBodies: false, store: store) }
        var left = base, right = base
        for layer in a.dropFirst(common) { try index(layer, into: &left, hashBodies: true, store: store) }
        for layer in b.dropFirst(common) { try index(layer, into: &right, hashBodies: true, store: store) }
        return ImageDiff(shared: a.prefix(common).map(info), onlyInFirst: a.dropFirst(common).map(info),
                         onlyInSecond: b.dropFirst(common).map(info), changes: LayerFileIndex.changes(from: left, to: right))
    }

    private func index(_ layer: ImageStore.Layer, into index: inout LayerFileIndex, hashBodies: Bool, store: ImageStore) throws {
        let reader = try Codecs.decompressing(try store.content.open(layer.descriptor.digest),
                                              as: layer.descriptor.mediaType.layerCompression ?? .none)
        do {
            try index.apply(TarReader(reader), hashBodies: hashBodies)
        } catch let error as StrataError {
            throw error.context("layer \(layer.descriptor.digest.short)")
        }
    }
}
