/// The platform an image runs on (image-spec image-index.md, "platform").
public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os/arch[/variant]`.
    public init(parsing s: String) throws {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw StrataError(.invalidArgument, "invalid platform \"\(s)\": expected OS/ARCH[/VARIANT], e.g. linux/amd64")
        }
        self.init(os: parts[0], architecture: Platform.normalizeArchitecture(parts[1]), variant: parts.count == 3 ? parts[2] : nil)
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// The platform of this process, in Go's GOARCH names.
    public static var host: Platform {
        #if arch(x86_64)
        return Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        return Platform(os: "linux", architecture: "arm64", variant: "v8")
        #else
        return Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// Go's GOARCH name for an architecture as `uname -m` or a user spells it.
    public static func normalizeArchitecture(_ a: String) -> String {
        switch a {
        case "x86_64", "x86-64": return "amd64"
        case "aarch64": return "arm64"
        case "i386", "i486", "i586", "i686": return "386"
        default: return a
        }
    }
}
