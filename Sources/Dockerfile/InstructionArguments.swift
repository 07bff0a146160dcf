/// The typed arguments of an instruction; the case names the instruction.
public indirect enum InstructionArguments: Sendable, Equatable {
    case from(FromArguments)
    case run(RunArguments)
    case cmd(CommandForm)
    case entrypoint(CommandForm)
    /// SHELL accepts only the JSON form.
    case shell([String])
    case copy(CopyArguments)
    case add(CopyArguments)
    case env([KeyValuePair])
    case label([KeyValuePair])
    case arg([ArgDeclaration])
    /// Port words as written (`80/tcp`, `$PORT`), expanded at build time.
    case expose([String])
    case volume([String])
    case user(String)
    case workdir(String)
    case stopSignal(String)
    case maintainer(String)
    case healthcheck(Healthcheck)
    case onbuild(OnbuildTrigger)
}
