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

    /// The environment words expand against: the stage's ENV over its ARGs.
    var variables: [String: String] {
        var vars: [String: String] = [:]
        for (k, v) in args { if let v { vars[k] = v } }
        for item in config.config.env ?? [] {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            vars[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return vars
    }
}

/// What went into a step, for its cache key and, on a miss, for saying what changed.
struct StepInputs: Codable, Equatable {
    var parent: String
    var step: String
    var args: [String: String] = [:]
    var files: [String: String] = [:]

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
        return "the image it made before is gone"
    }
}

extension Builder {
    func buildStage(_ stage: Stage, run: inout BuildRun, isTarget: Bool) async throws -> ImageStore.Image {
        run.step(stage.from, say: say)
        var state = try await base(of: stage, run: &run)
        run.stageBases[stage.index] = .some(state.image)
        if let image = state.image { say(" ---> \(image.id.encoded.prefix(12))") }
        // Docker's (and overlay's) limit, checked before any step runs.
        let baseLayers = try state.image.map { try store.layers(of: $0).count } ?? 0
        let adding = (state.config.config.onBuild ?? []).count + stage.instructions.filter {
            switch $0.arguments { case .run, .copy, .add: return true; default: return false }
        }.count
        if baseLayers + adding > Self.maxLayers, !(isTarget && run.options.squash) {
            throw StrataError(.buildFailed,
                "\(run.at(stage.from)): stage \(stage.name ?? String(stage.index)) would have \(baseLayers + adding) layers (\(baseLayers) from its base, \(adding) from its steps); Docker and overlayfs allow at most \(Self.maxLayers): merge RUN steps with &&, or build with --squash to collapse the new layers into one")
        }
        // ONBUILD triggers of the base run first, then the child forgets them (as Docker does).
        if let triggers = state.config.config.onBuild, !triggers.isEmpty {
            say("# Executing \(triggers.count) build trigger\(triggers.count == 1 ? "" : "s")")
            for trigger in triggers {
                let parsed = try Dockerfile.parse("FROM scratch\n\(trigger)")
                guard let instruction = parsed.stages.first?.instructions.first else { continue }
                try await execute(instruction, state: &state, run: &run)
            }
            state.image = try commitMetadata(parent: state.image, config: state.config, created: run.createdDate, createdBy: nil) { $0.onBuild = nil }
            state.config = try store.config(of: state.image!).config
        }
        for instruction in stage.instructions {
            run.step(instruction, say: say)
            try await execute(instruction, state: &state, run: &run)
        }
        guard let image = state.image else {
            // `FROM scratch` and nothing else: an empty image, as Docker makes.
            return try commitMetadata(parent: nil, config: state.config, created: run.createdDate, createdBy: nil) { _ in }
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
        let config = try store.config(of: image).config
        if let created = config.created, created > (run.newestBase ?? .distantPast) { run.newestBase = created }
        return StageState(image: image, config: config, index: stage.index)
    }

    /// One instruction: metadata steps change the config; RUN, COPY and ADD add a layer.
    func execute(_ instruction: Instruction, state: inout StageState, run: inout BuildRun) async throws {
        let vars = state.variables
        func expand(_ word: String) throws -> String {
            do { return try run.expander.expand(word, lookup: { vars[$0] }).value } catch let e as StrataError {
                throw StrataError(e.code, "\(run.at(instruction)): \(e.message)")
            }
        }
        func words(_ word: String) throws -> [String] {
            try run.expander.expand(word, lookup: { vars[$0] }).words
        }
        defer { state.stepIndex += 1 }
        switch instruction.arguments {
        case .from:
            throw StrataError(.invalidDockerfile, "\(run.at(instruction)): FROM inside a stage")
        case .arg(let declarations):
            for d in declarations {
                let value = try run.options.buildArgs[d.name] ?? d.defaultValue.map(expand) ?? run.metaArgs[d.name] ?? run.predefinedArgs[d.name]
                state.args[d.name] = .some(value)
            }
            // ARG changes no config: nothing to commit, as in Docker's history.
        case .env(let pairs):
            var env = state.config.config.env ?? []
            var scope = vars
            for pair in pairs {
                let key = pair.key
                let value = try run.expander.expand(pair.value, lookup: { scope[$0] }).value
                scope[key] = value
                env.removeAll { $0.hasPrefix(key + "=") }
                env.append("\(key)=\(value)")
            }
            try metadataStep(instruction, state: &state, run: &run) { $0.env = env }
        case .label(let pairs):
            var labels = state.config.config.labels ?? [:]
            for pair in pairs { labels[try expand(pair.key)] = try expand(pair.value) }
            try metadataStep(instruction, state: &state, run: &run) { $0.labels = labels }
        case .expose(let ports):
            var exposed = Set(state.config.config.exposedPorts ?? [])
            for port in try ports.flatMap(words) { exposed.insert(port.contains("/") ? port : "\(port)/tcp") }
            try metadataStep(instruction, state: &state, run: &run) { $0.exposedPorts = exposed.sorted() }
        case .volume(let paths):
            var volumes = Set(state.config.config.volumes ?? [])
            for path in try paths.flatMap(words) { volumes.insert(path) }
            try metadataStep(instruction, state: &state, run: &run) { $0.volumes = volumes.sorted() }
        case .user(let user):
            let value = try expand(user)
            try metadataStep(instruction, state: &state, run: &run) { $0.user = value }
        case .workdir(let path):
            let value = try expand(path)
            let current = state.config.config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
            let absolute = value.hasPrefix("/") ? value : (current as NSString).appendingPathComponent(value)
            try metadataStep(instruction, state: &state, run: &run) { $0.workingDir = absolute }
        case .cmd(let form):
            let cmd = commandWords(form, shell: state.config.config.shell)
            try metadataStep(instruction, state: &state, run: &run) { $0.cmd = cmd }
            state.cmdSet = true
        case .entrypoint(let form):
            let entrypoint = commandWords(form, shell: state.config.config.shell)
            let inherited = !state.cmdSet
            try metadataStep(instruction, state: &state, run: &run) { config in
                config.entrypoint = entrypoint
                // As Docker: an ENTRYPOINT drops the CMD inherited from the base.
                if inherited { config.cmd = nil }
            }
        case .shell(let shell):
            try metadataStep(instruction, state: &state, run: &run) { $0.shell = shell }
        case .stopSignal(let signal):
            let value = try expand(signal)
            try metadataStep(instruction, state: &state, run: &run) { $0.stopSignal = value }
        case .healthcheck(let check):
            var healthcheck = ImageSpec.Healthcheck(test: check.test)
            healthcheck.interval = check.interval
            healthcheck.timeout = check.timeout
            healthcheck.startPeriod = check.startPeriod
            healthcheck.startInterval = check.startInterval
            healthcheck.retries = check.retries
            try metadataStep(instruction, state: &state, run: &run) { $0.healthcheck = healthcheck }
        case .onbuild(let trigger):
            var triggers = state.config.config.onBuild ?? []
            triggers.append(trigger.expression)
            try metadataStep(instruction, state: &state, run: &run) { $0.onBuild = triggers }
        case .maintainer(let name):
            let value = try expand(name)
            try metadataStep(instruction, state: &state, run: &run, author: value) { _ in }
        case .run(let arguments):
            try await runStep(instruction, arguments, state: &state, run: &run)
        case .copy(let arguments), .add(let arguments):
            try await copyStep(instruction, arguments, state: &state, run: &run)
        }
    }

    /// CMD and ENTRYPOINT words: exec form as written; shell form through the stage's SHELL.
    func commandWords(_ form: CommandForm, shell: [String]?) -> [String] {
        switch form {
        case .exec(let words): return words
        case .shell(let text): return (shell ?? ["/bin/sh", "-c"]) + [text]
        }
    }

    /// A step that changes only the config: cached by its text and the variables it reads.
    func metadataStep(_ instruction: Instruction, state: inout StageState, run: inout BuildRun, author: String? = nil,
                      change: @escaping (inout ContainerConfig) -> Void) throws {
        var inputs = StepInputs(parent: state.image?.id.description ?? "scratch", step: instruction.original)
        inputs.args = usedArgs(instruction.original, state: state, run: run)
        let config = state.config, parent = state.image, created = run.createdDate
        let image = try cached(inputs, state: state, run: &run) {
            try commitMetadata(parent: parent, config: config, created: created, createdBy: "/bin/sh -c #(nop) \(instruction.original)",
                               author: author) { change(&$0) }
        }
        state.image = image
        state.config = try store.config(of: image).config
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
                make: () throws -> ImageStore.Image) throws -> ImageStore.Image {
        let key = inputs.key
        let slot = slotName(state: state, run: run)
        if !run.options.noCache, let hit = try store.cachedBuildStep(key) {
            say(" ---> Using cache")
            say(" ---> \(hit.id.encoded.prefix(12))")
            return hit
        }
        if !run.options.noCache, !run.explainedMiss {
            let last = try store.lastBuildStep(slot: slot).flatMap { try? JSONCoding.decode(StepInputs.self, from: Data($0.utf8), what: "build cache") }
            if let reason = inputs.reason(against: last, firstInStage: state.stepIndex == 0) {
                say(" ---> cache miss: \(reason)")
                run.explainedMiss = true
            }
        }
        let image = try make()
        let json = (try? JSONCoding.encoder.encode(inputs)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        try store.recordBuildStep(key, image: image.id, slot: slot, inputs: json)
        say(" ---> \(image.id.encoded.prefix(12))")
        return image
    }

    /// "The same step" across builds: this context, this Dockerfile, this stage, this position.
    func slotName(state: StageState, run: BuildRun) -> String {
        let path = URL(fileURLWithPath: run.context.root).standardizedFileURL.path
        return "\(path)|\(run.options.dockerfileName)|\(state.index)|\(state.stepIndex)"
    }

    /// A new image: the parent's layers, its config changed, one history entry.
    @discardableResult
    func commitMetadata(parent: ImageStore.Image?, config: ImageConfig? = nil, created: Date, createdBy: String?,
                        author: String? = nil, change: (inout ContainerConfig) -> Void) throws -> ImageStore.Image {
        var config = try config ?? parent.map { try store.config(of: $0).config } ?? ImageConfig(architecture: Platform.host.architecture, os: Platform.host.os)
        var runConfig = config.config
        change(&runConfig)
        config.config = runConfig
        config.created = created
        if let author { config.author = author }
        if let createdBy {
            var history = config.history
            var entry = History(created: created, createdBy: createdBy, emptyLayer: true)
            entry.author = author
            history.append(entry)
            config.history = history
        }
        let layers = try parent.map { try store.layers(of: $0) } ?? []
        return try store.commitImage(config: config, layers: layers, tags: [], parent: parent?.id)
    }


    /// A new image with one more layer on top of the parent's.
    func commitLayer(_ layer: ImageStore.Layer, parent: ImageStore.Image?, config: ImageConfig, createdBy: String,
                     created: Date) throws -> ImageStore.Image {
        var config = config
        config.created = created
        var rootfs = config.rootfs
        rootfs.diffIDs.append(layer.diffID)
        config.rootfs = rootfs
        var history = config.history
        history.append(History(created: created, createdBy: createdBy))
        config.history = history
        let layers = try parent.map { try store.layers(of: $0) } ?? []
        return try store.commitImage(config: config, layers: layers + [layer], tags: [], parent: parent?.id)
    }
}
