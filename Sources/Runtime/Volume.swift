import Foundation

/// A volume: a directory under the store (`volumes/<name>/_data`) that outlives the containers
/// that mount it.
public struct Volume: Sendable, Equatable {
    public var name: String
    /// Where its data lives on the host (Docker's `Mountpoint`).
    public var mountpoint: String
    public var created: Date
    /// Made for one container (`-v /path`, an image's `VOLUME`) rather than by name.
    public var anonymous: Bool
    public var labels: [String: String]
}
