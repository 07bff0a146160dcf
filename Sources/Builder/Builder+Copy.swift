import Archive
import Dockerfile
import Foundation
import ImageSpec
import ImageStore
import Runtime
import Snapshots

extension Builder {
    /// COPY and ADD of local files: one layer holding the sources at the destination. The cache
    /// key covers each file's bytes and mode (and the ownership flags), never its mtime.
    func copyStep(_ instruction: Instruction, _ arguments: CopyArguments, state: inout StageState, run: inout BuildRun) async throws {
        let what = instruction.keyword
        let vars = state.variables
        let expander = run.expander
        let expand = { (word: String) throws -> String in try expander.expand(word, lookup: { vars[$0] }).value }
        let sources = try arguments.sources.map(expand)
        var destination = try expand(arguments.destination)
        let workdir = state.config.config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        if !destination.hasPrefix("/") {
            destination = (workdir as NSString).appendingPathComponent(destination) + (destination.hasSuffix("/") ? "/" : "")
        }
        if what == "ADD", let remote = sources.first(where: { $0.contains("://") }) {
            throw StrataError(.buildFailed, "\(run.at(instruction)): ADD \(remote): fetching URLs is not supported by this builder yet; download in a RUN step")
        }
        var layer = CopyLayer()
        layer.epoch = run.epoch ?? 0
        if let chown = arguments.chown {
            let parts = try expand(chown).split(separator: ":", maxSplits: 1).map(String.init)
            guard let uid = Int(parts[0]), parts.count == 1 || Int(parts[1]) != nil else {
                throw StrataError(.buildFailed, "\(run.at(instruction)): --chown=\(chown): give numeric uid[:gid] (names are not resolved yet)")
            }
            layer.uid = uid
            layer.gid = parts.count > 1 ? Int(parts[1])! : uid
        }
        if let chmod = arguments.chmod {
            guard let mode = UInt32(chmod, radix: 8), mode <= 0o7777 else {
                throw StrataError(.buildFailed, "\(run.at(instruction)): --chmod=\(chmod): not an octal mode")
            }
            layer.chmod = mode
        }

        // Where the files come from: the context, or another stage's (or image's) root filesystem.
        var items: [CopyLayer.Item] = []
        var fromRoot: (root: String, release: () -> Void)?
        defer { fromRoot?.release() }
        let walk: (String) throws -> [String]
        if let from = arguments.from {
            let name = try expand(from)
            let image: ImageStore.Image
            if let stage = run.file.stage(named: name), let built = run.stageImages[stage.index] {
                image = built
            } else if let local = try? store.resolve(name) {
                image = local
            } else {
                image = try await pullImage(name)
            }
            let mounted = try mountReadOnly(image)
            fromRoot = mounted
            let globbing = sources.contains { $0.contains(where: { "*?[".contains($0) }) }
            guard !globbing else {
                throw StrataError(.buildFailed, "\(run.at(instruction)): \(what) --from with wildcards is not supported yet: name the paths")
            }
            for source in sources {
                guard let path = BuildContext.clean(source) else { continue }
                let full = path.isEmpty ? mounted.root : "\(mounted.root)/\(path)"
                guard FileSystem.exists(full) || (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) != nil else {
                    throw StrataError(.buildFailed, "\(run.at(instruction)): \(what) failed: stat /\(path): file does not exist in \(name)")
                }
                items.append(CopyLayer.Item(source: full, destination: "", display: "\(name):/\(path)"))
            }
            walk = { dir in Self.walkAll(dir) }
        } else {
            for source in sources {
                for path in try run.context.resolve(source, what: what) {
                    items.append(CopyLayer.Item(source: run.context.absolute(path), destination: "", display: path.isEmpty ? "." : path))
                }
            }
            let context = run.context
            walk = { dir in
                let relative = dir == context.root ? "" : String(dir.dropFirst(context.root.count + 1))
                return try context.walk(relative).map { relative.isEmpty ? $0 : String($0.dropFirst(relative.count + 1)) }
            }
        }
        // Destinations, as Docker places them: a directory's contents go into the destination; a
        // file goes to the destination itself unless it names a directory (trailing /, or several sources).
        let intoDirectory = destination.hasSuffix("/") || items.count > 1
        for i in items.indices {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: items[i].source, isDirectory: &isDir)
            let base = destination.hasSuffix("/") && destination.count > 1 ? String(destination.dropLast()) : destination
            if isDir.boolValue {
                items[i].destination = base
            } else {
                items[i].destination = intoDirectory ? (base == "/" ? "/" : base + "/") + (items[i].source as NSString).lastPathComponent : base
            }
            if what == "ADD", !isDir.boolValue, Self.looksLikeArchive(items[i].source) {
                throw StrataError(.buildFailed, "\(run.at(instruction)): ADD \(items[i].display): unpacking archives is not supported by this builder yet; use COPY and a RUN tar -x")
            }
        }

        // The layer is written first: its file digests are part of the cache key.
        let ingest = try store.content.ingest()
        let lock = try store.ingestLock()
        defer { withExtendedLifetime(lock) {} }
        let digests: [String: String]
        let stats: (digest: Digest, size: Int64)
        do {
            let tar = TarWriter(ingest)
            digests = try layer.write(items, into: tar, walk: walk)
            try tar.finish()
            stats = try ingest.commit()
        } catch {
            ingest.abort()
            throw error
        }
        var inputs = StepInputs(parent: state.image?.id.description ?? "scratch", step: instruction.original)
        inputs.files = digests
        inputs.args = usedArgs(instruction.original, state: state, run: run)
        let newLayer = ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: stats.digest, size: stats.size),
                                        diffID: stats.digest, size: stats.size, tarSize: stats.size)
        let kind = items.count == 1 ? (digests.count == 1 ? "file" : "dir") : "multi"
        let createdBy = "/bin/sh -c #(nop) \(what) \(kind):\(stats.digest.encoded) in \(destination)"
        let parent = state.image, config = state.config, created = run.createdDate
        let image = try cached(inputs, state: state, run: &run) {
            try commitLayer(newLayer, parent: parent, config: config, createdBy: createdBy, created: created)
        }
        state.image = image
        state.config = try store.config(of: image).config
    }

    /// An image's root filesystem, mounted read-only for reading (COPY --from).
    func mountReadOnly(_ image: ImageStore.Image) throws -> (root: String, release: () -> Void) {
        let lock = try store.ingestLock()
        let snapshots = try engine.snapshots.prepare(try store.layers(of: image))
        let dir = "\(store.root)/tmp/build-\(UInt64.random(in: 0...UInt64.max))"
        try FileSystem.createDirectory("\(store.root)/tmp", mode: 0o700)
        try FileSystem.createDirectory(dir, mode: 0o700)
        try engine.snapshots.createContainerLayer(in: dir, over: snapshots)
        let use = try engine.snapshots.use(dir, over: snapshots)
        let snapshotter = engine.snapshots
        return (use.rootfs, {
            use.release()
            snapshotter.removeContainerLayer(dir)
            FileSystem.removeTree(dir)
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

    static func looksLikeArchive(_ path: String) -> Bool {
        guard let reader = try? FileReader(path: path) else { return false }
        var magic = [UInt8](repeating: 0, count: 262)
        let n = (try? magic.withUnsafeMutableBytes { try reader.read(into: $0) }) ?? 0
        if n >= 2, magic[0] == 0x1f, magic[1] == 0x8b { return true }
        if n >= 4, magic[0...3] == [0x28, 0xb5, 0x2f, 0xfd] { return true }
        return n >= 262 && String(decoding: magic[257..<262], as: UTF8.self) == "ustar"
    }
}
