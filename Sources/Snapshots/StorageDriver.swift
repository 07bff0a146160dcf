import Foundation
import ImageSpec

/// How unpacked layers become a container's root filesystem.
public enum StorageDriver: String, Sendable, CaseIterable {
    /// Kernel overlayfs: each layer unpacked once as a lower directory; a container is one thin upper directory.
    case overlay
    /// Portable fallback: each layer level is a full tree; a container gets a full copy.
    case copy
}

extension StorageDriver {
    static func file(inStore root: String) -> String { "\(root)/storage-driver" }

    /// The driver a store was set up with, if containers were ever made in it.
    public static func recorded(inStore root: String) -> StorageDriver? {
        (try? FileSystem.readFile(file(inStore: root))).flatMap { StorageDriver(rawValue: String(decoding: $0, as: UTF8.self)) }
    }

    /// The driver to use for a store: the one it was set up with (asking for another is an error),
    /// else the one asked for (`requested`, then `STRATA_STORAGE_DRIVER`), else overlay where a
    /// test mount works. The choice is recorded, so every container of a store uses one driver.
    public static func choose(forStore root: String, requested: StorageDriver?) throws -> StorageDriver {
        let env = ProcessInfo.processInfo.environment["STRATA_STORAGE_DRIVER"].flatMap { $0.isEmpty ? nil : $0 }
        if let env, StorageDriver(rawValue: env) == nil {
            throw StrataError(.invalidArgument, "STRATA_STORAGE_DRIVER=\(env) is not a storage driver (overlay or copy)")
        }
        let wanted = requested ?? env.flatMap(StorageDriver.init(rawValue:))
        if let saved = recorded(inStore: root) {
            if let wanted, wanted != saved {
                throw StrataError(.conflict,
                    "this store uses the \(saved.rawValue) storage driver; \(wanted.rawValue) was asked for (use another --root for another driver)")
            }
            return saved
        }
        let chosen = wanted ?? Snapshotter.detectDriver(storeRoot: root)
        try FileSystem.writeAtomically(file(inStore: root), Array(chosen.rawValue.utf8))
        return chosen
    }
}
