import ContentStore
import Foundation
import ImageSpec
import Metadata
import NIOPosix
import ObjectStore

/// `strata registry check`: the registry's storage checked end to end, while the server may keep
/// running. It holds the collection lock (no GC meanwhile) and reads the database in one go;
/// what it repairs, it re-checks inside a write transaction, so a push that commits meanwhile is
/// never undone.
extension RegistryStorage {
    /// Every blob hashed against its name; every manifest, tag and repository link against what is
    /// stored; upload sessions, ingests and a collection left by a killed process. With `repair`,
    /// a damaged blob is set aside (in `damaged/`) and forgotten by the repositories that had it,
    /// so the next push uploads it again; leftovers are removed. A manifest whose blobs are lost
    /// is reported, never deleted: pushing its image again mends it.
    ///
    /// Over an object store every object is read and hashed, as every file is: call it from a
    /// thread that may wait (the bucket's requests are awaited there), never a cooperative task.
    public func check(repair: Bool = false) throws -> StoreCheckReport {
        try checkBlobStore()
        let blobs: any CheckedBlobs = objectStore.map { ObjectStoreBlobs(store: $0) } ?? FileBlobs(content: content)
        let lock = try collectionLock()
        defer { withExtendedLifetime(lock) {} }
        var report = StoreCheckReport(root: root, repair: repair)
        let state = try withDatabase { try CheckedState(db: $0) }
        report.checked.repositories = state.repositories
        report.checked.manifests = state.manifests.count

        // Blobs: each hashed against its name.
        var setAside = Set<Digest>()
        let onDisk = try blobs.list()
        for digest in onDisk {
            report.checked.blobs += 1
            guard let damage = try blobs.damage(of: digest) else { continue }
            let users = state.users(of: digest)
            report.record(.damagedBlob, digest.description, "the blob of \(users) is damaged: \(damage)",
                          would: "--repair sets it aside in damaged/ and forgets it in its repositories; then push what uses it again",
                          did: "set aside in damaged/\(digest.algorithm.rawValue)/\(digest.encoded) and forgotten; push what uses it (\(users)) again") {
                try blobs.setAside(digest)
                try withDatabase { db in
                    try db.write { try db.execute("DELETE FROM repository_blobs WHERE digest = ?", [.text(digest.description)]) }
                }
                setAside.insert(digest)
            }
        }
        let stored = Set(onDisk).subtracting(setAside)

        // Manifests and what they name; tags and what they point at.
        for manifest in state.manifests where !stored.contains(manifest.digest) && !setAside.contains(manifest.digest) {
            report.record(.missingBlob, "\(manifest.repository)@\(manifest.digest)", "the manifest is not stored"
                          + state.tagged(manifest), would: "push \(state.pushable(manifest)) again")
        }
        for reference in state.references where !stored.contains(reference.digest) && !setAside.contains(reference.digest) {
            let manifest = state.manifest(reference.repository, reference.manifest)
            report.record(.missingBlob, reference.digest.description,
                          "manifest \(reference.repository)@\(reference.manifest.short) names this blob, which is not stored"
                          + (manifest.map(state.tagged) ?? ""),
                          would: "push \(manifest.map(state.pushable) ?? "\(reference.repository)@\(reference.manifest)") again")
        }
        for tag in state.tags where state.manifest(tag.repository, tag.digest) == nil {
            report.record(.danglingTag, "\(tag.repository):\(tag.tag)", "the tag points at manifest \(tag.digest.short), which the repository does not have",
                          would: "push \(tag.repository):\(tag.tag) again, or delete the tag")
        }
        for link in state.links where !stored.contains(link.digest) && !setAside.contains(link.digest) && !state.collecting.contains(link.digest) {
            report.record(.staleLink, "\(link.repository) → \(link.digest.short)", "the repository's link to a blob that is no longer stored",
                          would: "--repair forgets it (a HEAD already answers that the blob is unknown)", did: "forgotten") {
                try withDatabase { db in
                    try db.write {
                        try db.execute("DELETE FROM repository_blobs WHERE repository = ? AND digest = ?",
                                       [.text(link.repository), .text(link.digest.description)])
                    }
                }
            }
        }

        // Leftovers of killed processes.
        for digest in state.collecting {
            report.record(.unfinishedCollection, digest.description, "a garbage collection was stopped while it deleted this blob",
                          would: "--repair finishes deleting it (so does the next `strata registry gc`)", did: "deleted, as the collection would have") {
                try blobs.delete(digest)
                try withDatabase { db in try db.write { try db.execute("DELETE FROM gc_deleting WHERE digest = ?", [.text(digest.description)]) } }
            }
        }
        if let objectStore {
            try checkChunkedUploads(state, objectStore, &report)
        } else {
            let files = Set(FileSystem.listDirectory(uploadsDirectory))
            for upload in state.uploads where !files.contains(upload) {
                report.record(.staleUpload, "uploads/\(upload)", "an upload session whose bytes are gone",
                              would: "--repair ends it (its client starts again)", did: "ended") {
                    try withDatabase { db in try db.write { try db.execute("DELETE FROM uploads WHERE id = ?", [.text(upload)]) } }
                }
            }
            let sessions = Set(state.uploads)
            for file in files where !sessions.contains(file) && Self.untouched(for: 60, "\(uploadsDirectory)/\(file)") {
                report.record(.staleUpload, "uploads/\(file)", "the bytes of an upload session that was never recorded (a server killed as it began)",
                              would: "--repair removes them", did: "removed") { unlink("\(uploadsDirectory)/\(file)") }
            }
            for file in content.abandonedIngests() {
                report.record(.staleIngest, String(file.dropFirst(root.count + 1)), "an unfinished write of a process that is gone",
                              would: "--repair removes it", did: "removed") { unlink(file) }
            }
        }

        // Blobs nothing links or names (a server killed between storing one and recording it).
        // Repair decides again inside a write transaction: a push that commits meanwhile keeps its blob.
        let named = state.named
        for digest in stored where !named.contains(digest) {
            report.record(.strayBlob, digest.description, "no repository has this blob (an upload killed before it was recorded)",
                          would: "--repair deletes it (so does `strata registry gc`, after its grace period)", did: "deleted") {
                try withDatabase { db in
                    try db.write {
                        guard try !CheckedState.isNamed(digest, in: db) else { return }
                        try blobs.delete(digest)
                    }
                }
            }
        }
        return report
    }

