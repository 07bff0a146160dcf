import Foundation
import ImageSpec
import ContentStore
import Metadata

/// The local image store: blobs in a `ContentStore`, names and image records in one SQLite
/// database. An image is its manifest, its config and its layers — all blobs, shared by every
/// image that uses them; the image ID is the config digest, as in Docker.
public final class ImageStore {
    public let root: String
    public let content: ContentStore
    let db: Database

    /// `root` is made absolute once: mounts and runc change the working directory, so every path
    /// derived from a relative root would change meaning.
    public init(root: String) throws {
        let root = FileSystem.absolutePath(root)
        self.root = root
        try FileSystem.createDirectory(root, mode: 0o700)
        content = try ContentStore(root: root)
        db = try Database(path: "\(root)/metadata.db")
        try db.migrate()
        // Temp files of ingests killed midway: safe to remove when no other process is ingesting.
        if let lock = FileLock(tryExclusive: "\(root)/gc.lock") {
            content.removeAbandonedIngests()
            withExtendedLifetime(lock) {}
        }
        removeAbandonedTemporaries()
    }

    // MARK: temporary files

    /// `tmp/`: work files of a command (a build's downloads and bind-mount copies, …). Each is
    /// named after the process that made it, so one left by a crash is swept by the next process
    /// that finds its owner gone, while a running command's stay its own.
    public var temporaryDirectory: String { "\(root)/tmp" }

    /// A new path in `tmp/` for this process (not created).
    public func temporaryPath(_ purpose: String) throws -> String {
        try FileSystem.createDirectory(temporaryDirectory, mode: 0o700)
        return "\(temporaryDirectory)/\(getpid())-\(purpose)-\(UInt64.random(in: 0...UInt64.max))"
    }

    /// Removes what crashed processes left in `tmp/`: entries whose owning process is gone, and
    /// entries not named after a process at all (from versions before the rule).
    func removeAbandonedTemporaries() {
        for name in abandonedTemporaries() { FileSystem.removeTree("\(temporaryDirectory)/\(name)") }
    }

    /// Names in `tmp/` whose owning process is gone (or that name none).
    public func abandonedTemporaries() -> [String] {
        FileSystem.listDirectory(temporaryDirectory).filter(FileSystem.ownerIsGone)
    }

    /// Removes this process's own temporary files and unfinished ingests: what an interrupted
    /// command does on its way out when its work cannot unwind in time.
    public func removeTemporaries(ofProcess pid: Int32 = getpid()) {
        content.removeIngests(ofProcess: pid)
        for name in FileSystem.listDirectory(temporaryDirectory) where name.hasPrefix("\(pid)-") {
            FileSystem.removeTree("\(temporaryDirectory)/\(name)")
        }
    }

    /// The default store root: `STRATA_ROOT`, else `/var/lib/strata` as root, else `~/.local/share/strata`.
    public static var defaultRoot: String {
        if let env = ProcessInfo.processInfo.environment["STRATA_ROOT"], !env.isEmpty { return env }
        if geteuid() == 0 { return "/var/lib/strata" }
        return NSHomeDirectory() + "/.local/share/strata"
    }

    /// The metadata database, shared with the container engine (one store, one transaction log).
    public var database: Database { db }

    // MARK: locks

    /// Held shared while blobs and snapshots are written and recorded, or a container is being
    /// created; exclusive while unreferenced blobs and snapshots are deleted.
    public func ingestLock() throws -> FileLock { try FileLock(path: "\(root)/gc.lock", mode: .shared) }
    public func collectLock() throws -> FileLock { try FileLock(path: "\(root)/gc.lock", mode: .exclusive) }

    /// Containers (any state) made from an image.
    public func containers(using image: Digest) throws -> [String] {
        try db.query("SELECT id FROM containers WHERE image_id = ? ORDER BY created", [.text(image.description)]).compactMap { $0.string(0) }
    }

    // MARK: records

