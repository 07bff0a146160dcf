import ImageSpec

/// Where `strata copy` reads or writes an image, in skopeo's transport syntax.
public enum ImageLocation: Sendable, Equatable, CustomStringConvertible {
    /// `docker://NAME[:TAG|@DIGEST]`: a registry.
    case registry(Reference)
    /// `strata:NAME` (or a bare image name): the local store.
    case store(String)
    /// `oci:DIR[:REF]`: an OCI image layout directory.
    case ociLayout(path: String, reference: String?)
    /// `oci-archive:FILE[:REF]`: an OCI image layout in a tar.
    case ociArchive(path: String, reference: String?)
    /// `docker-archive:FILE[:NAME:TAG]`: `docker save`'s format.
    case dockerArchive(path: String, reference: String?)

    public init(parsing input: String) throws {
        func split(_ rest: Substring) throws -> (String, String?) {
            guard !rest.isEmpty else { throw StrataError(.invalidReference, "\"\(input)\": a path is required") }
            guard let colon = rest.firstIndex(of: ":") else { return (String(rest), nil) }
            let ref = String(rest[rest.index(after: colon)...])
            return (String(rest[..<colon]), ref.isEmpty ? nil : ref)
        }
        if input.hasPrefix("docker://") {
            self = .registry(try Reference(parsing: String(input.dropFirst(9))))
        } else if input.hasPrefix("strata:") {
            self = .store(String(input.dropFirst(7)))
        } else if input.hasPrefix("oci:") {
            let (path, ref) = try split(input.dropFirst(4))
            self = .ociLayout(path: path, reference: ref)
        } else if input.hasPrefix("oci-archive:") {
            let (path, ref) = try split(input.dropFirst(12))
            self = .ociArchive(path: path, reference: ref)
        } else if input.hasPrefix("docker-archive:") {
            let (path, ref) = try split(input.dropFirst(15))
            self = .dockerArchive(path: path, reference: ref)
        } else if let colon = input.firstIndex(of: ":"), !input[..<colon].contains("/"), !input[..<colon].contains("."),
                  input[input.index(after: colon)...].hasPrefix("/") || input[input.index(after: colon)...].hasPrefix(".") {
            throw StrataError(.invalidReference,
                "unknown transport \"\(input[..<colon])\" in \"\(input)\": use docker://, oci:, oci-archive:, docker-archive: or strata:")
        } else {
            self = .store(input)
        }
    }

    public var description: String {
        switch self {
        case .registry(let r): return "docker://\(r)"
        case .store(let n): return "strata:\(n)"
        case .ociLayout(let p, let r): return "oci:\(p)\(r.map { ":\($0)" } ?? "")"
        case .ociArchive(let p, let r): return "oci-archive:\(p)\(r.map { ":\($0)" } ?? "")"
        case .dockerArchive(let p, let r): return "docker-archive:\(p)\(r.map { ":\($0)" } ?? "")"
        }
    }
}