    /// Sessions over an object store: each chunk's row against its object, and chunk objects no
    /// row names (a replica killed as it wrote one), once a minute old.
    private func checkChunkedUploads(_ state: CheckedState, _ objectStore: S3Client, _ report: inout StoreCheckReport) throws {
        let objects = try Self.waiting { try await objectStore.listAll(prefix: "uploads/") }
        let present = Set(objects.map(\.key))
        let chunks = try withDatabase { db in
            try db.query("SELECT upload, object FROM upload_chunks ORDER BY upload, start").compactMap { row in
                row.string(0).flatMap { upload in row.string(1).map { (upload: upload, object: $0) } }
            }
        }
        for upload in Set(chunks.filter { !present.contains($0.object) }.map(\.upload)).sorted() {
            report.record(.staleUpload, "uploads/\(upload)", "an upload session whose chunks are gone from the bucket",
                          would: "--repair ends it (its client starts again)", did: "ended") {
                try withDatabase { db in
                    try db.write {
                        try db.execute("DELETE FROM upload_chunks WHERE upload = ?", [.text(upload)])
                        try db.execute("DELETE FROM uploads WHERE id = ?", [.text(upload)])
                    }
                }
            }
        }
        for object in Self.strayChunks(objects, named: Set(chunks.map(\.object)), olderThan: 60) {
            report.record(.staleUpload, object.key, "a chunk no upload session recorded (a replica killed as it wrote it)",
                          would: "--repair removes it (so does `strata registry gc`)", did: "removed") {
                try Self.waiting { try await objectStore.delete(object.key) }
            }
        }
    }

    /// `check` from async code: on NIO's thread pool, where waiting for the bucket's answers
    /// holds up no cooperative thread.
    public func checkInBackground(repair: Bool = false) async throws -> StoreCheckReport {
        try await NIOThreadPool.singleton.runIfActive { try self.check(repair: repair) }
    }

    private static func untouched(for seconds: Int64, _ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && Int64(st.st_mtim.tv_sec) < now - seconds
    }
}

/// Where a check finds the blobs: the content store's files, or the bucket's objects.
private protocol CheckedBlobs {
    func list() throws -> [Digest]
    /// What is wrong with the blob's bytes, or nil.
    func damage(of digest: Digest) throws -> String?
    /// Moved to `damaged/ALGORITHM/ENCODED`, out of every lookup.
    func setAside(_ digest: Digest) throws
    func delete(_ digest: Digest) throws
}

private struct FileBlobs: CheckedBlobs {
    let content: ContentStore
    func list() throws -> [Digest] { content.list() }
    func damage(of digest: Digest) throws -> String? { try content.condition(of: digest).damage }
    func setAside(_ digest: Digest) throws { _ = try content.setAside(digest) }
    func delete(_ digest: Digest) throws { content.delete(digest) }
}

/// Each object is downloaded and hashed as it streams; nothing is written locally.
private struct ObjectStoreBlobs: CheckedBlobs {
    let store: S3Client

    func list() throws -> [Digest] {
        try RegistryStorage.waiting { try await store.listAll(prefix: "blobs/") }.compactMap { RegistryStorage.blobDigest(key: $0.key) }
    }

