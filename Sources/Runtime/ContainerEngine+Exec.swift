import Archive
import Foundation
import Host
import ImageSpec

extension ContainerEngine {
    /// What `strata exec` runs, and how.
    public struct ExecOptions: Sendable {
        public var command: [String]
        /// `KEY=VALUE` over the container's environment.
        public var env: [String] = []
        public var user: String?
        public var workingDir: String?
        public var tty = false
        public var detach = false
        public init(command: [String]) { self.command = command }
    }

    /// `strata exec`: a process in a running container, with the container's environment, user,
    /// capabilities and limits unless the options say otherwise (`runc exec`). Returns its exit
    /// status (0 at once with `detach`).
    public func exec(_ input: String, _ options: ExecOptions, attach: Attachment) throws -> Int32 {
        let c = try lookup(input)
        guard !options.command.isEmpty else { throw StrataError(.invalidArgument, "exec needs a command to run in the container") }
        guard c.state == .running else {
            throw StrataError(.containerNotRunning, "Container \(c.shortID) is not running")
        }
        let dir = directory(c.id)
        let bundle: RuntimeSpec
        do {
            bundle = try JSONDecoder().decode(RuntimeSpec.self, from: Data(try FileSystem.readFile("\(dir)/config.json")))
        } catch {
            throw StrataError(.containerNotRunning, "Container \(c.shortID) is not running (it has no runtime bundle)", cause: error)
        }
        let root = try RootedDirectory(path: bundle.root.path)
        var process = bundle.process
        process.args = options.command
        // A detached runc with a terminal needs someone on a console socket to take it: none here.
        process.terminal = options.tty && !options.detach
        if let user = options.user {
            let resolved = try Users.resolve(user, rootfs: root)
            process.user = resolved.user
            process.env.removeAll { $0.hasPrefix("HOME=") }
            process.env.append("HOME=\(resolved.home)")
            // The container's bounding set stays; a user other than root has none of it in effect.
            let bounding = process.capabilities?.bounding ?? RuntimeSpec.defaultCapabilities
            process.capabilities = RuntimeSpec.Capabilities(bounding: bounding, effective: resolved.user.uid == 0 ? bounding : [],
                                                            permitted: resolved.user.uid == 0 ? bounding : [])
        }
        if let workingDir = options.workingDir {
            guard workingDir.hasPrefix("/") else { throw StrataError(.invalidArgument, "the working directory '\(workingDir)' is invalid, it needs to be an absolute path") }
            process.cwd = workingDir
        }
        Self.apply(environment: options.env, to: &process.env)
        if options.tty, !process.env.contains(where: { $0.hasPrefix("TERM=") }) { process.env.append("TERM=xterm") }
        try checkExecutable(options.command[0], env: process.env, root: root)

        let processFile = "\(dir)/exec-\(UInt64.random(in: 0...UInt64.max)).json"
        // Read once by the runtime and removed after: nothing to keep through a crash.
        try FileSystem.writeAtomically(processFile, Array(try JSONCoding.encoder.encode(process)), durable: false)
        defer { unlink(processFile) }
        let runtimePath = try runtime.executable()
        let command = ["exec", "--process", processFile] + (options.detach ? ["--detach"] : [])
        // Ctrl-C goes to the exec'd process through runc; the container is not this command's to end.
        let status = try attached(runtimePath, command, id: c.id, terminal: process.terminal,
                                  attach: options.detach ? .none : attach, log: nil, interrupted: {})
        // runc says "container does not exist" or "not running" when it ended meanwhile.
        if status != 0, (try? lookup(c.id).state) != .running {
            throw StrataError(.containerNotRunning, "Container \(c.shortID) is not running")
        }
        return status
    }
}
