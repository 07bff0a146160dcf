import Archive
import Dockerfile
import Foundation
import ImageSpec
import ImageStore
import Runtime
import Snapshots

/// Where a stage is between steps.
struct StageState {
    /// The image the last step made (nil only for `FROM scratch` before its first step).
    var image: ImageStore.Image?
    var config: ImageConfig
    /// ARGs declared in this stage, with their values (nil: declared without a value).
    var args: [String: String?] = [:]
    var index: Int
    var stepIndex = 0
    /// A CMD of this stage (an ENTRYPOINT then keeps it; it drops only an inherited one).
    var cmdSet = false

    /// The ARGs that have values.
    var argValues: [String: String] { args.compactMapValues { $0 } }

    /// What `ImageConfig.apply` needs of the stage: its ARGs and whether it set a CMD.
    func scope(_ expander: WordExpander) -> InstructionScope {
        InstructionScope(expander: expander, args: argValues, cmdSet: cmdSet)
    }

    /// The environment words expand against: the stage's ENV over its ARGs.
    var variables: [String: String] { InstructionScope(args: argValues).variables(env: config.config.env ?? []) }
}

/// What went into a step, for its cache key and, on a miss, for saying what changed.
struct StepInputs: Codable, Equatable {
    var parent: String
    var step: String
    var args: [String: String] = [:]
    var files: [String: String] = [:]
    /// The fixed time the step's image is dated with (`--reproducible`, SOURCE_DATE_EPOCH): an
    /// image made on the clock is no hit for a build that promises its dates. Nil on the clock.
    var created: String?

    var key: Digest {
        let bytes = (try? JSONCoding.encoder.encode(self)).map(Array.init) ?? Array(step.utf8)
        return Digest.sha256(of: bytes)
    }

    /// Why this step missed, against the last build of the same step.
    func reason(against last: StepInputs?, firstInStage: Bool) -> String? {
        guard let last else { return nil }
        if last.step != step { return "the instruction changed (it was: \(last.step))" }
        for name in Set(args.keys).union(last.args.keys).sorted() where args[name] != last.args[name] {
            return "build arg \(name) changed"
        }
        for path in Set(files.keys).union(last.files.keys).sorted() where files[path] != last.files[path] {
            if last.files[path] == nil { return "\(path) was added" }
            if files[path] == nil { return "\(path) was removed" }
            return "\(path) changed"
        }
        if last.parent != parent { return firstInStage ? "the base image changed" : nil }
        if last.created != created { return "the build's date changed (it was \(last.created ?? "the clock"))" }
        return "the image it made before is gone"
    }
}

extension Builder {
    func buildStage(_ stage: Stage, run: inout BuildRun, isTarget: Bool) async throws -> ImageStore.Image {
        run.step(stage.from, report: report)
        var state = try await base(of: stage, run: &run)
        run.stageBase = state.image
        if let image = state.image { report(.image(image.id)) }
        // Docker's (and overlay's) limit, checked before any step runs.
        let baseLayers = try state.image.map { try store.layers(of: $0).count } ?? 0
        let adding = (state.config.config.onBuild ?? []).count + stage.instructions.filter {
            switch $0.arguments { case .run, .copy, .add: return true; default: return false }
        }.count
        if baseLayers + adding > Self.maxLayers, !(isTarget && run.options.squash) {
            throw StrataError(.buildFailed,
                "\(run.at(stage.from)): stage \(stage.name ?? String(stage.index)) would have \(baseLayers + adding) layers (\(baseLayers) from its base, \(adding) from its steps); Docker and overlayfs allow at most \(Self.maxLayers): merge RUN steps with &&, or build with --squash to collapse the new layers into one")
        }
        // ONBUILD triggers of the base run first, and the child forgets them (as Docker does:
        // its first step's image no longer has them).
        if let triggers = state.config.config.onBuild, !triggers.isEmpty {
            report(.executingTriggers(count: triggers.count))
            state.config.config.onBuild = nil
            for trigger in triggers {
                let parsed = try Dockerfile.parse("FROM scratch\n\(trigger)")
                guard let instruction = parsed.stages.first?.instructions.first else { continue }
                try await execute(instruction, state: &state, run: &run)
            }
        }
        for instruction in stage.instructions {
            // A stage built alongside one that failed stops at its next step.
            try Task.checkCancellation()
            run.step(instruction, report: report)
            try await execute(instruction, state: &state, run: &run)
        }
        guard let image = state.image else {
            // `FROM scratch` and nothing else: an empty image with no history.
            var config = state.config
            config.created = run.createdDate
            return try store.commitImage(config: config, layers: [], tags: [])
        }
        return image
    }

