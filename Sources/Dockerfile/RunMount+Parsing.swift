import ImageSpec

extension RunMount {
    /// Parses the CSV value of `--mount` (`type=cache,target=/root/.cache,sharing=locked,ro`).
    static func parse(_ value: String) throws(DockerfileSyntaxError) -> RunMount {
        var mount = RunMount(type: .bind)
        var readOnlyGiven = false
        for field in try csvFields(value) {
            let key: String
            let fieldValue: String?
            if let equals = field.firstIndex(of: "=") {
                key = field[..<equals].lowercased()
                fieldValue = String(field[field.index(after: equals)...])
            } else {
                key = field.lowercased()
                fieldValue = nil
            }
            guard let fieldValue else {
                switch key {
                case "ro", "readonly": mount.readOnly = true; readOnlyGiven = true
                case "rw", "readwrite": mount.readOnly = false; readOnlyGiven = true
                case "required":
                    guard mount.type == .secret || mount.type == .ssh else {
                        throw DockerfileSyntaxError("unexpected key '\(key)' for mount type '\(mount.type.rawValue)'")
                    }
                    mount.required = true
                default: throw DockerfileSyntaxError("unexpected key '\(key)' in '\(field)'")
                }
                continue
            }
            switch key {
            case "type":
                guard let type = MountType(rawValue: fieldValue.lowercased()) else {
                    throw DockerfileSyntaxError("unsupported mount type \"\(fieldValue)\"")
                }
                mount.type = type
            case "from":
                if let dollar = fieldValue.firstIndex(of: "$"), dollar != fieldValue.indices.last {
                    throw DockerfileSyntaxError(
                        "'from' doesn't support variable expansion, define alias stage instead")
                }
                mount.from = fieldValue
            case "source", "src": mount.source = fieldValue
            case "target", "dst", "destination", "dest": mount.target = fieldValue
            case "readonly", "ro", "readwrite", "rw":
                guard let flag = parseBool(fieldValue) else {
                    throw DockerfileSyntaxError("invalid value for \(key): \(fieldValue)")
                }
                mount.readOnly = key == "ro" || key == "readonly" ? flag : !flag
                readOnlyGiven = true
            case "required":
                guard mount.type == .secret || mount.type == .ssh else {
                    throw DockerfileSyntaxError("unexpected key '\(key)' for mount type '\(mount.type.rawValue)'")
                }
                guard let flag = parseBool(fieldValue) else {
                    throw DockerfileSyntaxError("invalid value for \(key): \(fieldValue)")
                }
                mount.required = flag
            case "size":
                guard mount.type == .tmpfs else {
                    throw DockerfileSyntaxError("unexpected key '\(key)' for mount type '\(mount.type.rawValue)'")
                }
                guard let bytes = Units.ramInBytes(fieldValue) else {
                    throw DockerfileSyntaxError("invalid value for \(key): \(fieldValue)")
                }
                mount.size = bytes
            case "id": mount.id = fieldValue
            case "sharing":
                guard let sharing = Sharing(rawValue: fieldValue.lowercased()) else {
                    throw DockerfileSyntaxError("unsupported sharing value \"\(fieldValue)\"")
                }
                mount.sharing = sharing
            case "mode":
                guard let mode = UInt32(fieldValue, radix: 8) else {
                    throw DockerfileSyntaxError("invalid value \(fieldValue) for mode")
                }
                mount.mode = mode
            case "uid", "gid":
                guard let id = UInt32(fieldValue) else {
                    throw DockerfileSyntaxError("invalid value \(fieldValue) for \(key)")
                }
                if key == "uid" { mount.uid = id } else { mount.gid = id }
            case "env": mount.env = fieldValue
            default: throw DockerfileSyntaxError("unexpected key '\(key)' in '\(field)'")
            }
        }
        try mount.validate(readOnlyGiven: readOnlyGiven)
        return mount
    }

    private mutating func validate(readOnlyGiven: Bool) throws(DockerfileSyntaxError) {
        if ![.secret, .ssh, .cache].contains(type) {
            for (name, value) in [("mode", mode), ("uid", uid), ("gid", gid)] where value != nil {
                throw DockerfileSyntaxError("\(name) not allowed for \"\(type.rawValue)\" type mounts")
            }
        }
        if !readOnlyGiven { readOnly = !(type == .cache || type == .tmpfs) }
        if type == .secret {
            if from != nil { throw DockerfileSyntaxError("secret mount should not have a from") }
            if sharing != nil { throw DockerfileSyntaxError("secret mount should not define sharing") }
            if source == nil, target == nil, id == nil, env == nil {
                throw DockerfileSyntaxError("invalid secret mount. one of source, target required")
            }
            if source != nil, id != nil { throw DockerfileSyntaxError("both source and id can't be set") }
        }
        if sharing != nil, type != .cache {
            throw DockerfileSyntaxError("invalid cache sharing set for \(type.rawValue) mount")
        }
        // BuildKit applies `shared` when dispatching; making it explicit keeps the value self-describing.
        if type == .cache, sharing == nil { sharing = .shared }
    }

    /// Go's strconv.ParseBool.
    private static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// One CSV record as Go's encoding/csv reads it: `"..."` quoting with `""` for a quote.
    private static func csvFields(_ text: String) throws(DockerfileSyntaxError) -> [String] {
        var fields: [String] = []
        var field = ""
        var index = text.startIndex
        var atFieldStart = true
        var quoted = false
        while index < text.endIndex {
            let character = text[index]
            index = text.index(after: index)
            if quoted {
                if character == "\"" {
                    if index < text.endIndex, text[index] == "\"" {
                        field.append("\"")
                        index = text.index(after: index)
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "," {
                fields.append(field)
                field = ""
                atFieldStart = true
                continue
            } else if character == "\"" {
                guard atFieldStart else {
                    throw DockerfileSyntaxError("failed to parse csv mounts: bare \" in non-quoted-field")
                }
                quoted = true
            } else {
                field.append(character)
            }
            atFieldStart = false
        }
        if quoted { throw DockerfileSyntaxError("failed to parse csv mounts: extraneous or missing \" in quoted-field") }
        fields.append(field)
        return fields
    }
}
