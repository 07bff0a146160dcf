import Crypto

/// The hash algorithms the OCI image spec registers (image-spec descriptor.md, "Registered algorithms").
public enum DigestAlgorithm: String, Sendable, Codable, CaseIterable {
    case sha256
    case sha512

    /// Length of the lowercase hex encoding.
    public var hexLength: Int { self == .sha256 ? 64 : 128 }
}

/// A content digest, `algorithm:hex`, validated on construction: a `Digest` value is always well formed.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let algorithm: DigestAlgorithm
    /// Lowercase hex.
    public let encoded: String

    public init(algorithm: DigestAlgorithm, encoded: String) throws {
        guard encoded.utf8.count == algorithm.hexLength,
              encoded.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw StrataError(.invalidDigest,
                "invalid digest \"\(algorithm.rawValue):\(encoded)\": \(algorithm.rawValue) needs \(algorithm.hexLength) lowercase hex characters")
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`.
    public init(parsing string: String) throws {
        guard let colon = string.firstIndex(of: ":") else {
            throw StrataError(.invalidDigest, "invalid digest \"\(string)\": expected ALGORITHM:HEX, e.g. sha256:…")
        }
        let name = String(string[..<colon])
        guard let algorithm = DigestAlgorithm(rawValue: name) else {
            throw StrataError(.invalidDigest, "invalid digest \"\(string)\": unsupported algorithm \"\(name)\" (sha256 and sha512 are supported)")
        }
        try self.init(algorithm: algorithm, encoded: String(string[string.index(after: colon)...]))
    }

    public var description: String { "\(algorithm.rawValue):\(encoded)" }
    /// The 12-character short form Docker shows.
    public var short: String { String(encoded.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { a.description < b.description }

    public static func sha256<B: Sequence>(of bytes: B) -> Digest where B.Element == UInt8 {
        var d = Digester(.sha256)
        let array = Array(bytes)
        array.withUnsafeBytes { d.update($0) }
        return d.finalize()
    }
}

extension Digest: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        do { try self.init(parsing: s) } catch let e as StrataError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: e.message)
        }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Incremental hashing for either algorithm, at hardware speed (BoringSSL through swift-crypto).
public struct Digester: Sendable {
    private enum State: Sendable { case sha256(SHA256), sha512(SHA512) }
    private var state: State
    public let algorithm: DigestAlgorithm

    public init(_ algorithm: DigestAlgorithm = .sha256) {
        self.algorithm = algorithm
        state = algorithm == .sha256 ? .sha256(SHA256()) : .sha512(SHA512())
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        Trace.measure(.hash) {
            switch state {
            case .sha256(var h): h.update(bufferPointer: bytes); state = .sha256(h)
            case .sha512(var h): h.update(bufferPointer: bytes); state = .sha512(h)
            }
        }
    }

    public func finalize() -> Digest {
        let hex: String
        switch state {
        case .sha256(let h): hex = Self.hex(h.finalize())
        case .sha512(let h): hex = Self.hex(h.finalize())
        }
        // The encoding is produced here, so it is valid by construction.
        return try! Digest(algorithm: algorithm, encoded: hex)
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(128)
        for b in digest { out.append(table[Int(b >> 4)]); out.append(table[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
