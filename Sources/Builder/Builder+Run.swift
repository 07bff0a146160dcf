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
        if let unsupported = arguments.mounts.first {
            throw StrataError(.buildFailed, "\(run.at(instruction)): RUN --mount=type=\(unsupported.type.rawValue) is not supported by this builder yet")
        }
        let args = state.args.compactMapValues { $0 }
        let shell = state.config.config.shell ?? ["/bin/sh", "-c"]
        var command: [String]
        let display: String
        switch arguments.command {
        case .exec(let words):
            command = words
            display = words.joined(separator: " ")
        case .shell(let text):
            // Heredoc bodies go to the shell on stdin would need a pipe; they are run as the script itself.
            let script = instruction.heredocs.isEmpty ? text : instruction.heredocs.map(\.content).joined(separator: "\n")
            command = shell + [script]
            display = (shell + [script]).joined(separator: " ")
        }
        // Docker's history shows the build args a RUN saw: "|2 A=1 B=2 /bin/sh -c …".
        let argPrefix = args.isEmpty ? "" : "|\(args.count) " + args.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + " "
        let createdBy = argPrefix + display
        var inputs = StepInputs(parent: parent.id.description, step: instruction.original)
        inputs.args = args
        let network: ContainerSpec.Network
        switch arguments.network ?? run.options.network.rawValue {
        case "none": network = .none
        case "host", "default": network = .host
        case let other: throw StrataError(.buildFailed, "\(run.at(instruction)): unknown network mode \"\(other)\" (use default, host or none)")
        }
        let config = state.config
        let quiet = run.options.quiet
        let location = run.at(instruction), created = run.createdDate
        let image = try cached(inputs, state: state, run: &run) {
            var options = ContainerEngine.CreateOptions(image: parent.id.description)
            options.entrypoint = ""
            options.command = command
            // ENV wins over an ARG of the same name, as in Docker.
            let envKeys = Set((config.config.env ?? []).map { String($0.split(separator: "=", maxSplits: 1)[0]) })
            options.env = args.filter { !envKeys.contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            options.workingDir = config.config.workingDir.flatMap { $0.isEmpty ? nil : $0 }
            options.user = config.config.user
            options.network = network
            let container = try engine.create(options)
            say(" ---> Running in \(container.shortID)")
            defer {
                _ = try? engine.remove(container.id, force: true)
                say("Removing intermediate container \(container.shortID)")
            }
            let code = try engine.execute(container.id, attach: .init(stdout: quiet ? nil : 1, stderr: quiet ? nil : 2))
            guard code == 0 else {
                throw StrataError(.buildFailed, "\(location): The command '\(display)' returned a non-zero code: \(code)")
            }
            let lock = try store.ingestLock()
            defer { withExtendedLifetime(lock) {} }
            let layer = try engine.commitLayer(try engine.lookup(container.id))
            return try commitLayer(layer, parent: parent, config: config, createdBy: createdBy, created: created)
        }
        state.image = image
        state.config = try store.config(of: image).config
    }
}
