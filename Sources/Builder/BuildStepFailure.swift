/// Why a build stopped at a RUN: its command exited non-zero. The cause of the build's
/// `StrataError`, so the CLI can exit with the same status, as `docker build` does.
public struct BuildStepFailure: Error, Sendable, CustomStringConvertible {
    /// The command as the step ran it (`/bin/sh -c …`).
    public var command: String
    /// Its exit status.
    public var status: Int32

    public init(command: String, status: Int32) {
        self.command = command
        self.status = status
    }

    public var description: String { "The command '\(command)' returned a non-zero code: \(status)" }
}