    /// One image as the store knows it.
    public struct Image: Sendable, Equatable {
        public var id: Digest
        public var manifestDigest: Digest
        public var manifestMediaType: MediaType
        public var created: Date?
        public var size: Int64
        public var parent: Digest?
        public var added: Date
        public var lastTagTime: Date?
    }

    static let imageColumns = "id, manifest, manifest_media_type, created, size, parent, added, last_tag_time"

    static func image(_ row: Row) throws -> Image {
        Image(id: try Digest(parsing: row.string(0) ?? ""),
              manifestDigest: try Digest(parsing: row.string(1) ?? ""),
              manifestMediaType: MediaType(row.string(2) ?? ""),
              created: row.double(3).map(Date.init(timeIntervalSince1970:)),
              size: row.int(4) ?? 0,
              parent: row.string(5).flatMap { $0.isEmpty ? nil : try? Digest(parsing: $0) },
              added: Date(timeIntervalSince1970: row.double(6) ?? 0),
              lastTagTime: row.double(7).map(Date.init(timeIntervalSince1970:)))
    }

    public func images() throws -> [Image] {
        try db.query("SELECT \(Self.imageColumns) FROM images").map(Self.image)
    }

    public func image(id: Digest) throws -> Image? {
        try db.query("SELECT \(Self.imageColumns) FROM images WHERE id = ?", [.text(id.description)]).first.map(Self.image)
    }

    /// Every tag: normalised reference → image ID.
    public func tags() throws -> [(reference: Reference, image: Digest)] {
        try db.query("SELECT name, image_id FROM tags").compactMap { row in
            guard let name = row.string(0), let ref = try? Reference(parsing: name),
                  let id = row.string(1).flatMap({ try? Digest(parsing: $0) }) else { return nil }
            return (ref, id)
        }
    }

    public func tags(of image: Digest) throws -> [Reference] {
        try db.query("SELECT name FROM tags WHERE image_id = ? ORDER BY name", [.text(image.description)])
            .compactMap { $0.string(0).flatMap { try? Reference(parsing: $0) } }
    }

    /// `repository@digest` references recorded for an image (from pulls, loads of OCI layouts, pushes).
    public func repoDigests(of image: Digest) throws -> [Reference] {
        try db.query("SELECT repository, digest FROM repo_digests WHERE image_id = ? ORDER BY repository",
                     [.text(image.description)])
            .compactMap { row in
                guard let repo = row.string(0), let d = row.string(1) else { return nil }
                return try? Reference(parsing: "\(repo)@\(d)")
            }
    }

    /// Every image's `repository@digest` references, in one query (a listing needs them all).
    public func repoDigests() throws -> [Digest: [Reference]] {
        var byImage: [Digest: [Reference]] = [:]
        for row in try db.query("SELECT repository, digest, image_id FROM repo_digests ORDER BY repository, digest") {
            guard let repo = row.string(0), let d = row.string(1), let id = row.string(2).flatMap({ try? Digest(parsing: $0) }),
                  let ref = try? Reference(parsing: "\(repo)@\(d)") else { continue }
            byImage[id, default: []].append(ref)
        }
        return byImage
    }

    /// Finds an image the way `docker` does: by name[:tag], name@digest, full ID, or unique ID prefix.
    public func resolve(_ input: String) throws -> Image { try lookup(input).image }

