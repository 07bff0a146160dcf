import ContentStore
import Foundation
import ImageSpec

extension Engine {
    public struct CheckOptions: Sendable {
        /// Remove leftovers, set damaged blobs aside, remove snapshots that can be made again.
        public var repair = false
        /// Also unpack every layer afresh and compare it with its stored snapshot.
        public var deep = false

        public init(repair: Bool = false, deep: Bool = false) {
            self.repair = repair
            self.deep = deep
        }
    }

    /// `strata system check`: every blob hashed against its name, every record's blobs present,
    /// every snapshot finished (and, `deep`, equal to its layer unpacked afresh), containers'
    /// directories and rows in agreement, and nothing left by a killed process. Holds the store's
    /// collection lock throughout, so no other command adds or removes anything meanwhile.
    ///
    /// With `repair`, leftovers are removed, a damaged blob is set aside (moved to `damaged/`, so
    /// the next pull or load fetches it again), and a snapshot that is damaged is removed only when
    /// it can be made again from its layer's blob and no container stands on it. Nothing that is
    /// an image's only copy is deleted.
    public func checkStore(_ options: CheckOptions = CheckOptions()) throws -> StoreCheckReport {
        let store = try self.store
        let lock = try store.collectLock()
        defer { withExtendedLifetime(lock) {} }
        var check = try StoreCheck(store: store, containers: try containers, root: root, options: options)
        try check.blobs()
        try check.records()
        try check.snapshots()
        check.containerState()
        check.leftovers()
        try check.strayBlobs()
        return check.report
    }
}

/// One run of `system check`: its steps, in order, and what the earlier ones learned for the later.
private struct StoreCheck {
    let store: ImageStore
    let engine: ContainerEngine
    let root: String
    let options: Engine.CheckOptions
    var report: StoreCheckReport
    let images: [ImageStore.Image]
    let all: [Container]
    let running: Set<String>
    /// Which images use which blob, to say what a damaged one belongs to.
    var users: [Digest: [String]] = [:]
    var names: [Digest: String] = [:]
    var needs: [Digest: [Digest]] = [:]
    /// Blobs this run set aside: reported once, as damaged, not again as missing.
    var setAside = Set<Digest>()
    /// Each image's layers, read once for every step.
    var layersOf: [Digest: [ImageStore.Layer]] = [:]

    init(store: ImageStore, containers: ContainerEngine, root: String, options: Engine.CheckOptions) throws {
        self.store = store
        engine = containers
        self.root = root
        self.options = options
        report = StoreCheckReport(root: root, repair: options.repair, deep: options.deep)
        images = try store.images()
        all = try containers.list()
        running = Set(all.filter { $0.state == .running }.map(\.id))
        report.checked.images = images.count
        report.checked.containers = all.count
        for image in images {
            let name = try store.tags(of: image.id).first?.familiarString ?? image.id.short
            names[image.id] = name
            let blobs = try store.database.query("SELECT digest FROM image_blobs WHERE image_id = ?", [.text(image.id.description)])
                .compactMap { $0.string(0).flatMap { try? Digest(parsing: $0) } }
            needs[image.id] = blobs
            for blob in blobs { users[blob, default: []].append(name) }
        }
    }

    func usedBy(_ digest: Digest) -> String {
        guard let list = users[digest], !list.isEmpty else { return "no image" }
        return Set(list).sorted().joined(separator: ", ")
    }

    /// Every blob hashed against its name.
    mutating func blobs() throws {
        for digest in store.content.list() {
            report.checked.blobs += 1
            guard let damage = try store.content.condition(of: digest).damage else { continue }
            let user = usedBy(digest)
            report.record(.damagedBlob, digest.description, "the blob of \(user) is damaged: \(damage)",
                          would: "--repair sets it aside in damaged/; then pull or load \(user) again",
                          did: "set aside in damaged/\(digest.algorithm.rawValue)/\(digest.encoded); pull or load \(user) again to fetch it") {
                _ = try store.content.setAside(digest)
                setAside.insert(digest)
            }
        }
    }

