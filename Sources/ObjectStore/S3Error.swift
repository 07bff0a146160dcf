import ImageSpec
import Registry

/// What an S3 store answered when it refused a request: its status, its error `Code`
/// (`NoSuchBucket`, `SignatureDoesNotMatch`…) and message, kept as the cause of the
/// `StrataError` a caller sees. Decide by `code`, never by the message.
public struct S3Error: Error, Sendable, Equatable, RetryClassifying, CustomStringConvertible {
    public var status: Int
    /// S3's error code; empty when the answer had no XML body (a HEAD's 404).
    public var code: String
    public var message: String
    public var requestID: String?
    public var method: String
    /// `bucket/key`, or `bucket`.
    public var resource: String

    public init(status: Int, code: String, message: String, requestID: String? = nil, method: String, resource: String) {
        self.status = status
        self.code = code
        self.message = message
        self.requestID = requestID
        self.method = method
        self.resource = resource
    }

    /// S3 asks to slow down with 503 `SlowDown`; 500s are worth another try, as AWS's SDKs do.
    public var isRetryable: Bool {
        status == 500 || status == 502 || status == 503 || status == 504 || code == "SlowDown" || code == "RequestTimeout"
    }

    public var description: String {
        "\(method) \(resource): \(status)\(code.isEmpty ? "" : " \(code)")\(message.isEmpty ? "" : ": \(message)")"
    }

    /// What a user does about it, for the codes a misconfiguration produces.
    var advice: String? {
        switch code {
        case "NoSuchBucket": return "the bucket does not exist: create it, or correct storage.bucket"
        case "InvalidAccessKeyId": return "the object store does not know this access key: check storage.access-key or AWS_ACCESS_KEY_ID"
        case "SignatureDoesNotMatch": return "the secret key is wrong: check storage.secret-key or AWS_SECRET_ACCESS_KEY"
        case "RequestTimeTooSkewed":
            return "this machine's clock differs from the object store's by more than 15 minutes: set the clock right (NTP), then try again"
        case "AccessDenied": return "the credentials may not do this: grant them access to the bucket"
        case "AuthorizationHeaderMalformed", "InvalidRegion", "IllegalLocationConstraintException":
            return "the region is wrong: set storage.region to the bucket's region"
        default: return nil
        }
    }
}

extension StrataError {
    /// The one message for an object store's refusal.
    static func objectStore(_ error: S3Error, endpoint: String) -> StrataError {
        var text = "object store \(endpoint) refused \(error.method) \(error.resource): "
        text += error.code.isEmpty ? "status \(error.status)" : "\(error.code)\(error.message.isEmpty ? "" : " (\(error.message))")"
        if let advice = error.advice { text += "; \(advice)" }
        return StrataError(error.code == "NoSuchKey" ? .blobUnknown : .objectStore, text, cause: error)
    }
}
