import Dockerfile
import Foundation
import ImageSpec
import ImageStore
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// The mounts of one `RUN --mount=…`, ready for the container: bind mounts of the context (a
/// private copy of what .dockerignore lets through, so `rw` writes are thrown away) or of another
/// stage's files, cache directories that outlive builds, tmpfs. Bound context files count in the
/// step's cache key.
struct RunMounts {
    var specs: [RuntimeSpec.Mount] = []
    var digests: [String: String] = [:]
    var cleanups: [() -> Void] = []
    var locks: [String] = []

    func release() { for cleanup in cleanups.reversed() { cleanup() } }

    /// Runs `body` holding the locks of `sharing=locked` cache mounts.
    func whileLocked<T>(_ body: () throws -> T) throws -> T {
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for path in locks {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StrataError.posix("cannot lock \(path)", errno: errno) }
            flock(fd, LOCK_EX)
            fds.append(fd)
        }
        return try body()
    }
}

extension Builder {
    func prepareMounts(_ mounts: [RunMount], instruction: Instruction, state: StageState, run: BuildRun) async throws -> RunMounts {
        var result = RunMounts()
        do {
            let vars = state.variables
            let expand = { (word: String?) throws -> String? in try word.map { try run.expander.expand($0, lookup: { vars[$0] }).value } }
            let workdir = state.config.config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
            for (n, mount) in mounts.enumerated() {
                let target = try expand(mount.target).map { $0.hasPrefix("/") ? $0 : (workdir as NSString).appendingPathComponent($0) }
                switch mount.type {
                case .secret, .ssh:
                    // Nothing to mount: `strata build` takes no --secret or --ssh yet.
                    if mount.required {
                        throw StrataError(.buildFailed, "\(run.at(instruction)): RUN --mount=type=\(mount.type.rawValue) is required, but strata build takes no --\(mount.type.rawValue) yet")
                    }
                    continue
                case .tmpfs:
                    guard let target else { throw missingTarget(instruction, run) }
                    var options = ["nosuid", "nodev"]
                    if let size = mount.size { options.append("size=\(size)") }
                    result.specs.append(RuntimeSpec.Mount(destination: target, type: "tmpfs", source: "tmpfs", options: options))
                case .cache:
                    guard let target else { throw missingTarget(instruction, run) }
                    let id = try expand(mount.id) ?? target
                    let dir = "\(store.root)/build-cache-mounts/\(Digest.sha256(of: Array(id.utf8)).encoded.prefix(32))"
                    if !FileSystem.exists(dir) {
                        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                        chmod(dir, mode_t(mount.mode ?? 0o755))
                        chown(dir, uid_t(mount.uid ?? 0), gid_t(mount.gid ?? 0))
                    }
                    if mount.sharing == .locked { result.locks.append(dir + ".lock") }
                    result.specs.append(RuntimeSpec.Mount(destination: target, type: "bind", source: dir,
                                                          options: mount.readOnly ? ["rbind", "ro"] : ["rbind"]))
                case .bind:
                    guard let target else { throw missingTarget(instruction, run) }
                    let source = try expand(mount.source) ?? "."
                    let copy = try store.temporaryPath("build-bind-\(n)")
                    result.cleanups.append { FileSystem.removeTree(copy) }
                    if let from = try expand(mount.from) {
                        let image = try await resolveFrom(from, run: run)
                        let mounted = try mountReadOnly(image)
                        defer { mounted.release() }
                        guard let path = BuildContext.clean(source) else { throw outside(instruction, run, source) }
                        try Self.copyTree(path.isEmpty ? mounted.root : "\(mounted.root)/\(path)", to: copy, select: nil)
                    } else {
                        guard let path = BuildContext.clean(source) else { throw outside(instruction, run, source) }
                        let resolved = try run.context.resolve(source, what: "RUN --mount")
                        guard resolved == [path] else { throw outside(instruction, run, source) }
                        let context = run.context
                        let absolute = context.absolute(path)
                        let files = FileSystem.isDirectory(absolute) ? try context.walk(path) : []
                        try Self.copyTree(absolute, to: copy, select: FileSystem.isDirectory(absolute) ? files.map { path.isEmpty ? $0 : String($0.dropFirst(path.count + 1)) } : nil)
                        for file in files {
                            let full = context.absolute(file)
                            if !FileSystem.isDirectory(full), let bytes = try? FileSystem.readFile(full, limit: 1 << 30) {
                                result.digests["mount \(target): \(file)"] = Digest.sha256(of: bytes).encoded
                            }
                        }
                        if files.isEmpty, let bytes = try? FileSystem.readFile(absolute, limit: 1 << 30) {
                            result.digests["mount \(target): \(path)"] = Digest.sha256(of: bytes).encoded
                        }
                    }
                    result.specs.append(RuntimeSpec.Mount(destination: target, type: "bind", source: copy,
                                                          options: mount.readOnly ? ["rbind", "ro"] : ["rbind"]))
                }
            }
        } catch {
            result.release()
            throw error
        }
        return result
    }

    func missingTarget(_ instruction: Instruction, _ run: BuildRun) -> StrataError {
        StrataError(.buildFailed, "\(run.at(instruction)): RUN --mount needs a target")
    }

    func outside(_ instruction: Instruction, _ run: BuildRun, _ source: String) -> StrataError {
        StrataError(.buildFailed, "\(run.at(instruction)): RUN --mount source \(source) is outside the build context")
    }

    /// An earlier stage's image, a local image, or one pulled.
    func resolveFrom(_ name: String, run: BuildRun) async throws -> ImageStore.Image {
        if let stage = run.file.stage(named: name), let built = run.stageImages[stage.index] { return built }
        if let local = try? store.resolve(name) { return local }
        return try await pullImage(name)
    }

    /// Copies a file or a tree (only the `select`ed relative paths, when given), keeping modes and links.
    static func copyTree(_ source: String, to destination: String, select: [String]?) throws {
        guard FileSystem.isDirectory(source) else {
            try FileManager.default.copyItem(atPath: source, toPath: destination)
            return
        }
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for relative in select ?? walkAll(source) {
            let from = "\(source)/\(relative)", to = "\(destination)/\(relative)"
            var st = stat()
            guard lstat(from, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
                chmod(to, st.st_mode & 0o7777)
            } else {
                try FileManager.default.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
    }
}
