import Archive
import Dockerfile
import Foundation
import ImageSpec
import ImageStore
import Runtime
import Snapshots
#if canImport(Glibc)
import Glibc
#endif

extension Builder {
    /// COPY and ADD: one layer holding the sources at the destination. Sources are context paths
    /// and globs, another stage's (or image's) files with `--from`, heredocs, and for ADD URLs
    /// (downloaded, `--checksum` verified) and local archives (unpacked). The cache key covers
    /// each file's bytes and mode and the ownership flags, never an mtime.
    func copyStep(_ instruction: Instruction, _ arguments: CopyArguments, state: inout StageState, run: inout BuildRun) async throws {
        let what = instruction.keyword
        let location = run.at(instruction)
        let vars = state.variables
        let expander = run.expander
        let expand = { (word: String) throws -> String in try expander.expand(word, lookup: { vars[$0] }).value }
        let sources = try arguments.sources.map(expand)
        if arguments.parents {
            throw StrataError(.buildFailed, "\(location): \(what) --parents is not supported by this builder yet")
        }
        let rawDestination = try expand(arguments.destination)
        let workdir = state.config.config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        // "dir/", ".", "dir/." name a directory; the path is cleaned and made absolute against WORKDIR.
        let namesDirectory = rawDestination.hasSuffix("/") || rawDestination == "." || rawDestination.hasSuffix("/.")
        let absoluteDestination = rawDestination.hasPrefix("/") ? rawDestination : "\(workdir)/\(rawDestination)"
        var destination = "/" + (BuildContext.clean(absoluteDestination) ?? "")
        if namesDirectory && destination != "/" { destination += "/" }
        let excludes = try arguments.excludes.map(expand)
        /// `--exclude` patterns match a path relative to the context (or stage root) or to the
        /// copied directory, as BuildKit applies them to each source.
        func isExcluded(_ relative: String) -> Bool {
            excludes.contains { fnmatch($0, relative, FNM_PATHNAME) == 0 || fnmatch($0 + "/*", relative, 0) == 0 }
        }

        var layer = CopyLayer()
        layer.epoch = run.epoch ?? 0
        if let chmod = arguments.chmod {
            guard let mode = UInt32(try expand(chmod), radix: 8), mode <= 0o7777 else {
                throw StrataError(.buildFailed, "\(location): --chmod=\(chmod): not an octal mode")
            }
            layer.chmod = mode
        }
        var cleanups: [() -> Void] = []
        defer { for cleanup in cleanups.reversed() { cleanup() } }
        if let chown = arguments.chown {
            let spec = try expand(chown)
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            if let uid = Int(parts[0]), parts.count == 1 || Int(parts[1]) != nil {
                layer.owner = (uid, parts.count > 1 ? Int(parts[1])! : uid)
            } else {
                // Names are the image's: looked up in its /etc/passwd and /etc/group.
                guard let image = state.image else {
                    throw StrataError(.buildFailed, "\(location): --chown=\(spec): a stage FROM scratch has no /etc/passwd to look names up in")
                }
                let mounted = try mountReadOnly(image)
                defer { mounted.release() }
                do {
                    let owner = try Users.owner(spec, rootfs: mounted.root)
                    layer.owner = (Int(owner.uid), Int(owner.gid))
                } catch let e as StrataError {
                    throw StrataError(.buildFailed, "\(location): --chown=\(spec): \(e.message)")
                }
            }
        }

        var items: [CopyLayer.Item] = []
        let walk: (String) throws -> [String]
        if let from = arguments.from {
            let name = try expand(from)
            let image: ImageStore.Image
            do { image = try await resolveFrom(name, run: run) } catch let e as StrataError {
                throw StrataError(.buildFailed, "\(location): \(what) --from=\(name): \(e.message)")
            }
            let mounted = try mountReadOnly(image)
            cleanups.append(mounted.release)
            var all: [String]?
            for source in sources {
                guard let path = BuildContext.clean(source) else { continue }
                var matches = [path]
                if path.contains(where: { "*?[".contains($0) }) {
                    all = all ?? Self.walkAll(mounted.root)
                    matches = all!.filter { fnmatch(path, $0, FNM_PATHNAME) == 0 }
                    matches = matches.filter { m in !matches.contains { m.hasPrefix($0 + "/") } }
                }
                for match in matches where !isExcluded(match) {
                    let full = match.isEmpty ? mounted.root : "\(mounted.root)/\(match)"
                    var st = stat()
                    guard lstat(full, &st) == 0 else {
                        throw StrataError(.buildFailed, "\(location): \(what) failed: stat /\(match): file does not exist in \(name)")
                    }
                    items.append(CopyLayer.Item(source: .path(full), destination: "", display: "\(name):/\(match)"))
                }
                if matches.isEmpty {
                    throw StrataError(.buildFailed, "\(location): \(what) failed: no source files were specified (\"\(source)\" matches nothing in \(name))")
                }
            }
            walk = { dir in Self.walkAll(dir).filter { !isExcluded($0) } }
        } else {
            for source in sources {
                if what == "ADD", source.hasPrefix("http://") || source.hasPrefix("https://") {
                    let (path, fileName) = try await download(source, checksum: try arguments.checksum.map(expand), location: location)
                    cleanups.append { unlink(path) }
                    items.append(CopyLayer.Item(source: .path(path), destination: fileName, display: source))
                    continue
                }
                if source.contains("://") || source.hasPrefix("git@") {
                    throw StrataError(.buildFailed, "\(location): \(what) \(source): only http and https URLs can be fetched (git sources are not supported)")
                }
                do {
                    for path in try run.context.resolve(source, what: what) where !isExcluded(path) {
                        let absolute = run.context.absolute(path)
                        let unpack = what == "ADD" && !FileSystem.isDirectory(absolute) && Self.looksLikeArchive(absolute)
                        items.append(CopyLayer.Item(source: unpack ? .archive(absolute) : .path(absolute), destination: "",
                                                    display: path.isEmpty ? "." : path))
                    }
                } catch let e as StrataError {
                    throw StrataError(e.code, "\(location): \(e.message)")
                }
            }
            let context = run.context
            walk = { dir in
                let relative = dir == context.root ? "" : String(dir.dropFirst(context.root.count + 1))
                return try context.walk(relative)
                    .map { relative.isEmpty ? $0 : String($0.dropFirst(relative.count + 1)) }
                    .filter { !isExcluded($0) && !isExcluded(relative.isEmpty ? $0 : "\(relative)/\($0)") }
            }
        }
        // Heredocs: each one a file named after its delimiter.
        for name in arguments.heredocSources {
            guard let doc = instruction.heredocs.first(where: { $0.name == name }) else { continue }
            let content = doc.expands ? try expand(doc.content) : doc.content
            items.append(CopyLayer.Item(source: .inline(Array(content.utf8), mode: 0o644), destination: name, display: "<<\(name)"))
        }
        guard !items.isEmpty else {
            throw StrataError(.buildFailed, "\(location): \(what) failed: no source files were specified")
        }

        // Destinations, as Docker places them, inside the image's root: its links are followed
        // (on Debian `/bin` is `usr/bin`: `COPY x /bin/x` writes `usr/bin/x`, and never a `bin/`
        // that would hide the link). A directory's contents (and an archive's) go into the
        // destination; a file goes to the destination itself unless it names a directory (a
        // trailing /, several sources, or a directory the image has).
        let imageRoot = try state.image.map(mountReadOnly)
        if let imageRoot { cleanups.append(imageRoot.release) }
        let root = try imageRoot.map { try RootedDirectory(path: $0.root) }
        layer.root = root
        let intoDirectory = destination.hasSuffix("/") || items.count > 1
        let base = destination.hasSuffix("/") && destination.count > 1 ? String(destination.dropLast()) : destination
        let placed: String
        do { placed = try root.map { "/" + (try $0.resolve(base)).joined(separator: "/") } ?? base } catch let e as StrataError {
            throw e.context("\(location): \(what) to \(rawDestination)")
        }
        let isDirectory = root?.lstat(placed.split(separator: "/").map(String.init)).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
        func inside(_ name: String) -> String { (placed == "/" ? "/" : placed + "/") + name }
        for i in items.indices {
            switch items[i].source {
            case .path(let path) where FileSystem.isDirectory(path) && !isSymlink(path):
                items[i].destination = placed
            case .archive:
                items[i].destination = placed
            case .path(let path):
                // A download carries the file name from its URL in `destination` until here.
                let name = items[i].destination.isEmpty ? (path as NSString).lastPathComponent : items[i].destination
                items[i].destination = intoDirectory || isDirectory ? inside(name) : placed
            case .inline:
                items[i].destination = intoDirectory || isDirectory ? inside(items[i].destination) : placed
            }
        }

        // The layer is written first: its file digests are part of the cache key.
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let ingest = try store.content.ingest()
        let digests: [String: String]
        let stats: LayerStats
        let blob: (digest: Digest, size: Int64)
        do {
            let tar = TarWriter(ingest)
            (digests, stats) = try layer.write(items, into: tar, walk: walk)
            try tar.finish()
            blob = try ingest.commit()
        } catch {
            ingest.abort()
            if let e = error as? StrataError { throw StrataError(e.code, "\(location): \(e.message)", cause: e.cause) }
            throw error
        }
        var inputs = StepInputs(parent: state.image?.id.description ?? "scratch", step: instruction.original)
        inputs.files = digests
        inputs.args = usedArgs(instruction.original, state: state, run: run)
        // Docker's size for it: the files' bytes, not the tar's.
        let newLayer = ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: blob.digest, size: blob.size),
                                        diffID: blob.digest, size: stats.contentSize, tarSize: blob.size)
        let kind = items.count > 1 ? "multi" : (digests.count == 1 ? "file" : "dir")
        // Docker's words, quirks kept: `--chown=` runs into the hash, the destination is as
        // written (expanded), and a space ends the comment.
        let chownWords = try arguments.chown.map { "--chown=\(try expand($0))" } ?? ""
        let createdBy = state.config.nopCommand("\(what) \(chownWords)\(kind):\(blob.digest.encoded) in \(rawDestination) ", oneWord: true)
        let parent = state.image, config = state.config, created = run.createdDate
        let image = try await cached(inputs, state: state, run: &run) {
            try store.commitStep(ImageStore.Step(created: created, createdBy: createdBy, author: config.author),
                                 config: config, layer: newLayer, parent: parent)
        }
        state.image = image
        state.config = try store.config(of: image).config
    }

    func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    /// An image's root filesystem, mounted read-only for reading (COPY --from, --chown names,
    /// squash): a snapshot view, so nothing is copied and nothing can change.
    func mountReadOnly(_ image: ImageStore.Image) throws -> (root: String, release: () -> Void) {
        let lock = try store.ingestLock()
        let snapshots = try engine.snapshots.prepare(try store.layers(of: image))
        let view = try engine.snapshots.view(try store.temporaryPath("build-view"), over: snapshots)
        return (view.rootfs, {
            view.release()
            withExtendedLifetime(lock) {}
        })
    }

    /// Every path under a directory, sorted, parents first (no ignore file applies).
    static func walkAll(_ root: String) -> [String] {
        var out: [String] = []
        func visit(_ relative: String) {
            let dir = relative.isEmpty ? root : "\(root)/\(relative)"
            for name in FileSystem.listDirectory(dir).sorted() {
                let child = relative.isEmpty ? name : "\(relative)/\(name)"
                out.append(child)
                var st = stat()
                if lstat("\(root)/\(child)", &st) == 0, st.st_mode & S_IFMT == S_IFDIR { visit(child) }
            }
        }
        visit("")
        return out
    }

    /// A tar, plain or compressed (gzip, zstd): what ADD unpacks rather than copies. Decided by
    /// the bytes (a ustar header after decompressing), never by the file name.
    static func looksLikeArchive(_ path: String) -> Bool {
        guard let file = try? FileReader(path: path), let reader = try? Codecs.decompressing(file).reader else { return false }
        var block = [UInt8](repeating: 0, count: 512)
        var n = 0
        while n < block.count {
            let got = (try? block.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[n...])) }) ?? 0
            if got == 0 { break }
            n += got
        }
        return n == 512 && Array(block[257..<262]) == Array("ustar".utf8)
    }
}
