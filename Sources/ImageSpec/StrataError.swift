/// The one error type of Strata: a stable code a script can match on, and a message a person can act on.
public struct StrataError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: String, Sendable {
        case invalidReference = "INVALID_REFERENCE"
        case invalidDigest = "INVALID_DIGEST"
        case digestMismatch = "DIGEST_MISMATCH"
        case sizeMismatch = "SIZE_MISMATCH"
        case invalidJSON = "INVALID_JSON"
        case unsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
        case blobUnknown = "BLOB_UNKNOWN"
        case imageUnknown = "IMAGE_UNKNOWN"
        case imageInUse = "IMAGE_IN_USE"
        case ambiguous = "AMBIGUOUS"
        case invalidArchive = "INVALID_ARCHIVE"
        case invalidArgument = "INVALID_ARGUMENT"
        case io = "IO"
        case database = "DATABASE"
        case conflict = "CONFLICT"
        /// The registry wants credentials, or refused the ones given.
        case unauthorized = "UNAUTHORIZED"
        case manifestUnknown = "MANIFEST_UNKNOWN"
        case platformNotFound = "PLATFORM_NOT_FOUND"
        /// The registry could not be reached (DNS, connection refused, TLS).
        case unreachable = "REGISTRY_UNREACHABLE"
        /// Any other error a registry answered with.
        case registry = "REGISTRY_ERROR"
        /// A Dockerfile (or .dockerignore) that does not parse; the message names the line.
        case invalidDockerfile = "INVALID_DOCKERFILE"
        /// A build step failed (a RUN's non-zero exit, a missing stage or source).
        case buildFailed = "BUILD_FAILED"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension StrataError {
    /// An error from a failed system call, with errno translated.
    public static func posix(_ what: String, errno err: Int32) -> StrataError {
        StrataError(.io, "\(what): \(String(cString: strerror(err)))")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