    /// Like `resolve`, and also says which name matched (nil when the input matched an ID).
    public func lookup(_ input: String) throws -> (image: Image, name: Reference?) {
        let trimmed = input.hasPrefix("sha256:") ? String(input.dropFirst(7)) : input
        if trimmed.utf8.count == 64, let id = try? Digest(algorithm: .sha256, encoded: trimmed) {
            if let image = try image(id: id) { return (image, nil) }
            throw Self.noSuchImage(input)
        }
        if let ref = try? Reference(parsing: input) {
            let rows: [Row]
            if let digest = ref.digest {
                // The digest must belong to that repository: a recorded repo digest, or the manifest
                // of an image tagged in it — never any image anywhere with that manifest.
                rows = try db.query("""
                    SELECT image_id FROM repo_digests WHERE repository = ? AND digest = ?
                    UNION SELECT i.id FROM images i JOIN tags t ON t.image_id = i.id
                    WHERE i.manifest = ? AND substr(t.name, 1, length(?) + 1) = ? || ':'
                    """, [.text(ref.name), .text(digest.description), .text(digest.description), .text(ref.name), .text(ref.name)])
            } else {
                rows = try db.query("SELECT image_id FROM tags WHERE name = ?", [.text(ref.withDefaultTag.description)])
            }
            if let id = rows.first?.string(0), let image = try image(id: Digest(parsing: id)) {
                return (image, ref.digest == nil ? ref.withDefaultTag : ref)
            }
        }
        // A short ID: any unique prefix of a full one, as docker accepts.
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            let rows = try db.query("SELECT \(Self.imageColumns) FROM images WHERE id >= ? AND id < ? LIMIT 2",
                                    [.text("sha256:" + trimmed), .text("sha256:" + trimmed + "g")])
            if rows.count > 1 {
                throw StrataError(.ambiguous, "image ID prefix \"\(trimmed)\" is ambiguous: it matches more than one image; give more characters")
            }
            if let row = rows.first { return (try Self.image(row), nil) }
        }
        throw Self.noSuchImage(input)
    }

    static func noSuchImage(_ input: String) -> StrataError {
        StrataError(.imageUnknown, "No such image: \(input)")
    }

    // MARK: blobs of an image

    public func manifest(of image: Image) throws -> Manifest {
        try Manifest.decode(try content.read(image.manifestDigest), what: "manifest \(image.manifestDigest)")
    }

    /// The config, decoded, and its exact bytes (which the image ID is the digest of).
    public func config(of image: Image) throws -> (config: ImageConfig, bytes: [UInt8]) {
        let bytes = try content.read(image.id)
        return (try ImageConfig.decode(bytes, what: "config \(image.id)"), bytes)
    }

    /// One layer's record: its blob, its diff ID, its size as Docker counts it (file contents),
    /// and the length of its uncompressed tar.
    public struct Layer: Sendable, Equatable {
        public var descriptor: Descriptor
        public var diffID: Digest
        public var size: Int64
        public var tarSize: Int64

        public init(descriptor: Descriptor, diffID: Digest, size: Int64, tarSize: Int64) {
            self.descriptor = descriptor
            self.diffID = diffID
            self.size = size
            self.tarSize = tarSize
        }
    }

    /// The blobs an image needs (manifest, config, layers) that are not in the content store.
    public func missingBlobs(of image: Image) throws -> [Digest] {
        try db.query("SELECT digest FROM image_blobs WHERE image_id = ? ORDER BY digest", [.text(image.id.description)])
            .compactMap { $0.string(0).flatMap { try? Digest(parsing: $0) } }
            .filter { !content.contains($0) }
    }

    /// The layers of an image, lowest first, with their diff IDs and uncompressed sizes.
    public func layers(of image: Image) throws -> [Layer] {
        try manifest(of: image).layers.map { descriptor in
            let row = try db.query("SELECT diff_id, size, tar_size FROM layers WHERE digest = ?", [.text(descriptor.digest.description)]).first
            guard let row, let diff = row.string(0) else {
                throw StrataError(.blobUnknown, "layer \(descriptor.digest) of image \(image.id.short) is not recorded in the store")
            }
            return Layer(descriptor: descriptor, diffID: try Digest(parsing: diff), size: row.int(1) ?? 0, tarSize: row.int(2) ?? 0)
        }
    }

    // MARK: recording

    /// What a source hands the store to record: blobs already ingested and verified.
    public struct NewImage: Sendable {
        public var manifestDigest: Digest
        public var manifestMediaType: MediaType
        public var config: ImageConfig
        public var configDigest: Digest
        public var layers: [Layer]
        public var parent: Digest?

        public init(manifestDigest: Digest, manifestMediaType: MediaType, config: ImageConfig, configDigest: Digest,
                    layers: [Layer], parent: Digest? = nil) {
            self.manifestDigest = manifestDigest
            self.manifestMediaType = manifestMediaType
            self.config = config
            self.configDigest = configDigest
            self.layers = layers
            self.parent = parent
        }
    }

    /// A name that pointed at another image before `record` moved it.
    public struct MovedTag: Sendable, Equatable {
        public var reference: Reference
        public var previous: Digest
    }

    /// Records an image and names it, in one transaction. The caller holds the ingest lock,
    /// so the blobs it wrote cannot be collected before they are referenced here. An image
    /// already in the store keeps its record and blobs; only the names are added.
    @discardableResult
    public func record(_ new: NewImage, tags: [Reference] = [], repoDigests: [Reference] = []) throws -> (image: Image, moved: [MovedTag]) {
        var moved: [MovedTag] = []
        let now = Date().timeIntervalSince1970
        try db.write {
            let exists = !(try db.query("SELECT 1 FROM images WHERE id = ?", [.text(new.configDigest.description)]).isEmpty)
            if !exists { try insert(new, now: now) }
            for tag in tags {
                if let previous = try setTag(tag, image: new.configDigest, now: now) { moved.append(MovedTag(reference: tag, previous: previous)) }
            }
            for ref in repoDigests {
                guard let digest = ref.digest else { continue }
                try db.execute("INSERT OR REPLACE INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?)",
                               [.text(ref.name), .text(digest.description), .text(new.configDigest.description)])
            }
        }
        guard let image = try image(id: new.configDigest) else { throw Self.noSuchImage(new.configDigest.description) }
        return (image, moved)
    }

    /// The image's rows: record, layers, and the blobs it references. Inside a write transaction.
    private func insert(_ new: NewImage, now: Double) throws {
        for digest in [new.manifestDigest, new.configDigest] + new.layers.map(\.descriptor.digest) where !content.contains(digest) {
            throw StrataError(.blobUnknown, "blob \(digest) is missing from the content store")
        }
        let created: SQLValue = new.config.created.map { .real($0.timeIntervalSince1970) } ?? .null
        let size = new.layers.reduce(Int64(0)) { $0 + $1.size }
        try db.execute("""
            INSERT INTO images (id, manifest, manifest_media_type, created, size, parent, added) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO NOTHING
            """, [.text(new.configDigest.description), .text(new.manifestDigest.description), .text(new.manifestMediaType.rawValue),
                  created, .integer(size), .text(new.parent?.description ?? ""), .real(now)])
        for layer in new.layers {
            try db.execute("INSERT OR IGNORE INTO layers (digest, diff_id, media_type, size, tar_size) VALUES (?, ?, ?, ?, ?)",
                           [.text(layer.descriptor.digest.description), .text(layer.diffID.description),
                            .text(layer.descriptor.mediaType.rawValue), .integer(layer.size), .integer(layer.tarSize)])
        }
        for digest in Set([new.manifestDigest, new.configDigest] + new.layers.map(\.descriptor.digest)) {
            try db.execute("INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)",
                           [.text(new.configDigest.description), .text(digest.description)])
        }
    }

    /// Points `reference` (tag added if missing) at an image; returns the image it pointed at
    /// before, if another. Runs inside a write transaction.
    @discardableResult
    func setTag(_ reference: Reference, image: Digest, now: Double) throws -> Digest? {
        let name = reference.withDefaultTag.description
        let previous = try db.query("SELECT image_id FROM tags WHERE name = ?", [.text(name)]).first?.string(0)
            .flatMap { try? Digest(parsing: $0) }
        try db.execute("INSERT INTO tags (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                       [.text(name), .text(image.description)])
        try db.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", [.real(now), .text(image.description)])
        return previous == image ? nil : previous
    }

    /// `strata tag SOURCE TARGET`.
    public func tag(_ source: String, as target: String) throws {
        let ref = try Reference(parsing: target)
        guard ref.digest == nil else {
            throw StrataError(.invalidReference, "invalid reference \"\(target)\": a tag target cannot contain a digest")
        }
        let image = try resolve(source)
        try db.write { _ = try setTag(ref, image: image.id, now: Date().timeIntervalSince1970) }
    }
}
