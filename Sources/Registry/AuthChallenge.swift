/// One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its parameters,
/// e.g. `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"`.
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    public var isBearer: Bool { scheme.lowercased() == "bearer" }
    public var isBasic: Bool { scheme.lowercased() == "basic" }
    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    /// The scopes the registry asked for (space-separated in the header).
    public var scopes: [String] { parameters["scope"]?.split(separator: " ").map(String.init) ?? [] }

    /// Parses a header value, which may hold several challenges: `Basic realm="x", Bearer realm="y",service="z"`.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        var scanner = Scanner(Array(header.utf8))
        while true {
            scanner.skip { $0 == 0x20 || $0 == 0x09 || $0 == 0x2C }
            guard let scheme = scanner.token(), !scheme.isEmpty else { break }
            var challenge = AuthChallenge(scheme: scheme)
            // Parameters: name=value pairs separated by commas, until the next scheme (a token not followed by '=').
            while true {
                let mark = scanner.position
                scanner.skip { $0 == 0x20 || $0 == 0x09 || $0 == 0x2C }
                guard let name = scanner.token(), !name.isEmpty else { scanner.position = mark; break }
                scanner.skip { $0 == 0x20 || $0 == 0x09 }
                guard scanner.consume(0x3D) else { scanner.position = mark; break }  // '='
                scanner.skip { $0 == 0x20 || $0 == 0x09 }
                let value = scanner.quoted() ?? scanner.token() ?? ""
                challenge.parameters[name.lowercased()] = value
            }
            challenges.append(challenge)
        }
        return challenges
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while position < bytes.count, predicate(bytes[position]) { position += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// An RFC 7230 token (plus '/' so token68 values such as base64 survive).
        mutating func token() -> String? {
            let start = position
            while position < bytes.count {
                let b = bytes[position]
                let separator = b == 0x20 || b == 0x09 || b == 0x2C || b == 0x3D || b == 0x22
                if separator { break }
                position += 1
            }
            return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }

        /// A quoted string with backslash escapes.
        mutating func quoted() -> String? {
            guard consume(0x22) else { return nil }
            var out: [UInt8] = []
            while position < bytes.count {
                let b = bytes[position]
                position += 1
                if b == 0x5C, position < bytes.count { out.append(bytes[position]); position += 1; continue }
                if b == 0x22 { break }
                out.append(b)
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