    func damage(of digest: Digest) throws -> String? {
        let key = RegistryStorage.objectKey(digest)
        let actual = try RegistryStorage.waiting { () -> Digest in
            var digester = Digester(digest.algorithm)
            let (_, body) = try await store.get(key)
            for try await buffer in body { buffer.withUnsafeReadableBytes { digester.update($0) } }
            return digester.finalize()
        }
        return actual == digest ? nil : "its bytes hash to \(actual)"
    }

    func setAside(_ digest: Digest) throws {
        let key = RegistryStorage.objectKey(digest)
        try RegistryStorage.waiting {
            try await store.copy(key, to: "damaged/\(digest.algorithm.rawValue)/\(digest.encoded)")
            try await store.delete(key)
        }
    }

    func delete(_ digest: Digest) throws {
        try RegistryStorage.waiting { try await store.delete(RegistryStorage.objectKey(digest)) }
    }
}

/// The registry database as one check reads it.
private struct CheckedState {
    struct Manifest { var repository: String; var digest: Digest }
    struct Reference { var repository: String; var manifest: Digest; var digest: Digest }
    struct Tag { var repository: String; var tag: String; var digest: Digest }
    struct Link { var repository: String; var digest: Digest }

    var repositories = 0
    var manifests: [Manifest] = []
    var references: [Reference] = []
    var tags: [Tag] = []
    var links: [Link] = []
    var uploads: [String] = []
    var collecting: Set<Digest> = []

    init(db: any SQLDatabase) throws {
        func digest(_ row: Row, _ column: Int) -> Digest? { row.string(column).flatMap { try? Digest(parsing: $0) } }
        repositories = Int(try db.query("SELECT count(*) FROM repositories").first?.int(0) ?? 0)
        manifests = try db.query("SELECT repository, digest FROM manifests ORDER BY repository, digest").compactMap { row in
            digest(row, 1).map { Manifest(repository: row.string(0) ?? "", digest: $0) }
        }
        references = try db.query("SELECT repository, manifest, digest FROM manifest_references ORDER BY repository, manifest").compactMap { row in
            guard let manifest = digest(row, 1), let blob = digest(row, 2) else { return nil }
            return Reference(repository: row.string(0) ?? "", manifest: manifest, digest: blob)
        }
        tags = try db.query("SELECT repository, tag, digest FROM tags ORDER BY repository, tag").compactMap { row in
            digest(row, 2).map { Tag(repository: row.string(0) ?? "", tag: row.string(1) ?? "", digest: $0) }
        }
        links = try db.query("SELECT repository, digest FROM repository_blobs ORDER BY repository, digest").compactMap { row in
            digest(row, 1).map { Link(repository: row.string(0) ?? "", digest: $0) }
        }
        uploads = try db.query("SELECT id FROM uploads").compactMap { $0.string(0) }
        collecting = Set(try db.query("SELECT digest FROM gc_deleting").compactMap { digest($0, 0) })
    }

    /// Whether any repository links, or any manifest is or names, `digest`: the one rule for a stray blob.
    static func isNamed(_ digest: Digest, in db: any SQLDatabase) throws -> Bool {
        let d = SQLValue.text(digest.description)
        return try !db.query("""
            SELECT 1 FROM repository_blobs WHERE digest = ?1 UNION ALL SELECT 1 FROM manifests WHERE digest = ?1
            UNION ALL SELECT 1 FROM manifest_references WHERE digest = ?1 UNION ALL SELECT 1 FROM gc_deleting WHERE digest = ?1 LIMIT 1
            """, [d]).isEmpty
    }

    var named: Set<Digest> {
        Set(links.map(\.digest)).union(manifests.map(\.digest)).union(references.map(\.digest)).union(collecting)
    }

    func manifest(_ repository: String, _ digest: Digest) -> Manifest? {
        manifests.first { $0.repository == repository && $0.digest == digest }
    }

    /// Which repositories have a blob, or name it in a manifest: what a damaged blob belongs to.
    func users(of digest: Digest) -> String {
        let names = Set(links.filter { $0.digest == digest }.map(\.repository) + references.filter { $0.digest == digest }.map(\.repository)
                        + manifests.filter { $0.digest == digest }.map(\.repository))
        return names.isEmpty ? "no repository" : names.sorted().joined(separator: ", ")
    }

    /// `(tagged a:1, a:2)` for a manifest with tags.
    func tagged(_ manifest: Manifest) -> String {
        let names = tags.filter { $0.repository == manifest.repository && $0.digest == manifest.digest }.map { "\($0.repository):\($0.tag)" }
        return names.isEmpty ? "" : " (tagged \(names.joined(separator: ", ")))"
    }

    /// What to push again to mend a manifest: one of its tags, or its digest.
    func pushable(_ manifest: Manifest) -> String {
        tags.first { $0.repository == manifest.repository && $0.digest == manifest.digest }.map { "\($0.repository):\($0.tag)" }
            ?? "\(manifest.repository)@\(manifest.digest)"
    }
}
