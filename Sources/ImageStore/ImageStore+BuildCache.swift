import Foundation
import ImageSpec
import Metadata

extension ImageStore {
    /// The image a build step made before under this cache key, if it is still in the store.
    public func cachedBuildStep(_ key: Digest) throws -> Image? {
        guard let id = try db.query("SELECT image_id FROM build_cache WHERE key = ?", [.text(key.description)])
            .first?.string(0).flatMap({ try? Digest(parsing: $0) }) else { return nil }
        return try image(id: id)
    }

    /// Remembers a finished step: its key, the image it made, and what went into it.
    public func recordBuildStep(_ key: Digest, image: Digest, slot: String, inputs: String) throws {
        try db.write {
            try db.execute("INSERT OR REPLACE INTO build_cache (key, image_id, slot, inputs, created) VALUES (?, ?, ?, ?, ?)",
                           [.text(key.description), .text(image.description), .text(slot), .text(inputs),
                            .real(Date().timeIntervalSince1970)])
        }
    }

    /// What went into the last build of the same step (to say why it missed this time).
    public func lastBuildStep(slot: String) throws -> String? {
        try db.query("SELECT inputs FROM build_cache WHERE slot = ? ORDER BY created DESC LIMIT 1", [.text(slot)]).first?.string(0)
    }
}
