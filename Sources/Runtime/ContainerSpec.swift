import Foundation
import ImageSpec

/// What a container runs and how: fixed when it is created.
public struct ContainerSpec: Codable, Sendable, Equatable {
    public var args: [String]
    public var env: [String]
    public var workingDir: String
    public var user: String
    public var hostname: String
    public var network: Network
    public var autoRemove: Bool
    public var stopSignal: String
    /// Mounts beyond the defaults (a build's `RUN --mount`): binds and tmpfs.
    public var mounts: [RuntimeSpec.Mount]? = nil
    /// Docker's `Tty` and `OpenStdin` (`-t`, `-i`); nil in records made before they existed.
    public var tty: Bool? = nil
    public var openStdin: Bool? = nil
    /// `-v`, `--mount`, `--tmpfs` and the image's `VOLUME`s, volumes named (anonymous ones too).
    public var volumes: [VolumeMount]? = nil
    /// The entrypoint and command `args` was made of, and the image's labels (Docker's
    /// `Config`); nil in records made before they were kept.
    public var entrypoint: [String]? = nil
    public var cmd: [String]? = nil
    public var labels: [String: String]? = nil
    /// The user-defined network (`--network NAME`) when `network` is `bridge` and not the default.
    public var networkName: String? = nil
    /// `--add-host NAME:IP` lines for /etc/hosts; `--dns IP` for /etc/resolv.conf.
    public var extraHosts: [String]? = nil
    public var dns: [String]? = nil
    /// `-p`, `-P`: published ports (bridge only); a host port of 0 is chosen at each start.
    public var ports: [PortMapping]? = nil
    /// Limits and privileges; nil is Docker's defaults.
    public var hostConfig: HostConfig? = nil

    /// `bridge`: a namespace of its own on the `strata0` bridge (Docker's default); `host`: the
    /// host's; `none`: only a loopback.
    public enum Network: String, Codable, Sendable, CaseIterable { case bridge, host, none }
}

/// A container as the store records it.
public struct Container: Sendable, Equatable {
    public enum State: String, Sendable { case created, running, exited }

    public var id: String
    public var name: String
    public var imageID: Digest
    public var imageName: String
    public var created: Date
    public var driver: String
    public var spec: ContainerSpec
    public var state: State
    public var pid: Int32
    public var exitCode: Int32?
    public var started: Date?
    public var finished: Date?

    public var shortID: String { String(id.prefix(12)) }

    /// The command as `ps` shows it: arguments joined, those with spaces single-quoted.
    public var command: String {
        spec.args.map { arg in
            arg.isEmpty || arg.contains(where: { " \t'\"$".contains($0) }) ? "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'" : arg
        }.joined(separator: " ")
    }
}

/// Docker-style random names: adjective_surname.
enum ContainerNames {
    static let adjectives = ["admiring", "bold", "brave", "busy", "clever", "cool", "eager", "elegant", "focused", "gallant",
                             "happy", "jolly", "keen", "kind", "lucid", "nifty", "quirky", "relaxed", "serene", "sharp",
                             "silly", "stoic", "sweet", "tender", "vibrant", "wizardly", "youthful", "zealous"]
    static let names = ["albattani", "babbage", "bardeen", "curie", "darwin", "einstein", "euler", "feynman", "galois",
                        "hamilton", "hopper", "hypatia", "johnson", "kepler", "lamport", "lovelace", "meitner", "noether",
                        "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak"]

    static func random() -> String { "\(adjectives.randomElement()!)_\(names.randomElement()!)" }

    /// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
    static func isValid(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard u.count >= 2, u[0].isAlnum else { return false }
        return u.dropFirst().allSatisfy { $0.isAlnum || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}

extension UInt8 {
    var isAlnum: Bool { (self >= 48 && self <= 57) || (self >= 65 && self <= 90) || (self >= 97 && self <= 122) }
}
