import Foundation
import ImageSpec

/// Docker's three ways of saying a mount, each parsed to one `VolumeMount`.
extension VolumeMount {
    /// `-v [SOURCE:]TARGET[:OPTIONS]`: a SOURCE that is a path is a bind mount, otherwise a
    /// volume's name; no SOURCE is an anonymous volume. OPTIONS: `ro`, `rw` (and SELinux's `z`/`Z`,
    /// which mean nothing here).
    public static func parse(volume text: String) throws -> VolumeMount {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts.contains(where: \.isEmpty) else {
            throw StrataError(.invalidArgument, "invalid volume specification: '\(text)'")
        }
        var mount: VolumeMount
        switch parts.count {
        case 1: mount = VolumeMount(kind: .volume, source: "", target: parts[0], anonymous: true)
        default: mount = VolumeMount(kind: parts[0].hasPrefix("/") ? .bind : .volume, source: parts[0], target: parts[1])
        }
        if parts.count == 3 {
            for option in parts[2].split(separator: ",").map(String.init) {
                switch option {
                case "ro": mount.readOnly = true
                case "rw", "z", "Z": break
                default: throw StrataError(.invalidArgument, "invalid mode: \(option) in volume specification '\(text)'")
                }
            }
        }
        try mount.validate(text)
        return mount
    }

    /// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]`
    /// (`src`, `dst`, `destination` and `ro` as Docker spells them too).
    public static func parse(mount text: String) throws -> VolumeMount {
        var kind = Kind.volume, source = "", target = "", readOnly = false, options: [String] = []
        for field in text.split(separator: ",").map(String.init) {
            let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
            let key = pair[0].lowercased(), value = pair.count == 2 ? pair[1] : nil
            switch (key, value) {
            case ("type", let v?):
                guard let k = Kind(rawValue: v) else { throw StrataError(.invalidArgument, "invalid mount type \"\(v)\" in '\(text)': bind, volume or tmpfs") }
                kind = k
            case ("source", let v?), ("src", let v?): source = v
            case ("target", let v?), ("dst", let v?), ("destination", let v?): target = v
            case ("readonly", nil), ("ro", nil): readOnly = true
            case ("readonly", let v?), ("ro", let v?):
                guard let flag = ["true": true, "1": true, "false": false, "0": false][v] else {
                    throw StrataError(.invalidArgument, "invalid value for readonly: \(v)")
                }
                readOnly = flag
            case ("tmpfs-size", let v?): options.append("size=\(v)")
            case ("tmpfs-mode", let v?): options.append("mode=\(v)")
            default: throw StrataError(.invalidArgument, "unexpected key '\(key)' in '\(field)' of --mount '\(text)'")
            }
        }
        guard !target.isEmpty else { throw StrataError(.invalidArgument, "target is required in --mount '\(text)'") }
        var mount = VolumeMount(kind: kind, source: source, target: target, readOnly: readOnly, options: options)
        switch kind {
        case .bind where source.isEmpty: throw StrataError(.invalidArgument, "source is required when specifying a bind mount: '\(text)'")
        case .tmpfs where !source.isEmpty: throw StrataError(.invalidArgument, "source must not be given for a tmpfs mount: '\(text)'")
        case .volume where source.isEmpty: mount.anonymous = true
        default: break
        }
        if kind != .tmpfs, !options.isEmpty { throw StrataError(.invalidArgument, "tmpfs options are only for type=tmpfs: '\(text)'") }
        try mount.validate(text)
        return mount
    }

    /// `--tmpfs PATH[:OPTIONS]` (OPTIONS as mount(8)'s: `size=64m,mode=1777`).
    public static func parse(tmpfs text: String) throws -> VolumeMount {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let target = parts.first else { throw StrataError(.invalidArgument, "invalid tmpfs specification: '\(text)'") }
        var mount = VolumeMount(kind: .tmpfs, source: "", target: target)
        for option in parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : [] {
            if option == "ro" { mount.readOnly = true } else if option != "rw" { mount.options.append(option) }
        }
        try mount.validate(text)
        return mount
    }

    /// The checks every form shares: an absolute target that is not `/`, an absolute bind
    /// source, a volume name by Docker's rule.
    func validate(_ text: String) throws {
        guard target.hasPrefix("/") else {
            throw StrataError(.invalidArgument, "invalid mount config: the mount destination '\(target)' is not an absolute path ('\(text)')")
        }
        guard target.split(separator: "/").contains(where: { $0 != "." }) else {
            throw StrataError(.invalidArgument, "invalid specification: destination can't be '/' in '\(text)'")
        }
        if target.split(separator: "/").contains("..") {
            throw StrataError(.invalidArgument, "invalid mount config: the mount destination '\(target)' has '..' in it")
        }
        if kind == .bind, !source.hasPrefix("/") {
            throw StrataError(.invalidArgument, "invalid mount config for type \"bind\": the source path '\(source)' is not absolute")
        }
        if kind == .volume, !source.isEmpty, !VolumeStore.isValidName(source) {
            throw StrataError(.invalidArgument,
                "\"\(source)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")
        }
    }

    /// The target as a clean absolute path (`/data/` and `/data/./` are `/data`), so two mounts
    /// of one place are seen as one.
    var cleanTarget: String {
        "/" + target.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }
}