    /// The stage's starting point: scratch, an earlier stage, or an image (pulled if missing).
    func base(of stage: Stage, run: inout BuildRun) async throws -> StageState {
        let name = try run.expandMeta(stage.base.image)
        // RUN steps execute here: a stage can only be built for this host's platform.
        if let wanted = try stage.base.platform.map(run.expandMeta) {
            let platform = try Platform(parsing: wanted)
            guard platform.os == Platform.host.os, platform.architecture == Platform.host.architecture else {
                throw StrataError(.platformNotFound, "\(run.at(stage.from)): FROM --platform=\(wanted): cannot build for \(wanted) on this \(Platform.host) host (no emulation)")
            }
        }
        if name.lowercased() == "scratch" {
            let platform = run.options.platform ?? Platform.host
            var config = ImageConfig(architecture: platform.architecture, os: platform.os)
            config.config = ContainerConfig()
            return StageState(image: nil, config: config, index: stage.index)
        }
        let image: ImageStore.Image
        if let earlier = run.file.stage(named: name), earlier.index < stage.index, let built = run.stageImages[earlier.index] {
            image = built
        } else if !run.options.pull, let local = try? store.resolve(name) {
            image = local
        } else {
            do { image = try await pullImage(name) } catch let e as StrataError {
                throw StrataError(e.code, "\(run.at(stage.from)): FROM \(name): \(e.message)")
            }
        }
        var config = try store.config(of: image).config
        if let created = config.created, created > (run.newestBase ?? .distantPast) { run.newestBase = created }
        // The images a stage makes have an author only once MAINTAINER says so, as in Docker.
        config.author = nil
        return StageState(image: image, config: config, index: stage.index)
    }

    /// One instruction: metadata steps change the config (WORKDIR also makes its directory);
    /// RUN, COPY and ADD add a layer.
    func execute(_ instruction: Instruction, state: inout StageState, run: inout BuildRun) async throws {
        defer { state.stepIndex += 1 }
        switch instruction.arguments {
        case .from:
            throw StrataError(.invalidDockerfile, "\(run.at(instruction)): FROM inside a stage")
        case .arg(let declarations):
            // Every default expands against what was in scope before the instruction, as in Docker.
            let vars = state.variables
            var values: [(String, String?)] = []
            for d in declarations {
                do {
                    values.append((d.name, try run.options.buildArgs[d.name] ?? d.defaultValue.map { try run.expander.expand($0, variables: vars).value }
                        ?? run.metaArgs[d.name] ?? run.predefinedArgs[d.name]))
                } catch let e as StrataError { throw e.context(run.at(instruction)) }
            }
            // Recorded as Docker does: an empty-layer step with the ARG's words (its defaults).
            try await metadataStep(instruction, state: &state, run: &run)
            for (name, value) in values { state.args[name] = .some(value) }
        case .run(let arguments):
            try await runStep(instruction, arguments, state: &state, run: &run)
        case .copy(let arguments), .add(let arguments):
            try await copyStep(instruction, arguments, state: &state, run: &run)
        case .workdir:
            try await workdirStep(instruction, state: &state, run: &run)
        default:
            try await metadataStep(instruction, state: &state, run: &run)
        }
    }

    /// The config with the instruction applied, and what it records (errors name the line).
    func applied(_ instruction: Instruction, state: inout StageState, run: BuildRun) throws -> (ImageConfig, AppliedInstruction) {
        var config = state.config
        var scope = state.scope(run.expander)
        do {
            let applied = try config.apply(instruction, scope: &scope)
            state.cmdSet = scope.cmdSet
            return (config, applied)
        } catch let e as StrataError {
            throw StrataError(e.code == .invalidArgument ? .buildFailed : e.code, "\(run.at(instruction)): \(instruction.keyword): \(e.message)", cause: e.cause)
        }
    }

    /// A step that changes only the config: cached by its text and the variables it reads.
    func metadataStep(_ instruction: Instruction, state: inout StageState, run: inout BuildRun) async throws {
        let (config, applied) = try applied(instruction, state: &state, run: run)
        var inputs = StepInputs(parent: state.image?.id.description ?? "scratch", step: instruction.original)
        inputs.args = usedArgs(instruction.original, state: state, run: run)
        let parent = state.image, created = run.createdDate
        let image = try await cached(inputs, state: state, run: &run) {
            try store.commitStep(ImageStore.Step(created: created, createdBy: applied.createdBy, author: config.author),
                                 config: config, layer: nil, parent: parent)
        }
        state.image = image
        state.config = try store.config(of: image).config
    }

