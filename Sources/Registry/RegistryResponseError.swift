import Foundation
import ImageSpec
import NIOHTTP1

/// What a server answered when it did not do what was asked: the status, the request it answered
/// (method, host and path — never the query, which may carry a storage signature, nor any
/// header), the OCI distribution error codes of its body, and `Retry-After`. The cause of every
/// `StrataError` a registry answer turns into; retries are decided on it.
public struct RegistryResponseError: Error, Sendable, Equatable, RetryClassifying, CustomStringConvertible {
    /// One entry of `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…","detail":…}]}`.
    public struct Entry: Sendable, Equatable {
        public var code: String
        public var message: String
        public var detail: JSONValue?

        public init(code: String, message: String, detail: JSONValue? = nil) {
            self.code = code
            self.message = message
            self.detail = detail
        }
    }

    public var status: Int
    public var method: String
    public var host: String
    public var path: String
    public var errors: [Entry]
    /// Seconds the server asked to wait before the next attempt.
    public var retryAfter: Double?

    public init(status: Int, method: String, url: String, errors: [Entry] = [], retryAfter: Double? = nil) {
        self.status = status
        self.method = method
        (host, path) = Self.hostAndPath(url)
        self.errors = errors
        self.retryAfter = retryAfter
    }

    /// Reads an answer: the error document of its body, its `Retry-After`.
    public init(status: Int, method: String, url: String, headers: HTTPHeaders, body: [UInt8]) {
        self.init(status: status, method: method, url: url, errors: Self.parseErrors(body),
                  retryAfter: headers.first(name: "Retry-After").flatMap { Self.parseRetryAfter($0) })
    }

    /// Too many requests, and gateways or backends that are briefly unavailable: the answers worth
    /// another try (as skopeo and containerd retry). Any other 4xx is final; so is a 500, a fault
    /// of the server that the same request will meet again.
    public static func isRetryable(status: Int) -> Bool { [429, 502, 503, 504].contains(status) }

    public var isRetryable: Bool { Self.isRetryable(status: status) }

    /// Whether the body named this OCI error code (`MANIFEST_UNKNOWN`, `DENIED`, …).
    public func has(_ code: String) -> Bool { errors.contains { $0.code == code } }

    /// The errors as Docker prints them: `manifest unknown: manifest unknown`.
    public var details: String {
        errors.map { e in
            let code = e.code.lowercased().replacingOccurrences(of: "_", with: " ")
            return [code, e.message].filter { !$0.isEmpty }.joined(separator: ": ")
        }.joined(separator: "; ")
    }

    public var description: String {
        let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
        return "\(method) \(host)\(path): \(status) \(reason)" + (details.isEmpty ? "" : ": \(details)")
    }

    // MARK: parsing

    /// The error document of a body; empty when the body is not one (a proxy's HTML page, say).
    static func parseErrors(_ body: [UInt8]) -> [Entry] {
        struct Document: Decodable {
            struct Item: Decodable { var code: String?; var message: String?; var detail: JSONValue? }
            var errors: [Item]?
        }
        guard !body.isEmpty, let document = try? JSONDecoder().decode(Document.self, from: Data(body)) else { return [] }
        return (document.errors ?? []).map { Entry(code: $0.code ?? "", message: $0.message ?? "", detail: $0.detail) }
    }

    /// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §10.2.3), in seconds from now.
    static func parseRetryAfter(_ value: String, now: Date = Date()) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return seconds >= 0 ? Double(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// `https://user@host:5000/v2/x?digest=…` → (`host:5000`, `/v2/x`).
    static func hostAndPath(_ url: String) -> (String, String) {
        guard let components = URLComponents(string: url), let host = components.host else {
            return ("", String(url.prefix { $0 != "?" }))
        }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return (components.port.map { "\(shownHost):\($0)" } ?? shownHost, components.percentEncodedPath)
    }
}
