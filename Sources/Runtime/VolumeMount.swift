import Foundation

/// A mount a user asked for (`-v`, `--mount`, `--tmpfs`) or an image's `VOLUME` made: fixed
/// when the container is created, recorded in its spec.
public struct VolumeMount: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// A host path, given by the user.
        case bind
        /// A volume under the store: named, or anonymous (a random name, made at create).
        case volume
        /// A fresh tmpfs, gone when the container stops.
        case tmpfs
    }

    public var kind: Kind
    /// The host path (bind), the volume's name (volume; empty until create names an anonymous
    /// one), or nothing (tmpfs).
    public var source: String
    /// The path inside the container.
    public var target: String
    public var readOnly: Bool
    /// Made for this container (`-v /path`, the image's `VOLUME`): `rm -v` and `run --rm` remove it.
    public var anonymous: Bool
    /// tmpfs mount options (`size=64m`, `mode=1777`).
    public var options: [String]

    public init(kind: Kind, source: String, target: String, readOnly: Bool = false, anonymous: Bool = false, options: [String] = []) {
        self.kind = kind
        self.source = source
        self.target = target
        self.readOnly = readOnly
        self.anonymous = anonymous
        self.options = options
    }
}
