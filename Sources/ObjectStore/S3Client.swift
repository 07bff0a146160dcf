import AsyncHTTPClient
import Crypto
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1
import Registry

/// The S3 operations a registry's blobs need — objects whole and by range, multipart uploads,
/// server-side copies, listings, presigned GETs — over Strata's one HTTP stack (`HTTPTransport`:
/// its pools, timeouts and retries of dropped connections and 5xx answers).
///
/// Every refusal is a `StrataError` whose cause is an `S3Error` (code `NoSuchBucket`,
/// `SignatureDoesNotMatch`…) and whose message says what to fix; an endpoint that does not answer
/// is `.unreachable`, with the transport's `ConnectionFailure`.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    let transport: HTTPTransport
    let signer: SigV4
    /// The signing clock; a test skews it to see the store refuse.
    let clock: @Sendable () -> Date
    public static let timeout: TimeAmount = .minutes(10)

    public init(_ configuration: S3Configuration, transport: HTTPTransport = .shared, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.transport = transport
        self.clock = clock
        signer = SigV4(credentials: configuration.credentials, region: configuration.region)
    }

    public struct Object: Sendable, Equatable {
        public var key: String
        public var size: Int64
        /// Without quotes. A multipart object's is not an MD5 (`…-3`).
        public var etag: String
        /// When it was written, by the store's clock (listings only).
        public var modified: Date? = nil
    }

    public struct Part: Sendable, Equatable, Codable {
        public var number: Int
        public var etag: String
        public init(number: Int, etag: String) {
            self.number = number
            self.etag = etag
        }
    }

    // MARK: objects

    /// The object's size and ETag, or nil when there is none.
    public func head(_ key: String) async throws -> Object? {
        do {
            let response = try await send("HEAD", key: key)
            return Object(key: key, size: Int64(response.headers.first(name: "Content-Length") ?? "") ?? 0, etag: Self.etag(response.headers))
        } catch let error as StrataError where error.cause(as: S3Error.self)?.status == 404 {
            // A HEAD's 404 has no body to tell a missing key from a missing bucket (`checkBucket` does).
            return nil
        }
    }

    /// The object's bytes from `range` (all when nil), as they arrive; `NoSuchKey` is `.blobUnknown`.
    public func get(_ key: String, range: ClosedRange<Int64>? = nil) async throws -> (Object, HTTPClientResponse.Body) {
        var headers: [(String, String)] = []
        if let range { headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        let response = try await send("GET", key: key, headers: headers, readBody: false)
        let size = Int64(response.headers.first(name: "Content-Length") ?? "") ?? 0
        return (Object(key: key, size: size, etag: Self.etag(response.headers)), response.body)
    }

    /// A small object whole (a manifest), or nil when there is none.
    public func bytes(_ key: String, limit: Int = 64 << 20) async throws -> [UInt8]? {
        do {
            let (_, body) = try await get(key)
            return Array(buffer: try await body.collect(upTo: limit))
        } catch let error as StrataError where error.cause(as: S3Error.self)?.code == "NoSuchKey" {
            return nil
        }
    }

    /// Writes an object from memory, its SHA-256 signed so the store rejects a body changed on the way.
    public func put(_ key: String, _ bytes: [UInt8], contentType: String = "application/octet-stream") async throws {
        _ = try await send("PUT", key: key, headers: [("Content-Type", contentType)], body: bytes)
    }

    /// Deletes an object; one that is not there is not an error (S3 answers 204 either way).
    public func delete(_ key: String) async throws {
        _ = try await send("DELETE", key: key)
    }

    /// Copies an object inside the bucket, on the store (up to 5 GiB, S3's limit for one copy).
    public func copy(_ source: String, to key: String) async throws {
        let from = "/\(configuration.bucket)/\(configuration.prefix)\(source)"
        _ = try await send("PUT", key: key, headers: [("X-Amz-Copy-Source", SigV4.encode(from, slash: false))])
    }

    // MARK: multipart uploads

    public func startMultipart(_ key: String) async throws -> String {
        let response = try await send("POST", key: key, query: [("uploads", "")])
        guard let id = S3XML.value("UploadId", in: response.text), !id.isEmpty else {
            throw StrataError(.objectStore, "object store \(configuration.endpoint) answered CreateMultipartUpload for \(key) without an UploadId")
        }
        return id
    }

    public func uploadPart(_ key: String, uploadID: String, number: Int, _ bytes: [UInt8]) async throws -> Part {
        let response = try await send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: bytes)
        return Part(number: number, etag: Self.etag(response.headers))
    }

    /// Joins the parts into the object. S3 may refuse after its 200 (the error is in the body);
    /// that is an error here too.
    public func completeMultipart(_ key: String, uploadID: String, parts: [Part]) async throws {
        let xml = "<CompleteMultipartUpload>" + parts.map {
            "<Part><PartNumber>\($0.number)</PartNumber><ETag>\"\(S3XML.escape($0.etag))\"</ETag></Part>"
        }.joined() + "</CompleteMultipartUpload>"
        _ = try await send("POST", key: key, query: [("uploadId", uploadID)], headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
    }

    /// Drops an unfinished upload and its parts; one already gone is not an error.
    public func abortMultipart(_ key: String, uploadID: String) async throws {
        do {
            _ = try await send("DELETE", key: key, query: [("uploadId", uploadID)])
        } catch let error as StrataError where error.cause(as: S3Error.self)?.code == "NoSuchUpload" {}
    }

    // MARK: listing and the bucket

    /// One page of the keys under `prefix` (below the configured prefix), in lexical order.
    public func list(prefix: String, continuation: String? = nil, limit: Int = 1000) async throws -> (objects: [Object], next: String?) {
        var query = [("list-type", "2"), ("prefix", configuration.prefix + prefix), ("max-keys", String(limit))]
        if let continuation { query.append(("continuation-token", continuation)) }
        let response = try await send("GET", key: nil, query: query)
        let text = response.text
        let objects = S3XML.elements("Contents", in: text).compactMap { record -> Object? in
            let record = String(record)
            guard let key = S3XML.value("Key", in: record), key.hasPrefix(configuration.prefix) else { return nil }
            return Object(key: String(key.dropFirst(configuration.prefix.count)), size: Int64(S3XML.value("Size", in: record) ?? "") ?? 0,
                          etag: (S3XML.value("ETag", in: record) ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
                          modified: S3XML.value("LastModified", in: record).flatMap(Self.parseTimestamp))
        }
        let truncated = S3XML.value("IsTruncated", in: text) == "true"
        return (objects, truncated ? S3XML.value("NextContinuationToken", in: text) : nil)
    }

    /// Every key under `prefix`, page by page.
    public func listAll(prefix: String) async throws -> [Object] {
        var all: [Object] = []
        var next: String?
        repeat {
            let page = try await list(prefix: prefix, continuation: next)
            all += page.objects
            next = page.next
        } while next != nil
        return all
    }

    /// Succeeds when the bucket exists and these credentials may use it; else says which is wrong.
    public func checkBucket() async throws {
        // A listing, not a HEAD: its error has a body that names the problem.
        _ = try await send("GET", key: nil, query: [("list-type", "2"), ("max-keys", "1")])
    }

    public func createBucket() async throws {
        do {
            _ = try await send("PUT", key: nil)
        } catch let error as StrataError where error.cause(as: S3Error.self)?.code == "BucketAlreadyOwnedByYou" {}
    }

    // MARK: presigned URLs

    /// A URL that GETs the object without credentials for `expires` seconds (S3 allows up to 7 days).
    public func presignedGET(_ key: String, expires: Int = 900) -> String {
        let (url, host, path) = target(key)
        return signer.presign(SigV4.Request(method: "GET", path: path, headers: [("Host", host)]), endpoint: url, expires: expires, date: clock())
    }

    // MARK: requests

    struct Answer {
        var headers: HTTPHeaders
        var body: HTTPClientResponse.Body
        var collected: [UInt8]
        var text: String { String(decoding: collected, as: UTF8.self) }
    }

    /// The scheme and host to send to, the `Host` header, and the decoded path of `key` (nil: the bucket).
    func target(_ key: String?) -> (String, String, String) {
        let url = URL(string: configuration.endpoint)!
        let scheme = url.scheme ?? "https"
        // A scheme's default port is not part of the Host a client sends, so it is not signed either.
        let port = url.port.flatMap { (scheme == "https" && $0 == 443) || (scheme == "http" && $0 == 80) ? nil : ":\($0)" } ?? ""
        let object = key.map { configuration.prefix + $0 } ?? ""
        if configuration.pathStyle {
            return ("\(scheme)://\(url.host!)\(port)", "\(url.host!)\(port)", "/\(configuration.bucket)" + (key == nil ? "" : "/\(object)"))
        }
        let host = "\(configuration.bucket).\(url.host!)\(port)"
        return ("\(scheme)://\(host)", host, "/\(object)")
    }

    /// Signs and sends one request; a refusal (status 300 and up, or an `<Error>` in a 200) throws.
    @discardableResult
    func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
              body: [UInt8]? = nil, readBody: Bool = true) async throws -> Answer {
        let (base, host, path) = target(key)
        let payloadHash = body.map { SHA256.hash(data: $0).hex } ?? SigV4.emptyPayload
        let resource = configuration.bucket + (key.map { "/\(configuration.prefix)\($0)" } ?? "")
        var request = SigV4.Request(method: method, path: path, query: query, headers: [("Host", host)] + headers)
        if let body { request.headers.append(("Content-Length", String(body.count))) }
        // Signed once: a retry comes within minutes, and S3 accepts a signature for 15.
        let authorization = signer.sign(&request, payloadHash: payloadHash, date: clock())
        // The Host signed is the Host sent (the HTTP client would write its own otherwise, without
        // an IPv6 address's brackets); the Content-Length is the body's, as the client writes it.
        var fields = HTTPHeaders(request.headers.filter { $0.0 != "Content-Length" })
        fields.add(name: "Authorization", value: authorization)
        let buffer = body.map { ByteBuffer(bytes: $0) }
        let response: HTTPClientResponse
        do {
            // S3 asks for another try with 500 InternalError as well as 503 SlowDown.
            response = try await transport.send(HTTPMethod(rawValue: method), base + request.target, headers: fields,
                                                body: buffer.map { buffer in { @Sendable in .bytes(buffer) } },
                                                timeout: Self.timeout, alsoRetrying: [500])
        } catch let failure as ConnectionFailure {
            throw StrataError(.unreachable, "cannot reach the object store at \(configuration.endpoint) (\(method) \(resource)): \(failure.reason)", cause: failure)
        }
        let status = Int(response.status.code)
        let wantsBody = readBody || status >= 300
        // A listing of 1,000 long keys is well under 16 MiB.
        let collected = wantsBody ? Array(buffer: try await response.body.collect(upTo: 16 << 20)) : []
        let answer = Answer(headers: response.headers, body: response.body, collected: collected)
        let text = answer.text
        // CopyObject and CompleteMultipartUpload can fail after their 200, with an <Error> body.
        if status >= 300 || (readBody && text.contains("<Error>")) {
            let code = S3XML.value("Code", in: text) ?? (status == 404 && key == nil ? "NoSuchBucket" : "")
            let error = S3Error(status: status, code: code, message: S3XML.value("Message", in: text) ?? "",
                                requestID: S3XML.value("RequestId", in: text) ?? response.headers.first(name: "x-amz-request-id"),
                                method: method, resource: resource)
            throw StrataError.objectStore(error, endpoint: configuration.endpoint)
        }
        return answer
    }

    /// `2026-12-07T12:00:00.000Z`, with or without the fraction.
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func etag(_ headers: HTTPHeaders) -> String {
        (headers.first(name: "ETag") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}
