import Archive
import Foundation
import ImageSpec
import Registry

/// Writes an image as an OCI image layout (a directory, added to any images already there, or a
/// tar) or as a docker-archive. Archives are assembled in a temp directory and renamed into place
/// whole; in a layout directory, blobs land by verified rename and `index.json` is replaced last.
public final class LayoutDestination: ImageDestination, @unchecked Sendable {
    public enum Format: Sendable { case ociLayout, ociArchive, dockerArchive }

    public let name: String
    let format: Format
    let target: String
    let reference: String?
    let work: String
    private let lock = NSLock()
    /// docker-archive: layer index → file name of its uncompressed tar.
    private var layerFiles: [Int: String] = [:]
    private var diffIDs: [Digest] = []

    public init(format: Format, path: String, reference: String?) throws {
        self.format = format
        target = path
        self.reference = reference
        switch format {
        case .ociLayout:
            name = "oci:\(path)"
            work = path
        case .ociArchive, .dockerArchive:
            name = "\(format == .ociArchive ? "oci-archive" : "docker-archive"):\(path)"
            work = "\(Transcoder.temporaryDirectory)/strata-out-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        }
        try FileSystem.createDirectory("\(work)/blobs/sha256")
    }

    func blobPath(_ digest: Digest) -> String { "\(work)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    public func begin(_ plan: ImagePlan) async throws { diffIDs = plan.diffIDs }

    public func status(of blob: Descriptor) async throws -> BlobStatus {
        format != .dockerArchive && FileSystem.exists(blobPath(blob.digest)) ? .present : .missing
    }

    public func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
                      progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus {
        let temp = "\(work)/.tmp-\(UInt64.random(in: 0...UInt64.max))"
        let docker = format == .dockerArchive
        let diffID = layer.map { diffIDs[$0] }
        let final: String
        if docker, let diffID {
            final = "\(work)/\(diffID.encoded).tar"  // docker-archive layers are plain tars
        } else {
            final = blobPath(blob.digest)
        }
        try await withReader(content, progress: progress) { reader in
            do {
                let file = try FileWriter(path: temp, mode: 0o644, exclusive: true)
                let verified = DigestingReader(reader)
                if docker, let diffID {
                    let tar = DigestingWriter(file)
                    try Codecs.decompressing(verified, as: blob.mediaType.layerCompression ?? .none).copy(to: tar)
                    try verified.copy(to: NullWriter())
                    guard tar.digest() == diffID else {
                        throw StrataError(.digestMismatch, "layer diff ID mismatch: expected \(diffID), got \(tar.digest())")
                    }
                } else {
                    try verified.copy(to: file)
                }
                try file.sync()
                guard verified.digest() == blob.digest, verified.count == blob.size else {
                    throw StrataError(.digestMismatch, "blob digest mismatch: expected \(blob.digest), got \(verified.digest())")
                }
                guard rename(temp, final) == 0 else { throw StrataError.posix("cannot store \(final)", errno: errno) }
            } catch {
                unlink(temp)
                throw error
            }
        }
        if docker, let layer, let diffID { lock.withLock { layerFiles[layer] = "\(diffID.encoded).tar" } }
        return .written
    }

    public func finish(_ plan: ImagePlan) async throws -> Digest {
        switch format {
        case .ociLayout, .ociArchive:
            try FileSystem.writeAtomically(blobPath(plan.manifest.digest), plan.manifest.bytes)
            try writeIndex(plan)
            if format == .ociArchive { try archive() }
        case .dockerArchive:
            try FileSystem.writeAtomically("\(work)/\(plan.parsed.config.digest.encoded).json", plan.configBytes)
            FileSystem.removeTree("\(work)/blobs")
            struct Entry: Encodable {
                var Config: String
                var RepoTags: [String]?
                var Layers: [String]
            }
            let tags = try reference.map { [try Reference(parsing: $0).withDefaultTag.familiarString] }
            let entry = Entry(Config: "\(plan.parsed.config.digest.encoded).json", RepoTags: tags,
                              Layers: plan.parsed.layers.indices.map { "\(plan.diffIDs[$0].encoded).tar" })
            try FileSystem.writeAtomically("\(work)/manifest.json", Array(try JSONCoding.encoder.encode([entry])))
            try archive()
        }
        return plan.manifest.digest
    }

    /// Adds the manifest to `index.json`, replacing an older image of the same name.
    private func writeIndex(_ plan: ImagePlan) throws {
        try FileSystem.writeAtomically("\(work)/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        var index = Index(mediaType: .ociIndex, manifests: [])
        if FileSystem.exists("\(work)/index.json") {
            index = try JSONCoding.decode(Index.self, from: Data(try FileSystem.readFile("\(work)/index.json")), what: "\(name): index.json")
        }
        var descriptor = Descriptor(mediaType: plan.manifest.mediaType, digest: plan.manifest.digest, size: Int64(plan.manifest.bytes.count))
        descriptor.platform = plan.config.platform
        if let reference {
            descriptor.annotations = [AnnotationKey.refName: reference]
            index.manifests.removeAll { $0.annotations?[AnnotationKey.refName] == reference }
        }
        index.manifests.append(descriptor)
        try FileSystem.writeAtomically("\(work)/index.json", Array(try JSONCoding.encoder.encode(index)))
    }

    /// Tars the work directory into the target file (through a temp file renamed into place).
    private func archive() throws {
        defer { FileSystem.removeTree(work) }
        let temp = "\(target).tmp-\(getpid())"
        do {
            let file = try FileWriter(path: temp, exclusive: true)
            let tar = TarWriter(file)
            func add(_ relative: String) throws {
                let full = relative.isEmpty ? work : "\(work)/\(relative)"
                for name in FileSystem.listDirectory(full).sorted() where !name.hasPrefix(".tmp-") {
                    let child = relative.isEmpty ? name : "\(relative)/\(name)"
                    if FileSystem.isDirectory("\(work)/\(child)") {
                        try tar.append(TarHeader(name: BytePath(child + "/"), kind: .directory, mode: 0o755), body: nil)
                        try add(child)
                    } else {
                        let reader = try FileReader(path: "\(work)/\(child)")
                        try tar.append(TarHeader(name: BytePath(child), kind: .regular, mode: 0o644, size: reader.size), body: reader)
                    }
                }
            }
            try add("")
            try tar.finish()
            try file.sync()
            guard rename(temp, target) == 0 else { throw StrataError.posix("cannot write \(target)", errno: errno) }
        } catch {
            unlink(temp)
            throw error
        }
    }

    public func abort() {
        if format != .ociLayout { FileSystem.removeTree(work) }
    }
}
