import Archive
import Dockerfile
import Foundation
import ImageSpec
import ImageStore
import Registry
import Runtime
import Snapshots

/// `strata build`, Docker's classic builder done daemonless: each step of a stage makes an image
/// (a filesystem step adds exactly one layer; a metadata step only a history entry), and a step
/// whose key — its parent image, its expanded text, the args it uses and the content of the files
/// it copies — was built before reuses that image. A miss says what changed since that build.
/// Stages that do not need each other are built at the same time, as BuildKit builds them.
public final class Builder {
    let store: ImageStore
    let engine: ContainerEngine
    /// Fetches a base image the store lacks (or every base, with `--pull`).
    let pullImage: (String) async throws -> ImageStore.Image
    /// Where progress goes, with the stage it comes from when stages run at the same time.
    let sink: @Sendable (BuildProgress, _ stage: String?) -> Void
    /// The stage this builder builds alongside others (nil: the build's only running stage).
    let stageLabel: String?
    /// Another workspace over the same store, for a stage built alongside others.
    let openWorkspace: @Sendable () throws -> BuildWorkspace
    /// Where `ADD <url>` downloads go through: the registry client's HTTP stack.
    let transport: HTTPTransport

    public convenience init(workspace: BuildWorkspace, openWorkspace: @escaping @Sendable () throws -> BuildWorkspace,
                report: @escaping @Sendable (BuildProgress, _ stage: String?) -> Void, transport: HTTPTransport = .shared) {
        self.init(workspace: workspace, openWorkspace: openWorkspace, sink: report, stageLabel: nil, transport: transport)
    }

    init(workspace: BuildWorkspace, openWorkspace: @escaping @Sendable () throws -> BuildWorkspace,
         sink: @escaping @Sendable (BuildProgress, String?) -> Void, stageLabel: String?, transport: HTTPTransport) {
        self.store = workspace.store
        self.engine = workspace.engine
        self.pullImage = workspace.pullImage
        self.openWorkspace = openWorkspace
        self.sink = sink
        self.stageLabel = stageLabel
        self.transport = transport
    }

    /// Progress lines (stdout in Docker's words), named by the stage when stages run at once.
    func report(_ progress: BuildProgress) { sink(progress, stageLabel) }

    /// Docker's limit on layers in an image (overlay's lower-directory limit).
    public static let maxLayers = 127

    /// Builds the target stage (the last by default) and the stages it needs; tags the result.
    public func build(_ options: BuildOptions) async throws -> ImageStore.Image {
        var file = try Dockerfile.parse(options.dockerfile)
        let expander = WordExpander(escape: file.directives.escape.character)
        let targetIndex: Int
        if let target = options.target {
            guard let stage = file.stage(named: target) else {
                throw StrataError(.buildFailed, "failed to reach build target \(target) in Dockerfile")
            }
            targetIndex = stage.index
        } else {
            targetIndex = file.stages.count - 1
        }
        // `--label`s are LABEL steps at the end of the target stage, sorted by key, taken as
        // given (never expanded) — as Docker adds them, history entries and step lines included.
        for (key, value) in options.labels.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            let line = file.stages[targetIndex].instructions.last?.endLine ?? file.stages[targetIndex].from.endLine
            file.stages[targetIndex].instructions.append(Instruction(
                keyword: "LABEL", startLine: line, endLine: line, original: "LABEL \(key)=\(value)",
                arguments: .label([KeyValuePair(key: Self.literalWord(key, escape: expander.escape),
                                                value: Self.literalWord(value, escape: expander.escape))])))
        }
        let context = try BuildContext(root: options.context)
        var run = BuildRun(options: options, file: file, context: context, expander: expander)

