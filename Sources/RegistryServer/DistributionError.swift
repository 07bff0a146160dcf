import Foundation
import HTTPTypes
import ImageSpec

/// An error as the distribution spec answers it: an HTTP status and a JSON body
/// `{"errors":[{"code":…,"message":…,"detail":…}]}` whose code a client decides on.
public struct DistributionError: Error, Sendable, CustomStringConvertible {
    /// The spec's error codes (distribution-spec "Error Codes"), plus distribution's
    /// `PAGINATION_NUMBER_INVALID` for an `n` no server would honour.
    public enum Code: String, Sendable {
        case blobUnknown = "BLOB_UNKNOWN"
        case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
        case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
        case digestInvalid = "DIGEST_INVALID"
        case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
        case manifestInvalid = "MANIFEST_INVALID"
        case manifestUnknown = "MANIFEST_UNKNOWN"
        case nameInvalid = "NAME_INVALID"
        case nameUnknown = "NAME_UNKNOWN"
        case sizeInvalid = "SIZE_INVALID"
        case unauthorized = "UNAUTHORIZED"
        case denied = "DENIED"
        case unsupported = "UNSUPPORTED"
        case tooManyRequests = "TOOMANYREQUESTS"
        case paginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
        /// Not a spec code: the server failed (disk, database); the message says how.
        case internalError = "INTERNAL_ERROR"
        /// Not a spec code: a pull-through cache has not got it and its upstream cannot be asked.
        case unavailable = "UNAVAILABLE"

        public var status: HTTPResponse.Status {
            switch self {
            case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: return .notFound
            case .unauthorized: return .unauthorized
            case .denied: return .forbidden
            case .unsupported: return .methodNotAllowed
            case .tooManyRequests: return .tooManyRequests
            case .internalError: return .internalServerError
            case .unavailable: return .serviceUnavailable
            case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid,
                 .sizeInvalid, .paginationNumberInvalid:
                return .badRequest
            }
        }
    }

    public var code: Code
    public var message: String
    /// Overrides the code's usual status (416 for a range or chunk out of order, 413 for a body too large).
    public var status: HTTPResponse.Status
    public var detail: String?
    /// Extra headers the answer carries (`Range` and `Location` with a 416 on an upload).
    public var headers: HTTPFields

    public init(_ code: Code, _ message: String, status: HTTPResponse.Status? = nil, detail: String? = nil, headers: HTTPFields = [:]) {
        self.code = code
        self.message = message
        self.status = status ?? code.status
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The JSON body the spec defines.
    public var body: [UInt8] {
        struct Entry: Encodable { var code: String; var message: String; var detail: String? }
        struct Document: Encodable { var errors: [Entry] }
        let document = Document(errors: [Entry(code: code.rawValue, message: message, detail: detail)])
        return Array((try? JSONCoding.encoder.encode(document)) ?? Data())
    }

    /// A Strata error met while serving, in the spec's terms: a bad digest stays `DIGEST_INVALID`,
    /// a missing blob `BLOB_UNKNOWN`; anything else is the server's own failure.
    public init(_ error: StrataError) {
        switch error.code {
        case .digestMismatch, .invalidDigest: self.init(.digestInvalid, error.message)
        case .sizeMismatch: self.init(.sizeInvalid, error.message)
        case .blobUnknown: self.init(.blobUnknown, error.message)
        case .invalidJSON, .unsupportedMediaType: self.init(.manifestInvalid, error.message)
        case .invalidReference: self.init(.nameInvalid, error.message)
        case .unauthorized: self.init(.unauthorized, error.message)
        case .denied: self.init(.denied, error.message)
        case .tooManyRequests: self.init(.tooManyRequests, error.message)
        // 503: clients (docker's push among them) try again, and by then another connection may serve.
        case .databaseUnavailable: self.init(.unavailable, error.message)
        // The operator's remedy is in the server's log; a client is told only that this copy is bad.
        case .damagedBlob: self.init(.internalError, "this registry's copy of the content is damaged: it is not served, and the server logged it")
        default: self.init(.internalError, error.message)
        }
    }
}
