@_exported import Archive
@_exported import ImageSpec
@_exported import ImageStore
@_exported import Runtime
@_exported import Snapshots
@_exported import Transfer
import ContentStore
import Foundation
import Logging
@_exported import Registry

/// Strata as a Swift library: every use case — pull, push, copy, build, run, save, load, inspect,
/// remove — once, behind one façade. The `strata` CLI is one front end over it; the registry
/// server and any Swift program are others. Methods return values and report progress as typed
/// events; none of them prints.
///
/// ```swift
/// let engine = try Engine(root: "/var/lib/strata")
/// _ = try await engine.pull("busybox:latest")
/// let output = try await engine.run(.init(image: "busybox:latest", command: ["echo", "hi"]))
/// ```
public final class Engine: @unchecked Sendable {
    public struct Options: Sendable {
        /// `overlay` or `copy`; nil: the store's recorded driver, `STRATA_STORAGE_DRIVER`, else overlay where it works.
        public var storageDriver: StorageDriver?
        /// The OCI runtime's name or path; nil: `STRATA_RUNTIME`, else runc, else crun.
        public var runtime: String?
        /// Registry transport settings for every pull, push, copy and login.
        public var registry = RegistryOptions()
        /// This program's path, for detached container monitors (`strata container-monitor`).
        public var monitorExecutable: String?

        public init(storageDriver: StorageDriver? = nil, runtime: String? = nil) {
            self.storageDriver = storageDriver
            self.runtime = runtime
        }
    }

    /// The store root, absolute: mounts change the working directory, so a relative path would break them.
    public let root: String
    public let options: Options
    let logger = Logger(label: "strata.engine")
    private let lock = NSLock()
    private var openedStore: ImageStore?
    private var openedContainers: ContainerEngine?

    /// Opens (creating if needed) the store at `root` (default: `ImageStore.defaultRoot`).
    public init(root: String? = nil, options: Options = Options()) throws {
        self.root = FileSystem.absolutePath(root ?? ImageStore.defaultRoot)
        self.options = options
    }

    /// The image store, opened on first use.
    public var store: ImageStore {
        get throws {
            try lock.withLock {
                if let openedStore { return openedStore }
                let store = try Trace.measure(.open) { try ImageStore(root: root) }
                openedStore = store
                return store
            }
        }
    }

    /// The container engine (snapshots, runtime), opened on first use: listing images needs neither.
    public var containers: ContainerEngine {
        get throws {
            let store = try self.store
            return try lock.withLock {
                if let openedContainers { return openedContainers }
                let engine = try Trace.measure(.open) { try ContainerEngine(store: store, driver: options.storageDriver, runtime: options.runtime) }
                openedContainers = engine
                return engine
            }
        }
    }

    /// Removes what this process has half-made: ingests, unpacks, work files and spools. For an
    /// interrupted command whose work cannot unwind in time (a read blocked on a pipe) on its way
    /// out; nothing it removes was ever visible.
    public func removeTemporaries() {
        let pid = getpid()
        lock.withLock { openedStore }?.removeTemporaries(ofProcess: pid)
        if let kind = StorageDriver.recorded(inStore: root),
           let snapshotter = try? Snapshotter(storeRoot: root, content: ContentStore(root: root), driver: kind) {
            snapshotter.driver.removeTemporaries(ofProcess: pid)
        }
        for name in FileSystem.listDirectory(SpoolDirectory.path) where name.hasPrefix("strata-") {
            let parts = name.split(separator: "-")
            if parts.count >= 3, parts[2] == "\(pid)" { FileSystem.removeTree("\(SpoolDirectory.path)/\(name)") }
        }
    }

    /// Whether containers were ever made in this store (their snapshots then need collecting).
    var hasSnapshots: Bool { FileSystem.isDirectory("\(root)/snapshots") }
}