        // Meta ARGs: defaults, overridden by --build-arg; only they expand in FROM lines.
        for instruction in file.metaArgs {
            guard case .arg(let declarations) = instruction.arguments else { continue }
            for d in declarations {
                let value = try options.buildArgs[d.name] ?? d.defaultValue.map {
                    try expander.expand($0, lookup: { run.metaArgs[$0] ?? run.predefinedArgs[$0] }).value
                }
                run.metaArgs[d.name] = value
            }
        }
        let needed = try neededStages(file, target: targetIndex, run: run)
        let order = needed.keys.sorted()
        run.totalSteps = file.metaArgs.count + order.reduce(0) { $0 + 1 + file.stages[$1].instructions.count }
        for instruction in file.metaArgs { run.step(instruction, report: report) }
        // Step numbers are those of the classic builder, which builds the stages in file order.
        var firstSteps: [Int: Int] = [:]
        var next = run.stepNumber + 1
        for index in order {
            firstSteps[index] = next
            next += 1 + file.stages[index].instructions.count
        }
        let plan = StagePlan(order: order, needs: needed, firstSteps: firstSteps, target: targetIndex)
        let outcomes = plan.hasIndependentStages ? try await buildAlongside(plan, run: run) : try await buildInOrder(plan, run: run)
        guard let outcome = outcomes[targetIndex] else { throw StrataError(.buildFailed, "nothing to build") }
        var image = outcome.image
        if options.squash {
            image = try squash(image, onto: outcome.base, run: run)
        }
        report(.built(image.id))
        for tag in options.tags {
            try store.tag(image.id.description, as: tag.description)
            report(.tagged(tag.withDefaultTag))
        }
        return image
    }

    /// A word that expands to exactly `text`: single-quoted, each `'` closed, escaped and reopened.
    static func literalWord(_ text: String, escape: Character) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\(escape)''") + "'"
    }

    /// The target and every stage it reaches through FROM, COPY --from or RUN --mount=from, by
    /// index, each with the stages it needs directly.
    func neededStages(_ file: Dockerfile, target: Int, run: BuildRun) throws -> [Int: Set<Int>] {
        var needed: [Int: Set<Int>] = [:]
        func visit(_ index: Int) throws {
            guard needed[index] == nil else { return }
            let needs = try stagesNeeded(by: file.stages[index], in: file, run: run)
            needed[index] = needs
            for earlier in needs { try visit(earlier) }
        }
        try visit(target)
        return needed
    }

    /// The earlier stages one stage starts from or copies from.
    func stagesNeeded(by stage: Stage, in file: Dockerfile, run: BuildRun) throws -> Set<Int> {
        var needs: Set<Int> = []
        let base = try run.expandMeta(stage.base.image)
        if let from = file.stage(named: base), from.index < stage.index { needs.insert(from.index) }
        for instruction in stage.instructions {
            var references: [String] = []
            switch instruction.arguments {
            case .copy(let c), .add(let c): if let from = c.from { references.append(from) }
            case .run(let r): references += r.mounts.compactMap(\.from)
            default: break
            }
            for reference in references {
                guard let from = file.stage(named: reference) else { continue }
                guard from.index < stage.index else {
                    throw StrataError(.buildFailed, "\(run.options.dockerfileName):\(instruction.startLine): stage \"\(reference)\" is not defined before it is used")
                }
                needs.insert(from.index)
            }
        }
        return needs
    }
}

/// The state of one build: meta args, stage results, the step counter. Each stage works on a
/// copy, made from what the stages it needs ended with.
struct BuildRun: Sendable {
    let options: BuildOptions
    let file: Dockerfile
    let context: BuildContext
    let expander: WordExpander
    var metaArgs: [String: String?] = [:]
    /// The images of the stages this one needs, by index.
    var stageImages: [Int: ImageStore.Image] = [:]
    /// This stage's starting image (nil for scratch), for --squash.
    var stageBase: ImageStore.Image?
    var stepNumber = 0
    var totalSteps = 0
    /// Set once a step misses: later steps that build on it do not explain theirs (they follow from it).
    var explainedMiss = false
    /// Timestamps in what the build writes: SOURCE_DATE_EPOCH when set.
    let epoch = TreeArchiver.sourceDateEpoch
    /// The newest creation time of the base images this stage builds on (its own, and those of
    /// the stages it needs): what `--reproducible` dates its images by.
    var newestBase: Date?

    init(options: BuildOptions, file: Dockerfile, context: BuildContext, expander: WordExpander) {
        self.options = options
        self.file = file
        self.context = context
        self.expander = expander
    }

    var predefinedArgs: [String: String] {
        let target = options.platform ?? Platform.host
        let build = Platform.host
        return [
            "TARGETPLATFORM": target.description, "TARGETOS": target.os, "TARGETARCH": target.architecture,
            "TARGETVARIANT": target.variant ?? "",
            "BUILDPLATFORM": build.description, "BUILDOS": build.os, "BUILDARCH": build.architecture, "BUILDVARIANT": build.variant ?? "",
        ]
    }

    func expandMeta(_ word: String) throws -> String {
        try expander.expand(word, lookup: { name in
            if let v = metaArgs[name] { return v }
            return predefinedArgs[name]
        }).value
    }

    mutating func step(_ instruction: Instruction, report: (BuildProgress) -> Void) {
        stepNumber += 1
        report(.step(number: stepNumber, total: totalSteps, instruction: instruction.original))
    }

    /// Names a step in errors: the Dockerfile and line.
    func at(_ instruction: Instruction) -> String { "\(options.dockerfileName):\(instruction.startLine)" }

    /// When the images a step makes are dated: now, as Docker and BuildKit date them; with
    /// SOURCE_DATE_EPOCH that time; with `--reproducible` the newest base image's (1970 for
    /// scratch), so the same inputs make the same image IDs.
    var createdDate: Date { fixedDate ?? Date() }

    /// The time images are dated with when it is not the clock's.
    var fixedDate: Date? {
        if let epoch { return Date(timeIntervalSince1970: Double(epoch)) }
        return options.reproducible ? newestBase ?? Date(timeIntervalSince1970: 0) : nil
    }
}