    /// WORKDIR: the config's working directory, and — as Docker's classic builder makes it in a
    /// container it commits — the directory itself: a layer (size 0) when the image lacks it,
    /// none when it is there. Links on the way are followed inside the image's root.
    func workdirStep(_ instruction: Instruction, state: inout StageState, run: inout BuildRun) async throws {
        let (config, applied) = try applied(instruction, state: &state, run: run)
        var inputs = StepInputs(parent: state.image?.id.description ?? "scratch", step: instruction.original)
        inputs.args = usedArgs(instruction.original, state: state, run: run)
        let parent = state.image, created = run.createdDate, epoch = run.epoch ?? 0
        let location = run.at(instruction)
        let image = try await cached(inputs, state: state, run: &run) {
            let lock = try store.ingestLock()
            defer { withExtendedLifetime(lock) {} }
            let layer: ImageStore.Layer?
            do { layer = try directoryLayer(config.config.workingDir ?? "/", in: parent, epoch: epoch) } catch let e as StrataError {
                throw StrataError(.buildFailed, "\(location): WORKDIR \(config.config.workingDir ?? ""): \(e.message)", cause: e.cause)
            }
            return try store.commitStep(ImageStore.Step(created: created, createdBy: applied.createdBy, author: config.author),
                                        config: config, layer: layer, parent: parent)
        }
        state.image = image
        state.config = try store.config(of: image).config
    }

    /// A layer that makes `path` (and its missing parents: 0755, root's) in the image, or nil when
    /// the image has the directory. The caller holds the ingest lock.
    func directoryLayer(_ path: String, in image: ImageStore.Image?, epoch: Int64) throws -> ImageStore.Layer? {
        let mounted = try image.map(mountReadOnly)
        defer { mounted?.release() }
        let root = try mounted.map { try RootedDirectory(path: $0.root) }
        let parts = try root?.resolve(path) ?? RootedDirectory.components(path, clamp: true)
        if let st = root?.lstat(parts) {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw StrataError(.buildFailed, "Cannot mkdir: /\(parts.joined(separator: "/")) is not a directory")
            }
            return nil
        }
        guard !parts.isEmpty else { return nil }
        var layer = CopyLayer()
        layer.epoch = epoch
        layer.root = root
        let ingest = try store.content.ingest()
        do {
            let tar = TarWriter(ingest)
            let empty = "\(store.root)/tmp/build-dir-\(UInt64.random(in: 0...UInt64.max))"
            try FileSystem.createDirectory(empty, mode: 0o755)
            defer { FileSystem.removeTree(empty) }
            let (_, stats) = try layer.write([CopyLayer.Item(source: .path(empty), destination: "/" + parts.joined(separator: "/"), display: path)],
                                             into: tar, walk: { _ in [] })
            try tar.finish()
            let blob = try ingest.commit()
            return ImageStore.Layer(descriptor: Descriptor(mediaType: .ociLayer, digest: blob.digest, size: blob.size),
                                    diffID: blob.digest, size: stats.contentSize, tarSize: blob.size)
        } catch {
            ingest.abort()
            throw error
        }
    }

    /// The build args a step's text names, with their values (they belong in its cache key).
    func usedArgs(_ text: String, state: StageState, run: BuildRun) -> [String: String] {
        var used: [String: String] = [:]
        let names = (try? run.expander.expand(text, lookup: { _ in nil }).referencedNames) ?? []
        for name in names {
            if let value = state.args[name] { used[name] = value ?? "" }
        }
        return used
    }

    /// Looks the step up in the cache, or makes it and records it; prints Docker's lines.
    func cached(_ inputs: StepInputs, state: StageState, run: inout BuildRun,
                make: () async throws -> ImageStore.Image) async throws -> ImageStore.Image {
        var inputs = inputs
        inputs.created = run.fixedDate.map(RFC3339.format)
        let key = inputs.key
        let slot = slotName(state: state, run: run)
        if !run.options.noCache, let hit = try store.cachedBuildStep(key) {
            report(.usingCache)
            report(.image(hit.id))
            return hit
        }
        if !run.options.noCache, !run.explainedMiss {
            let last = try store.lastBuildStep(slot: slot).flatMap { try? JSONCoding.decode(StepInputs.self, from: Data($0.utf8), what: "build cache") }
            if let reason = inputs.reason(against: last, firstInStage: state.stepIndex == 0) {
                report(.cacheMiss(reason: reason))
                run.explainedMiss = true
            }
        }
        let image = try await make()
        let json = (try? JSONCoding.encoder.encode(inputs)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        try store.recordBuildStep(key, image: image.id, slot: slot, inputs: json)
        report(.image(image.id))
        return image
    }

    /// "The same step" across builds: this context, this Dockerfile, this stage, this position.
    func slotName(state: StageState, run: BuildRun) -> String {
        let path = URL(fileURLWithPath: run.context.root).standardizedFileURL.path
        return "\(path)|\(run.options.dockerfileName)|\(state.index)|\(state.stepIndex)"
    }
}
