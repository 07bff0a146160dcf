import Archive
import Foundation
import ImageSpec
import Registry

/// An image in an OCI image layout (a directory, or a tar unpacked to a temp directory first) or
/// in a docker-archive, whose layers are described by a manifest made for them.
public final class LayoutSource: ImageSource, @unchecked Sendable {
    public let name: String
    let root: String
    let temporary: Bool
    private var rootBlob: ManifestBlob!
    /// docker-archive: blob digest → file.
    private var files: [Digest: String] = [:]

    public static func ociLayout(_ directory: String, reference: String?) throws -> LayoutSource {
        let source = LayoutSource(name: "oci:\(directory)", root: directory, temporary: false)
        try source.readIndex(reference: reference)
        return source
    }

    public static func ociArchive(_ file: String, reference: String?) throws -> LayoutSource {
        let source = LayoutSource(name: "oci-archive:\(file)", root: try extract(file), temporary: true)
        do { try source.readIndex(reference: reference) } catch { source.close(); throw error }
        return source
    }

    public static func dockerArchive(_ file: String, reference: String?) throws -> LayoutSource {
        let source = LayoutSource(name: "docker-archive:\(file)", root: try extract(file), temporary: true)
        do { try source.readDockerManifest(reference: reference) } catch { source.close(); throw error }
        return source
    }

    private init(name: String, root: String, temporary: Bool) {
        self.name = name
        self.root = root
        self.temporary = temporary
    }

    public func close() { if temporary { FileSystem.removeTree(root) } }

    func path(_ digest: Digest) -> String {
        files[digest] ?? "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    private func readIndex(reference: String?) throws {
        guard FileSystem.exists("\(root)/index.json") else {
            throw StrataError(.invalidArchive, "\(name) is not an OCI image layout: it has no index.json")
        }
        let index = try JSONCoding.decode(Index.self, from: Data(try FileSystem.readFile("\(root)/index.json")), what: "\(name): index.json")
        let chosen: Descriptor
        if let reference {
            guard let match = index.manifests.first(where: {
                $0.annotations?[AnnotationKey.refName] == reference || $0.annotations?[AnnotationKey.imageName] == reference
            }) else {
                let names = index.manifests.compactMap { $0.annotations?[AnnotationKey.refName] }
                throw StrataError(.imageUnknown, "\(name) has no image named \"\(reference)\"\(names.isEmpty ? "" : " (it has: \(names.joined(separator: ", ")))")")
            }
            chosen = match
        } else {
            guard index.manifests.count == 1 else {
                throw StrataError(.ambiguous, index.manifests.isEmpty ? "\(name) holds no image"
                    : "\(name) holds \(index.manifests.count) images: name one, as \(name):REF")
            }
            chosen = index.manifests[0]
        }
        rootBlob = ManifestBlob(bytes: try read(chosen), mediaType: chosen.mediaType, digest: chosen.digest)
    }

    private func readDockerManifest(reference: String?) throws {
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        guard FileSystem.exists("\(root)/manifest.json") else {
            throw StrataError(.invalidArchive, "\(name) is not a docker-archive: it has no manifest.json")
        }
        let entries = try JSONCoding.decode([Entry].self, from: Data(try FileSystem.readFile("\(root)/manifest.json")), what: "\(name): manifest.json")
        let entry: Entry
        if let reference {
            let wanted = (try? Reference(parsing: reference))?.withDefaultTag
            guard let match = entries.first(where: { ($0.RepoTags ?? []).contains { (try? Reference(parsing: $0))?.withDefaultTag == wanted } }) else {
                throw StrataError(.imageUnknown, "\(name) has no image tagged \(reference)")
            }
            entry = match
        } else {
            guard entries.count == 1 else {
                throw StrataError(.ambiguous, "\(name) holds \(entries.count) images: name one, as \(name):NAME:TAG")
            }
            entry = entries[0]
        }
        let config = try describeFile(entry.Config) { _ in .ociConfig }
        let layers = try entry.Layers.map { try describeFile($0) { .layer($0) } }
        let manifest = Manifest(mediaType: .ociManifest, config: config, layers: layers)
        let bytes = Array(try JSONCoding.encoder.encode(manifest))
        rootBlob = ManifestBlob(bytes: bytes, mediaType: .ociManifest, digest: Digest.sha256(of: bytes))
    }

    /// Hashes a file of the archive and records it by digest.
    private func describeFile(_ relative: String, mediaType: (Compression) -> MediaType) throws -> Descriptor {
        let file = "\(root)/\(Self.normalize(relative))"
        let reader = try FileReader(path: file)
        let peek = PeekableReader(reader)
        let compression = Compression.detect(try peek.peek(4))
        let digesting = DigestingReader(peek)
        try digesting.copy(to: NullWriter())
        let digest = digesting.digest()
        files[digest] = file
        return Descriptor(mediaType: mediaType(compression), digest: digest, size: digesting.count)
    }

    /// Reads a small blob and checks it against its descriptor.
    private func read(_ descriptor: Descriptor) throws -> [UInt8] {
        let file = path(descriptor.digest)
        guard FileSystem.exists(file) else {
            throw StrataError(.blobUnknown, "\(name): blob \(descriptor.digest) is referenced but missing")
        }
        let bytes = try FileSystem.readFile(file, limit: 64 << 20)
        let actual = Digest.sha256(of: bytes)
        guard actual == descriptor.digest else {
            throw StrataError(.digestMismatch, "\(name): blob \(descriptor.digest) is corrupt (its digest is \(actual))")
        }
        return bytes
    }

    public func rootManifest() async throws -> ManifestBlob { rootBlob }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestBlob {
        ManifestBlob(bytes: try read(descriptor), mediaType: descriptor.mediaType, digest: descriptor.digest)
    }

    public func blobBytes(_ descriptor: Descriptor) async throws -> [UInt8] { try read(descriptor) }

    public func blob(_ descriptor: Descriptor) async throws -> BlobContent {
        let file = path(descriptor.digest)
        guard FileSystem.exists(file) else {
            throw StrataError(.blobUnknown, "\(name): blob \(descriptor.digest) is referenced but missing")
        }
        return .file(file)
    }

    static func normalize(_ path: String) -> String { PathString.normalizedMember(path) }

    /// Unpacks an archive's regular files (never links, never outside) into a temp directory.
    static func extract(_ file: String) throws -> String {
        let directory = "\(Transcoder.temporaryDirectory)/strata-archive-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileSystem.createDirectory(directory, mode: 0o700)
        do {
            let (reader, _) = try Codecs.decompressing(try FileReader(path: file))
            let tar = TarReader(reader)
            while let header = try tar.next() {
                let relative = normalize(String(decoding: header.name, as: UTF8.self))  // spec-named members: text
                guard header.kind == .regular, !relative.isEmpty else { continue }
                let target = "\(directory)/\(relative)"
                try FileSystem.createDirectory(PathString(target).deletingLastComponent)
                let writer = try FileWriter(path: target, mode: 0o600)
                try tar.bodyReader.copy(to: writer)
                try writer.finish()
            }
            return directory
        } catch let error as StrataError {
            FileSystem.removeTree(directory)
            throw StrataError(error.code, "\(file): \(error.message)")
        }
    }
}
