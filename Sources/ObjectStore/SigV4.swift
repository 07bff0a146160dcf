import Crypto
import Foundation

/// AWS Signature Version 4: what every S3-compatible store (AWS, Ceph's RADOS Gateway, MinIO)
/// checks on each request. There is no Swift S3 SDK among the packages Strata builds from, and
/// the algorithm is small and fixed, so it is written here over swift-crypto's HMAC and pinned by
/// AWS's published vectors (Tests/ObjectStoreTests).
///
/// Paths and query items are given decoded and encoded once here, as S3 wants (a generic AWS
/// service would encode the path twice; S3 is the only service Strata talks to).
public struct SigV4: Sendable, Equatable {
    public struct Credentials: Sendable, Equatable, CustomStringConvertible {
        public var accessKey: String
        public var secretKey: String
        /// A temporary credential's token (`AWS_SESSION_TOKEN`), sent as `X-Amz-Security-Token`.
        public var sessionToken: String?

        public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
            self.accessKey = accessKey
            self.secretKey = secretKey
            self.sessionToken = sessionToken
        }

        /// The access key only: a secret printed by accident (a failed test, a log line) stays one.
        public var description: String { "Credentials(accessKey: \(accessKey), secretKey: <hidden>\(sessionToken == nil ? "" : ", sessionToken: <hidden>"))" }
    }

    /// The parts of a request that are signed.
    public struct Request: Sendable, Equatable {
        public var method: String
        /// Decoded: `/bucket/blobs/sha256/ab…`.
        public var path: String
        /// Decoded names and values, in the order they are sent.
        public var query: [(String, String)]
        /// Names as sent; every header here is signed. `Host` must be among them.
        public var headers: [(String, String)]

        public init(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
        }

        public static func == (a: Request, b: Request) -> Bool {
            a.method == b.method && a.path == b.path && a.query.elementsEqual(b.query, by: ==) && a.headers.elementsEqual(b.headers, by: ==)
        }

        /// The path and query as they go on the wire, encoded as they were signed.
        public var target: String {
            let path = SigV4.encode(self.path, slash: false)
            guard !query.isEmpty else { return path }
            return path + "?" + query.map { "\(SigV4.encode($0.0))=\(SigV4.encode($0.1))" }.joined(separator: "&")
        }
    }

    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The payload hash of a body that is not hashed (a stream, a presigned URL).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var credentials: Credentials
    public var region: String
    public var service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    // MARK: the steps, each as AWS names it

    public func canonicalRequest(_ request: Request, payloadHash: String) -> String {
        let encoded: [(String, String)] = request.query.map { (Self.encode($0.0), Self.encode($0.1)) }
        let sorted = encoded.sorted { a, b in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let query = sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let (headers, signed) = Self.canonicalHeaders(request.headers)
        return [request.method, Self.encode(request.path, slash: false), query, headers, signed, payloadHash].joined(separator: "\n")
    }

    /// `name:value\n` lines, lower-cased and sorted, values trimmed with inner runs of spaces
    /// made one, repeated names joined by commas in the order sent; and the `;`-joined names.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(trimmed)
        }
        let names = merged.keys.sorted()
        let lines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    public func scope(_ date: Date) -> String {
        "\(Self.day(date))/\(region)/\(service)/aws4_request"
    }

    public func stringToSign(canonicalRequest: String, date: Date) -> String {
        let hash = SHA256.hash(data: Data(canonicalRequest.utf8)).hex
        return [Self.algorithm, Self.timestamp(date), scope(date), hash].joined(separator: "\n")
    }

    public func signature(stringToSign: String, date: Date) -> String {
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretKey)".utf8))
        for part in [Self.day(date), region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key)).hex
    }

    // MARK: signing

    /// Adds `X-Amz-Date`, `X-Amz-Content-Sha256` (and the session token) to the request's
    /// headers, and returns the `Authorization` value that signs them all.
    public func sign(_ request: inout Request, payloadHash: String, date: Date) -> String {
        request.headers.append(("X-Amz-Date", Self.timestamp(date)))
        request.headers.append(("X-Amz-Content-Sha256", payloadHash))
        if let token = credentials.sessionToken { request.headers.append(("X-Amz-Security-Token", token)) }
        let canonical = canonicalRequest(request, payloadHash: payloadHash)
        let signature = signature(stringToSign: stringToSign(canonicalRequest: canonical, date: date), date: date)
        let signed = Self.canonicalHeaders(request.headers).1
        return "\(Self.algorithm) Credential=\(credentials.accessKey)/\(scope(date)), SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// A URL that lets whoever holds it make this one request until `expires` seconds after
    /// `date`, with nothing but the host signed: `X-Amz-*` query items and the signature.
    public func presign(_ request: Request, endpoint: String, expires: Int, date: Date) -> String {
        var request = request
        request.query += [("X-Amz-Algorithm", Self.algorithm),
                          ("X-Amz-Credential", "\(credentials.accessKey)/\(scope(date))"),
                          ("X-Amz-Date", Self.timestamp(date)),
                          ("X-Amz-Expires", String(expires))]
        if let token = credentials.sessionToken { request.query.append(("X-Amz-Security-Token", token)) }
        request.query.append(("X-Amz-SignedHeaders", Self.canonicalHeaders(request.headers).1))
        let canonical = canonicalRequest(request, payloadHash: Self.unsignedPayload)
        request.query.append(("X-Amz-Signature", signature(stringToSign: stringToSign(canonicalRequest: canonical, date: date), date: date)))
        return endpoint + request.target
    }

    // MARK: encoding and dates

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/`, in a path).
    public static func encode(_ text: String, slash: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where !slash:
                out.append("/")
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// `20150830T123600Z`.
    public static func timestamp(_ date: Date) -> String {
        let (y, mo, d, h, mi, s) = utc(date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", y, mo, d, h, mi, s)
    }

    static func day(_ date: Date) -> String { String(timestamp(date).prefix(8)) }

    private static func utc(_ date: Date) -> (Int, Int, Int, Int, Int, Int) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}

extension Sequence where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

extension SHA256.Digest {
    var hex: String { Array(self).hex }
}
