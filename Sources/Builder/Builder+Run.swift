import Dockerfile
import Foundation
import ImageSpec
import ImageStore
import Runtime

extension Builder {
    /// RUN: the command in a container over the stage's image, with its network and the stage's
    /// ENV and ARGs; its changes become one layer. A non-zero exit fails the build and keeps nothing.
    func runStep(_ instruction: Instruction, _ arguments: RunArguments, state: inout StageState, run: inout BuildRun) async throws {
        guard let parent = state.image else {
            throw StrataError(.buildFailed, "\(run.at(instruction)): RUN in a stage FROM scratch has no shell or programs to run")
        }
        let mounts = try await prepareMounts(arguments.mounts, instruction: instruction, state: state, run: run)
        defer { mounts.release() }
        // ENV wins over an ARG of the same name, as in Docker: such an ARG neither reaches the
        // command nor shows in the history.
        let envKeys = Set((state.config.config.env ?? []).map { String($0.split(separator: "=", maxSplits: 1)[0]) })
        let args = state.argValues.filter { !envKeys.contains($0.key) }
        let shell = state.config.config.shell ?? ["/bin/sh", "-c"]
        let command: [String]
        switch arguments.command {
        case .exec(let words):
            command = words
        case .shell(let text):
            command = shell + [Self.script(text, heredocs: instruction.heredocs)]
        }
        let display = command.joined(separator: " ")
        // Docker's history shows the build args a RUN saw: "|2 A=1 B=2 /bin/sh -c …" (sorted as `K=V` words).
        let argWords = args.map { "\($0.key)=\($0.value)" }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let createdBy = argWords.isEmpty ? display : (["|\(argWords.count)"] + argWords + [display]).joined(separator: " ")
        var inputs = StepInputs(parent: parent.id.description, step: instruction.original)
        inputs.args = args
        inputs.files = mounts.digests
        let network: ContainerSpec.Network
        switch arguments.network ?? run.options.network.rawValue {
        case "none": network = .none
        case "host", "default": network = .host
        case let other: throw StrataError(.buildFailed, "\(run.at(instruction)): unknown network mode \"\(other)\" (use default, host or none)")
        }
        let config = state.config
        let quiet = run.options.quiet
        let location = run.at(instruction), created = run.createdDate
        let image = try await cached(inputs, state: state, run: &run) {
            var options = ContainerEngine.CreateOptions(image: parent.id.description)
            options.entrypoint = ""
            options.command = command
            options.env = argWords
            options.workingDir = config.config.workingDir.flatMap { $0.isEmpty ? nil : $0 }
            options.user = config.config.user
            options.network = network
            options.mounts = mounts.specs
            let container = try engine.create(options)
            report(.runningIn(container: container.shortID))
            defer {
                _ = try? engine.remove(container.id, force: true)
                report(.removedContainer(container.shortID))
            }
            let code: Int32
            if let stageLabel {
                // Alongside other stages: on a thread of its own (the run blocks until the
                // command ends), its output labelled line by line.
                let output = quiet ? nil : try StageOutput { [sink] line, standardError in
                    sink(.output(line, standardError: standardError), stageLabel)
                }
                defer { output?.finish() }
                let id = container.id, attachment = output?.attachment ?? .none
                let work = Unchecked((engine, mounts))
                code = try await onThread("strata-build-run") {
                    try work.value.1.whileLocked { try work.value.0.execute(id, attach: attachment) }
                }
            } else {
                code = try mounts.whileLocked {
                    try engine.execute(container.id, attach: .init(stdout: quiet ? nil : 1, stderr: quiet ? nil : 2))
                }
            }
            guard code == 0 else {
                throw StrataError(.buildFailed, "\(location): The command '\(display)' returned a non-zero code: \(code)",
                                  cause: BuildStepFailure(command: display, status: code))
            }
            let lock = try store.ingestLock()
            defer { withExtendedLifetime(lock) {} }
            let layer = try engine.commitLayer(try engine.lookup(container.id))
            // A RUN that changed nothing adds no layer (an empty-layer step), as in Docker.
            return try store.commitStep(ImageStore.Step(created: created, createdBy: createdBy, author: config.author),
                                        config: config, layer: layer, parent: parent)
        }
        state.image = image
        state.config = try store.config(of: image).config
    }

    /// A shell-form RUN's script. With heredocs, BuildKit's rules: a command that is only a
    /// heredoc runs its body; otherwise the shell gets the command and the heredoc bodies, each
    /// closed by its delimiter, and feeds them to the command itself.
    static func script(_ text: String, heredocs: [Heredoc]) -> String {
        guard let first = heredocs.first else { return text }
        // `<<EOF`, `<< EOF`, `3<<EOF` alone, as BuildKit's ParseHeredoc of the whole command decides.
        if heredocs.count == 1, Heredoc.isMarker(text) { return first.content }
        var script = text
        for doc in heredocs {
            script += "\n" + doc.content + (doc.content.hasSuffix("\n") ? "" : "\n") + doc.name
        }
        return script
    }
}
