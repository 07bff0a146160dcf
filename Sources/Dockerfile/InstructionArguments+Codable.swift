// Encoded as a one-key object (`{"copy": {...}}`) so golden files stay readable;
// the synthesized form would nest every payload under "_0".
extension InstructionArguments: Codable {
    private enum CodingKeys: String, CodingKey {
        case from, run, cmd, entrypoint, shell, copy, add, env, label, arg, expose, volume
        case user, workdir, stopSignal, maintainer, healthcheck, onbuild
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = container.allKeys.first, container.allKeys.count == 1 else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "expected exactly one instruction key"))
        }
        switch key {
        case .from: self = .from(try container.decode(FromArguments.self, forKey: key))
        case .run: self = .run(try container.decode(RunArguments.self, forKey: key))
        case .cmd: self = .cmd(try container.decode(CommandForm.self, forKey: key))
        case .entrypoint: self = .entrypoint(try container.decode(CommandForm.self, forKey: key))
        case .shell: self = .shell(try container.decode([String].self, forKey: key))
        case .copy: self = .copy(try container.decode(CopyArguments.self, forKey: key))
        case .add: self = .add(try container.decode(CopyArguments.self, forKey: key))
        case .env: self = .env(try container.decode([KeyValuePair].self, forKey: key))
        case .label: self = .label(try container.decode([KeyValuePair].self, forKey: key))
        case .arg: self = .arg(try container.decode([ArgDeclaration].self, forKey: key))
        case .expose: self = .expose(try container.decode([String].self, forKey: key))
        case .volume: self = .volume(try container.decode([String].self, forKey: key))
        case .user: self = .user(try container.decode(String.self, forKey: key))
        case .workdir: self = .workdir(try container.decode(String.self, forKey: key))
        case .stopSignal: self = .stopSignal(try container.decode(String.self, forKey: key))
        case .maintainer: self = .maintainer(try container.decode(String.self, forKey: key))
        case .healthcheck: self = .healthcheck(try container.decode(Healthcheck.self, forKey: key))
        case .onbuild: self = .onbuild(try container.decode(OnbuildTrigger.self, forKey: key))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .from(let value): try container.encode(value, forKey: .from)
        case .run(let value): try container.encode(value, forKey: .run)
        case .cmd(let value): try container.encode(value, forKey: .cmd)
        case .entrypoint(let value): try container.encode(value, forKey: .entrypoint)
        case .shell(let value): try container.encode(value, forKey: .shell)
        case .copy(let value): try container.encode(value, forKey: .copy)
        case .add(let value): try container.encode(value, forKey: .add)
        case .env(let value): try container.encode(value, forKey: .env)
        case .label(let value): try container.encode(value, forKey: .label)
        case .arg(let value): try container.encode(value, forKey: .arg)
        case .expose(let value): try container.encode(value, forKey: .expose)
        case .volume(let value): try container.encode(value, forKey: .volume)
        case .user(let value): try container.encode(value, forKey: .user)
        case .workdir(let value): try container.encode(value, forKey: .workdir)
        case .stopSignal(let value): try container.encode(value, forKey: .stopSignal)
        case .maintainer(let value): try container.encode(value, forKey: .maintainer)
        case .healthcheck(let value): try container.encode(value, forKey: .healthcheck)
        case .onbuild(let value): try container.encode(value, forKey: .onbuild)
        }
    }
}
