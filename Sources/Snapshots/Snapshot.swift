import ImageSpec

/// One unpacked layer, keyed by its chain ID (the layer together with everything below it).
public struct Snapshot: Sendable, Equatable {
    public var chainID: Digest
    /// overlay: the layer's own files (a lower directory); copy: the full tree at this level.
    public var path: String
    /// overlay: the short name under `l/` used in mount options.
    public var link: String?
}