    /// Every blob an image needs is there, and its manifest and layers read.
    mutating func records() throws {
        for image in images {
            let name = names[image.id] ?? image.id.short
            for digest in needs[image.id] ?? [] where !store.content.contains(digest) && !setAside.contains(digest) {
                report.record(.missingBlob, digest.description, "image \(name) needs this blob, which is not in the store",
                              would: "pull or load \(name) again (nothing here can make it)")
            }
            do { layersOf[image.id] = try store.layers(of: image) } catch {
                guard store.content.contains(image.manifestDigest) else { continue }
                report.record(.unreadableRecord, image.id.description, "image \(name) cannot be read: \(StrataError.wrapping(error).message)",
                              would: "remove it (`strata rmi \(name)`) and pull or load it again")
            }
        }
    }

    /// Snapshots: finished, needed, and (deep) equal to their layers.
    mutating func snapshots() throws {
        let snapshotter = engine.snapshots
        let chainsOf = layersOf.mapValues { ChainID.compute($0.map(\.diffID)) }
        let needed = Set(chainsOf.values.joined())
        // An image whose layers cannot be read may stand on any snapshot: then none is called stray.
        let allImagesRead = layersOf.count == images.count
        var standing: [Digest: [String]] = [:]
        for c in all {
            for chain in chainsOf[c.imageID] ?? [] { standing[chain, default: []].append(String(c.id.prefix(12))) }
        }
        var layerOf: [Digest: (layer: ImageStore.Layer, below: Digest?)] = [:]
        for (id, layers) in layersOf {
            let chain = chainsOf[id] ?? []
            for (i, layer) in layers.enumerated() { layerOf[chain[i]] = (layer, i > 0 ? chain[i - 1] : nil) }
        }
        let driver = snapshotter.driver
        for chain in snapshotter.list() {
            report.checked.snapshots += 1
            let path = "snapshots/\(driver.kind.rawValue)/\(chain.encoded)"
            guard needed.contains(chain) else {
                if allImagesRead {
                    report.record(.straySnapshot, path, "no image uses this snapshot", would: "--repair removes it", did: "removed") {
                        driver.remove(chain)
                    }
                } else {
                    report.record(.straySnapshot, path, "no readable image uses this snapshot",
                                  would: "kept while an image cannot be read: it may be that image's")
                }
                continue
            }
            guard let (kind, text) = problem(of: chain, layerOf[chain], snapshotter) else { continue }
            let blob = layerOf[chain]?.layer.descriptor.digest
            if let containers = standing[chain], !containers.isEmpty {
                report.record(kind, path, text, would: "remove the containers on it (\(containers.joined(separator: ", "))), then run --repair again")
            } else if let blob, store.content.contains(blob), !setAside.contains(blob) {
                report.record(kind, path, text, would: "--repair removes it; it is unpacked again from its layer when next used",
                              did: "removed; it is unpacked again from layer \(blob.short) when next used") { driver.remove(chain) }
            } else {
                report.record(kind, path, text, would: "kept: it is the only copy of its layer here; pull or load its image again, then run --repair")
            }
        }
        for name in driver.strayEntries() {
            let path = "\(driver.root)/\(name)"
            report.record(.staleTemporary, "snapshots/\(driver.kind.rawValue)/\(name)", "an unpack that never finished",
                          would: "--repair removes it", did: "removed") { FileSystem.removeTree(path) }
        }
    }

