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

extension Engine {
    /// `strata save`: images to a docker-archive or an OCI image layout. A file or directory
    /// target appears only complete: a failed save leaves nothing behind.
    public func save(_ names: [String], format: ImageStore.SaveFormat = .docker, to target: ArchiveTarget) throws {
        guard !names.isEmpty else { throw StrataError(.invalidArgument, "save needs at least one image") }
        let store = try self.store
        switch target {
        case .stream(let fd):
            try store.save(names, format: format, to: FileWriter(fd: fd, path: "standard output"))
        case .file(let path):
            try FileSystem.writeAtomically(path) { try store.save(names, format: format, to: $0) }
        case .directory(let path):
            guard format == .oci else { throw StrataError(.invalidArgument, "only --format oci saves into a directory") }
            let target = path.hasSuffix("/") ? String(path.dropLast()) : path
            if FileSystem.isDirectory(target), !FileSystem.listDirectory(target).isEmpty {
                throw StrataError(.invalidArgument, "\(target) is not empty: save an OCI layout into a new or empty directory")
            }
            let temp = "\(target).tmp-\(getpid())"
            do {
                try store.save(names, toDirectory: temp)
                rmdir(target)
                guard rename(temp, target) == 0 else { throw StrataError.posix("cannot rename \(temp) to \(target)", errno: errno) }
            } catch {
                FileSystem.removeTree(temp)
                throw error
            }
        }
    }

    /// `strata load`: a docker-archive or OCI layout (a tar — plain, gzip or zstd — a directory,
    /// or `-` for standard input). Everything is verified before any blob or name is visible.
    public func load(from input: String) throws -> [ImageStore.LoadedImage] {
        try store.load(from: input)
    }

    /// `strata import`: a root filesystem (a directory, a tar, or `-`) as a one-layer image.
    public func importImage(from path: String, options: ImageStore.ImportOptions = .init()) throws -> ImageStore.Image {
        if options.reference?.digest != nil {
            throw StrataError(.invalidReference, "invalid reference \"\(options.reference!)\": cannot import to a digest")
        }
        return try store.importImage(from: path, options: options)
    }

    /// `strata export` to a target (a stream, or a file renamed into place whole).
    public func export(_ name: String, to target: ArchiveTarget) throws {
        let containers = try self.containers
        switch target {
        case .stream(let fd): try containers.export(name, to: FileWriter(fd: fd, path: "standard output"))
        case .file(let path): try FileSystem.writeAtomically(path) { try containers.export(name, to: $0) }
        case .directory: throw StrataError(.invalidArgument, "export writes a tar: name a file")
        }
    }
}
