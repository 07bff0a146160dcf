import Foundation

/// Where `save` and `export` write.
public enum ArchiveTarget: Sendable {
    /// A stream (standard output): written as it is made.
    case stream(Int32)
    /// A file, written beside and renamed into place whole.
    case file(String)
    /// An OCI image layout directory (new or empty), made beside and renamed into place whole.
    case directory(String)
}

extension ArchiveTarget {
    /// A path that is a device or a pipe (`/dev/null`, a FIFO, `/dev/stdout`) is written to as it
    /// is: renaming a finished file over it would replace the device itself. Returns the target
    /// to write and the descriptor to close after.
    func opened() throws -> (target: ArchiveTarget, descriptor: Int32?) {
        guard case .file(let path) = self else { return (self, nil) }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) != S_IFREG, (status.st_mode & S_IFMT) != S_IFDIR else { return (self, nil) }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StrataError.posix("cannot open \(path) for writing", errno: errno) }
        return (.stream(fd), fd)
    }
}

/// What `strata save` writes.
public enum SaveFormat: String, Sendable, CaseIterable {
    /// `docker save`'s layout: manifest.json, repositories, `<config>.json`, `<diff ID>/layer.tar`.
    case docker
    /// An OCI image layout: oci-layout, index.json, blobs/sha256/….
    case oci
}

/// An image `load` put in the store, with the names it took.
public struct LoadedImage: Sendable {
    public var image: ImageStore.Image
    public var tags: [Reference]
    /// Names that pointed at another image before this load took them.
    public var moved: [ImageStore.MovedTag]
}

extension Engine {
    /// `strata save`: images to a docker-archive or an OCI image layout, through the one
    /// transfer pipeline: each image is copied from the store into one archive, blobs they share
    /// written once. A file or directory target appears only complete: a failed save leaves
    /// nothing behind.
    public func save(_ names: [String], format: SaveFormat = .docker, to requested: ArchiveTarget) async throws {
        guard !names.isEmpty else { throw StrataError(.invalidArgument, "save needs at least one image") }
        let (target, descriptor) = try requested.opened()
        defer { if let descriptor { close(descriptor) } }
        let store = try self.store
        // Each image once, with every name it was asked for by.
        var items: [(image: ImageStore.Image, names: [Reference])] = []
        for name in names {
            let (image, reference) = try store.lookup(name)
            let tag = reference.flatMap { $0.digest == nil ? $0 : nil }
            if let i = items.firstIndex(where: { $0.image.id == image.id }) {
                if let tag, !items[i].names.contains(tag) { items[i].names.append(tag) }
            } else {
                items.append((image, tag.map { [$0] } ?? []))
            }
        }
        let layout: LayoutDestination.Format = format == .oci ? .ociArchive : .dockerArchive
        var temporaryDirectory: String?
        let destination: LayoutDestination
        switch target {
        case .stream(let fd):
            destination = LayoutDestination(format: layout, stream: FileWriter(fd: fd, path: "standard output"), name: "standard output")
        case .file(let path):
            destination = try LayoutDestination(format: layout, path: path, reference: nil)
        case .directory(let path):
            guard format == .oci else { throw StrataError(.invalidArgument, "only --format oci saves into a directory") }
            let target = path.hasSuffix("/") ? String(path.dropLast()) : path
            if FileSystem.isDirectory(target), !FileSystem.listDirectory(target).isEmpty {
                throw StrataError(.invalidArgument, "\(target) is not empty: save an OCI layout into a new or empty directory")
            }
            temporaryDirectory = "\(target).tmp-\(getpid())"
            destination = try LayoutDestination(format: .ociLayout, path: temporaryDirectory!, reference: nil)
        }
        do {
            for item in items {
                destination.names = item.names
                let source = StoreSource(store: store, image: item.image, name: item.names.first?.familiarString ?? item.image.id.short)
                _ = try await Copier.copy(from: source, to: destination)
            }
            try destination.close()
            if let temporaryDirectory, case .directory(let path) = target {
                let final = path.hasSuffix("/") ? String(path.dropLast()) : path
                rmdir(final)
                guard rename(temporaryDirectory, final) == 0 else {
                    throw StrataError.posix("cannot rename \(temporaryDirectory) to \(final)", errno: errno)
                }
            }
        } catch {
            destination.abort()
            if let temporaryDirectory { FileSystem.removeTree(temporaryDirectory) }
            throw error
        }
    }

    /// `strata load`: a docker-archive or OCI layout (a tar — plain, gzip or zstd — a directory,
    /// or `-` for standard input), read once, through the one transfer pipeline. Every image of
    /// the archive is verified — digests, sizes, diff IDs — before any blob or name is visible;
    /// large files are staged as ingests of the store, so nothing is copied twice.
    public func load(from input: String) async throws -> [LoadedImage] {
        let store = try self.store
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let archive = try await LayoutArchive.reading(input, staging: store.content)
        defer { archive.close() }
        var destinations: [StoreDestination] = []
        for (i, entry) in archive.images.enumerated() {
            let destination = try StoreDestination(store: store, snapshotter: nil, tags: entry.names, repository: nil, deferred: true)
            _ = try await Copier.copy(from: archive.source(i), to: destination)
            destinations.append(destination)
        }
        // Everything checked out: the blobs, then the records, image by image.
        var loaded: [LoadedImage] = []
        for destination in destinations {
            try destination.publish()
            guard let image = destination.image else { continue }
            loaded.append(LoadedImage(image: image, tags: destination.tags, moved: destination.moved))
        }
        return loaded
    }

    /// `strata import`: a root filesystem (a directory, a tar, or `-`) as a one-layer image.
    public func importImage(from path: String, options: ImageStore.ImportOptions = .init()) throws -> ImageStore.Image {
        if options.reference?.digest != nil {
            throw StrataError(.invalidReference, "invalid reference \"\(options.reference!)\": cannot import to a digest")
        }
        return try store.importImage(from: path, options: options)
    }

    /// `strata export` to a target (a stream, or a file renamed into place whole).
    public func export(_ name: String, to requested: ArchiveTarget) throws {
        let containers = try self.containers
        let (target, descriptor) = try requested.opened()
        defer { if let descriptor { close(descriptor) } }
        switch target {
        case .stream(let fd): try containers.export(name, to: FileWriter(fd: fd, path: "standard output"))
        case .file(let path): try FileSystem.writeAtomically(path) { try containers.export(name, to: $0) }
        case .directory: throw StrataError(.invalidArgument, "export writes a tar: name a file")
        }
    }
}