    /// What is wrong with a needed snapshot: no completion marker, or (deep) not its layer.
    private func problem(of chain: Digest, _ source: (layer: ImageStore.Layer, below: Digest?)?,
                         _ snapshotter: Snapshotter) -> (StoreCheckReport.Finding.Kind, String)? {
        guard snapshotter.driver.isComplete(chain) else {
            return (.incompleteSnapshot, "the snapshot has no completion marker: it was never finished, or was damaged")
        }
        guard options.deep, let source else { return nil }
        do {
            let differences = try snapshotter.differences(of: chain, from: source.layer,
                                                          below: source.below.flatMap { snapshotter.snapshot($0) })
            guard !differences.isEmpty else { return nil }
            return (.damagedSnapshot, "the snapshot differs from its layer \(source.layer.descriptor.digest.short): " + differences.joined(separator: "; "))
        } catch let error as StrataError where error.code == .damagedBlob {
            return nil // The blob is reported already; the snapshot cannot be held against it.
        } catch {
            return (.damagedSnapshot, "its layer could not be unpacked to compare: \(StrataError.wrapping(error).message)")
        }
    }

    /// Containers: rows and directories agree; nothing mounted or kept by the runtime for a
    /// container that is not running.
    mutating func containerState() {
        let containersRoot = "\(root)/containers"
        let rows = Set(all.map(\.id))
        for c in all where !FileSystem.isDirectory(engine.directory(c.id)) {
            report.record(.missingContainerDirectory, c.id, "container \(c.name) has lost its directory (its read/write layer and log)",
                          would: "--repair removes its record: nothing of it is left to keep", did: "record removed") {
                _ = try engine.remove(c.id, force: true)
            }
        }
        for name in FileSystem.listDirectory(containersRoot) where !rows.contains(name) {
            report.record(.strayContainerDirectory, "containers/\(name)", "a container directory with no container (a create or rm that was killed)",
                          would: "--repair unmounts and removes it", did: "removed") {
                engine.snapshots.removeContainerLayer("\(containersRoot)/\(name)")
            }
        }
        for point in SnapshotMount.mountPoints() where point.hasPrefix(containersRoot + "/") {
            let id = point.dropFirst(containersRoot.count + 1).split(separator: "/").first.map(String.init) ?? ""
            guard !running.contains(id), rows.contains(id) else { continue }
            report.record(.staleMount, String(point.dropFirst(root.count + 1)), "mounted, but its container is not running",
                          would: "--repair unmounts it", did: "unmounted") { SnapshotMount.unmount(point) }
        }
        for id in FileSystem.listDirectory(engine.runtime.stateRoot) where !running.contains(id) {
            report.record(.staleRuntimeState, "runtime/\(id)", "the runtime still keeps state for a container that is not running",
                          would: "--repair deletes it", did: "deleted") {
                engine.runtime.delete(id, force: true)
                // State runc no longer knows as a container (a kill between its steps) goes as files.
                FileSystem.removeTree("\(engine.runtime.stateRoot)/\(id)")
            }
        }
    }

    /// Leftovers of killed processes. Ingests are all stale: ingesting commands hold the lock this one holds.
    mutating func leftovers() {
        for file in store.content.ingestFiles() {
            report.record(.staleIngest, String(file.dropFirst(root.count + 1)), "an unfinished download or load of a process that is gone",
                          would: "--repair removes it (so does the next pull)", did: "removed") { unlink(file) }
        }
        for name in store.abandonedTemporaries() {
            report.record(.staleTemporary, "tmp/\(name)", "a work file of a process that is gone",
                          would: "--repair removes it", did: "removed") { FileSystem.removeTree("\(store.temporaryDirectory)/\(name)") }
        }
    }

    /// Blobs no image references (a crash between storing and recording), last: what repair set
    /// aside above is out of `blobs/` already.
    mutating func strayBlobs() throws {
        let strays = store.content.list().filter { users[$0] == nil }
        for digest in strays {
            report.record(.strayBlob, digest.description, "no image uses this blob (a pull or load killed before it recorded its image)",
                          would: "--repair deletes it (so does `strata image prune`)", did: "deleted") {}
        }
        if options.repair, !strays.isEmpty { try store.collectGarbageHoldingLock() }
    }
}
