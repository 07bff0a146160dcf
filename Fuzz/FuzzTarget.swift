import Archive
import Dockerfile
import Foundation
import ImageSpec
import Registry
import RegistryServer
import StrataCLI

/// One parser under fuzzing: it is handed arbitrary bytes and must return (any error thrown is
/// an answer); a crash, a hang, a leak or a sanitizer report is a bug.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "tar") { bytes in
            let reader = TarReader(MemoryReader(bytes))
            for _ in 0..<10_000 {
                guard let header = try? reader.next() else { return }
                _ = header.name.description
                if (try? reader.bodyReader.copy(to: NullWriter())) == nil { return }
            }
        },
        FuzzTarget(name: "gzip") { bytes in inflate(bytes, .gzip) },
        FuzzTarget(name: "zstd") { bytes in inflate(bytes, .zstd) },
        FuzzTarget(name: "dockerfile") { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            _ = try? Dockerfile.parse(text)
            let expander = WordExpander()
            for line in text.split(separator: "\n").prefix(64) {
                _ = try? expander.expand(String(line), variables: ["A": "1", "PATH": "/bin", "EMPTY": ""])
            }
        },
        FuzzTarget(name: "dockerignore") { bytes in
            // Patterns, then after a NUL byte the paths to match.
            let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            guard let ignore = try? DockerIgnore(parsing: String(decoding: parts[0], as: UTF8.self)) else { return }
            let paths = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self).split(separator: "\n").map(String.init) : ["a/b", "Dockerfile", ".git/x"]
            for path in paths.prefix(64) { _ = ignore.excludes(path) }
        },
        FuzzTarget(name: "reference") { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            if let reference = try? Reference(parsing: text) { _ = (reference.familiarString, reference.description) }
            _ = try? Digest(parsing: text)
            _ = try? Platform(parsing: text)
        },
        FuzzTarget(name: "manifest") { bytes in
            _ = try? Manifest.decode(bytes)
            _ = try? JSONCoding.decode(Index.self, from: Data(bytes), what: "index")
            _ = try? ImageConfig.decode(bytes)
            _ = try? JSONCoding.decode(JSONValue.self, from: Data(bytes), what: "JSON")
        },
        FuzzTarget(name: "gotemplate") { bytes in
            guard let template = try? GoTemplate(String(decoding: bytes, as: UTF8.self)) else { return }
            _ = try? template.render(sample)
        },
        FuzzTarget(name: "www-authenticate") { bytes in
            for challenge in AuthChallenge.parse(String(decoding: bytes, as: UTF8.self)) { _ = (challenge.realm, challenge.scopes) }
        },
        FuzzTarget(name: "registry-route") { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            _ = RegistryRoute(path: text)
            _ = RegistryResponder.parseRange(text, size: 1 << 20)
            _ = try? RegistryResponder.parseContentRange(text)
        },
        FuzzTarget(name: "registry-upload") { bytes in UploadScript.run(bytes) },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    private static func inflate(_ bytes: [UInt8], _ compression: Compression) {
        guard let reader = try? Codecs.decompressing(MemoryReader(bytes), as: compression) else { return }
        _ = try? reader.copy(to: NullWriter(), bufferSize: 64 << 10)
    }

    /// What templates are rendered against: the shapes `inspect` and `images` hand them.
    static let sample: JSONValue = .object([
        "ID": .string("sha256:abc"), "Size": .int(1234), "Ratio": .double(0.5), "Tags": .array([.string("a:1"), .string("b:2")]),
        "Config": .object(["Env": .array([.string("A=1")]), "Labels": .object(["k": .string("v")]), "Cmd": .null]),
        "Running": .bool(true),
    ])
}
