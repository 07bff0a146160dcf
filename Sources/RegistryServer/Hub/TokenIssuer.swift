import Crypto
import Foundation
import ImageSpec
import JWTKit

/// The claims of a registry bearer token, in the shape of the distribution token spec: who
/// (`sub`, empty for an anonymous caller), for which service (`aud`), until when, and the
/// `access` granted — the intersection of what was asked and what the caller may do.
public struct RegistryTokenClaims: JWTPayload, Equatable {
    public var iss: IssuerClaim
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim
    public var iat: IssuedAtClaim
    public var jti: IDClaim
    public var access: [ResourceActions]
    /// The access token the caller signed in with, if any: its limits explain a refusal.
    public var tok: String?

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf.verifyNotBefore()
    }

    public var user: String? { sub.value.isEmpty ? nil : sub.value }

    /// Whether the token grants `action` on `repository` (names compared as Docker normalises them).
    public func allows(_ action: RepositoryAction, on repository: String) -> Bool {
        let name = RegistryStorage.canonical(repository)
        return access.contains { $0.type == "repository" && RegistryStorage.canonical($0.name) == name && $0.actions.contains(action.rawValue) }
    }

    public func allows(registry name: String) -> Bool {
        access.contains { $0.type == "registry" && $0.name == name && !$0.actions.isEmpty }
    }
}

/// One entry of a token's `access` claim: `{"type":"repository","name":"alice/app","actions":["pull","push"]}`.
public struct ResourceActions: Codable, Sendable, Equatable {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    /// `repository:alice/app:pull,push` (or `registry:catalog:*`), as a `scope` parameter writes one.
    /// The name is what lies between the first and the last colon.
    public init?(scope: Substring) {
        guard let first = scope.firstIndex(of: ":"), let last = scope.lastIndex(of: ":"), first < last else { return nil }
        var type = String(scope[..<first])
        // `repository(plugin)` is a repository too.
        if type.hasPrefix("repository(") { type = "repository" }
        self.init(type: type, name: String(scope[scope.index(after: first)..<last]),
                  actions: scope[scope.index(after: last)...].split(separator: ",").map(String.init))
    }

    public var scope: String { "\(type):\(name):\(actions.joined(separator: ","))" }
}

/// Signs and checks the registry's bearer tokens: ES256, with a key kept in a PEM file (made on
/// first start, mode 0600). Replicas that share the file accept each other's tokens.
public final class TokenIssuer: Sendable {
    public let service: String
    public let issuer: String
    public let lifetime: TimeInterval
    private let keys: JWTKeyCollection
    private let keyID: JWKIdentifier

    public init(keyFile: String, service: String, issuer: String = "strata-registry", lifetime: TimeInterval = 300) async throws {
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        let key = try Self.loadOrCreateKey(keyFile)
        keyID = JWKIdentifier(string: Self.keyID(key.publicKey))
        keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(backing: key), kid: keyID)
    }

    /// A token for `user` (nil: anonymous) granting `access`.
    public func issue(user: String?, access: [ResourceActions], tokenID: String? = nil, now: Date = Date()) async throws -> (token: String, expiresIn: Int) {
        // Whole seconds: distribution's checks read NumericDate as an integer.
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        var random = SystemRandomNumberGenerator()
        let claims = RegistryTokenClaims(
            iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: user ?? ""), aud: AudienceClaim(value: [service]),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)), nbf: NotBeforeClaim(value: now.addingTimeInterval(-5)),
            iat: IssuedAtClaim(value: now), jti: IDClaim(value: String(random.next(), radix: 36) + String(random.next(), radix: 36)),
            access: access, tok: tokenID)
        return (try await keys.sign(claims, kid: keyID), Int(lifetime))
    }

    /// The claims of a token this issuer signed for this service, or a `.unauthorized` error
    /// that says what is wrong with it (expired, forged, for another service).
    public func verify(_ token: String) async throws -> RegistryTokenClaims {
        let claims: RegistryTokenClaims
        do {
            claims = try await keys.verify(token, as: RegistryTokenClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw StrataError(.unauthorized, "the bearer token has expired: fetch a new one from the token endpoint", cause: error)
        } catch {
            throw StrataError(.unauthorized, "the bearer token is not one this registry signed", cause: error)
        }
        guard claims.iss.value == issuer, claims.aud.value.contains(service) else {
            throw StrataError(.unauthorized, "the bearer token is for another service than \(service)")
        }
        return claims
    }

    static func loadOrCreateKey(_ path: String) throws -> P256.Signing.PrivateKey {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            do { return try P256.Signing.PrivateKey(pemRepresentation: text) } catch {
                throw StrataError(.invalidArgument, "token signing key \(path) is not a PEM P-256 private key: \(error)", cause: error)
            }
        }
        let key = P256.Signing.PrivateKey()
        // Written whole under a temporary name, then renamed: a half-written key is never read.
        let temporary = "\(path).new-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw StrataError(.io, "cannot write the token signing key \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw StrataError.posix("cannot create the token signing key \(path)", errno: code)
        }
        return key
    }

    /// The key's id in libtrust's format, which distribution's token checks expect in `kid`: the
    /// first 240 bits of the SHA-256 of its DER public key, in base32, in groups of four.
    static func keyID(_ key: P256.Signing.PublicKey) -> String {
        let digest = Array(SHA256.hash(data: key.derRepresentation)).prefix(30)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0, value = 0, characters: [Character] = []
        for byte in digest {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                characters.append(alphabet[(value >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        return stride(from: 0, to: characters.count, by: 4).map { String(characters[$0..<min($0 + 4, characters.count)]) }.joined(separator: ":")
    }
}
