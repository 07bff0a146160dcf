/// How RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD give their command.
public enum CommandForm: Sendable, Equatable {
    /// JSON array form: run directly, no shell.
    case exec([String])
    /// Shell form: the text is handed to the stage's SHELL.
    case shell(String)
}
