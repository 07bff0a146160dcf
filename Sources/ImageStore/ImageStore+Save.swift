import Foundation
import ImageSpec
import Archive
import ContentStore

extension ImageStore {
    public enum SaveFormat: String, Sendable, CaseIterable {
        /// `docker save`'s layout: manifest.json, repositories, `<config>.json`, `<layer>/layer.tar`.
        case docker
        /// An OCI image layout: oci-layout, index.json, blobs/sha256/….
        case oci
    }

    private struct SaveItem {
        var image: Image
        var names: [Reference]
    }

    /// Resolves what to save; each image once, with every name it was asked for by.
    private func saveItems(_ inputs: [String]) throws -> [SaveItem] {
        var items: [SaveItem] = []
        for input in inputs {
            let (image, name) = try lookup(input)
            let tag = name.flatMap { $0.digest == nil ? $0 : nil }
            if let i = items.firstIndex(where: { $0.image.id == image.id }) {
                if let tag, !items[i].names.contains(tag) { items[i].names.append(tag) }
            } else {
                items.append(SaveItem(image: image, names: tag.map { [$0] } ?? []))
            }
        }
        return items
    }

    /// `strata save` to a tar stream.
    public func save(_ inputs: [String], format: SaveFormat, to sink: ByteWriter) throws {
        let items = try saveItems(inputs)
        let tar = TarLayoutSink(sink)
        try write(items, format: format, into: tar)
        try tar.finish()
    }

    /// `strata save --format oci` into a directory: an OCI image layout on disk.
    public func save(_ inputs: [String], toDirectory directory: String) throws {
        let items = try saveItems(inputs)
        try write(items, format: .oci, into: try DirectoryLayoutSink(root: directory))
    }

    private func write(_ items: [SaveItem], format: SaveFormat, into sink: LayoutSink) throws {
        switch format {
        case .docker: try writeDockerArchive(items, into: sink)
        case .oci: try writeOCILayout(items, into: sink)
        }
    }

    private func writeDockerArchive(_ items: [SaveItem], into sink: LayoutSink) throws {
        struct Entry: Encodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        var entries: [Entry] = []
        var repositories: [String: [String: String]] = [:]
        var written: Set<Digest> = []
        for item in items {
            let layers = try self.layers(of: item.image)
            var paths: [String] = []
            for layer in layers {
                let dir = layer.diffID.encoded
                paths.append("\(dir)/layer.tar")
                guard written.insert(layer.diffID).inserted else { continue }
                try sink.addDirectory(dir)
                // docker-archive layers are the uncompressed tars, whatever the store keeps.
                let compression = layer.descriptor.mediaType.layerCompression ?? .none
                let reader = try Codecs.decompressing(try content.open(layer.descriptor.digest), as: compression)
                try sink.addFile("\(dir)/layer.tar", size: layer.tarSize, from: reader)
            }
            let configName = "\(item.image.id.encoded).json"
            try sink.addFile(configName, bytes: try content.read(item.image.id))
            let tags = item.names.map(\.familiarString)
            entries.append(Entry(Config: configName, RepoTags: tags.isEmpty ? nil : tags, Layers: paths))
            if let top = layers.last {
                for name in item.names { repositories[name.familiarName, default: [:]][name.tag ?? "latest"] = top.diffID.encoded }
            }
        }
        try sink.addFile("manifest.json", bytes: Array(try JSONCoding.encoder.encode(entries)))
        if !repositories.isEmpty {
            try sink.addFile("repositories", bytes: Array(try JSONCoding.encoder.encode(repositories)))
        }
    }

    private func writeOCILayout(_ items: [SaveItem], into sink: LayoutSink) throws {
        try sink.addFile("oci-layout", bytes: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        var written: Set<Digest> = []
        var manifests: [Descriptor] = []
        try sink.addDirectory("blobs")
        try sink.addDirectory("blobs/sha256")
        func blob(_ digest: Digest) throws {
            guard written.insert(digest).inserted else { return }
            guard let size = content.size(of: digest) else {
                throw StrataError(.blobUnknown, "blob \(digest) is missing from the content store")
            }
            try sink.addFile(Self.blobPath(digest), size: size, from: try content.open(digest))
        }
        for item in items {
            let manifest = try self.manifest(of: item.image)
            try blob(manifest.config.digest)
            for layer in manifest.layers { try blob(layer.digest) }
            var manifestDescriptor: Descriptor
            if item.image.manifestMediaType == .dockerManifest {
                // OCI tools (umoci, skopeo's oci: transport) want OCI manifests in an OCI layout:
                // the same config and layers, described with OCI media types.
                let converted = Manifest(mediaType: .ociManifest,
                                         config: Descriptor(mediaType: .ociConfig, digest: manifest.config.digest, size: manifest.config.size),
                                         layers: manifest.layers.map { layer in
                                             var l = layer
                                             l.mediaType = .layer(layer.mediaType.layerCompression ?? .none)
                                             return l
                                         }, annotations: manifest.annotations)
                let bytes = Array(try JSONCoding.encoder.encode(converted))
                let digest = Digest.sha256(of: bytes)
                if written.insert(digest).inserted { try sink.addFile(Self.blobPath(digest), bytes: bytes) }
                manifestDescriptor = Descriptor(mediaType: .ociManifest, digest: digest, size: Int64(bytes.count))
            } else {
                try blob(item.image.manifestDigest)
                manifestDescriptor = Descriptor(mediaType: item.image.manifestMediaType, digest: item.image.manifestDigest,
                                                size: content.size(of: item.image.manifestDigest) ?? 0)
            }
            manifestDescriptor.platform = try self.config(of: item.image).config.platform
            var base = manifestDescriptor
            if item.names.isEmpty {
                manifests.append(base)
            }
            for name in item.names {
                base.annotations = [AnnotationKey.imageName: name.description, AnnotationKey.refName: name.tag ?? "latest"]
                manifests.append(base)
            }
        }
        let index = Index(mediaType: .ociIndex, manifests: manifests)
        try sink.addFile("index.json", bytes: Array(try JSONCoding.encoder.encode(index)))
    }
}
