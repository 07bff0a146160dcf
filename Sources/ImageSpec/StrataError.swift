/// The one error type of Strata: a stable code a script (or a caller) decides on, a message a
/// person can act on, and what happened underneath — the system call's errno, the registry's
/// HTTP status and error codes, the runtime's stderr — kept as a typed `cause`.
///
/// Decide by `code` (or by the cause's type), never by matching `message`.
public struct StrataError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: String, Sendable, CaseIterable {
        case invalidReference = "INVALID_REFERENCE"
        case invalidDigest = "INVALID_DIGEST"
        case digestMismatch = "DIGEST_MISMATCH"
        case sizeMismatch = "SIZE_MISMATCH"
        /// A blob in the local store no longer hashes to its name (a failing disk, an edit):
        /// `strata system check --repair` sets it aside so that the next pull or load fetches it again.
        case damagedBlob = "BLOB_DAMAGED"
        case invalidJSON = "INVALID_JSON"
        case unsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
        case blobUnknown = "BLOB_UNKNOWN"
        case imageUnknown = "IMAGE_UNKNOWN"
        case imageInUse = "IMAGE_IN_USE"
        /// No container has that name, ID or ID prefix.
        case containerUnknown = "CONTAINER_UNKNOWN"
        /// No volume has that name.
        case volumeUnknown = "VOLUME_UNKNOWN"
        /// No network has that name or ID.
        case networkUnknown = "NETWORK_UNKNOWN"
        /// The container is not running (exec, kill, pause need it running).
        case containerNotRunning = "CONTAINER_NOT_RUNNING"
        /// The container's command is not in the image (`docker run` exits 127).
        case commandNotFound = "COMMAND_NOT_FOUND"
        /// The container's command exists but cannot be executed (`docker run` exits 126).
        case commandNotExecutable = "COMMAND_NOT_EXECUTABLE"
        /// The OCI runtime (runc) failed; its stderr is in the message and the cause.
        case runtimeFailed = "RUNTIME_FAILED"
        case ambiguous = "AMBIGUOUS"
        case invalidArchive = "INVALID_ARCHIVE"
        case invalidArgument = "INVALID_ARGUMENT"
        case io = "IO"
        case database = "DATABASE"
        /// A metadata database server (a registry's PostgreSQL) could not be reached, or is
        /// restarting: the request changed nothing, and can be tried again.
        case databaseUnavailable = "DATABASE_UNAVAILABLE"
        case conflict = "CONFLICT"
        /// Interrupted (Ctrl-C, SIGTERM, a cancelled task): nothing half-made was left visible.
        case cancelled = "CANCELLED"
        /// The registry wants credentials, or refused the ones given.
        case unauthorized = "UNAUTHORIZED"
        /// The credentials are fine but do not allow this (HTTP 403).
        case denied = "DENIED"
        case manifestUnknown = "MANIFEST_UNKNOWN"
        /// A registry user, organisation or access token that does not exist.
        case accountUnknown = "ACCOUNT_UNKNOWN"
        case platformNotFound = "PLATFORM_NOT_FOUND"
        /// The registry could not be reached (DNS, connection refused, TLS).
        case unreachable = "REGISTRY_UNREACHABLE"
        /// The registry asked to slow down (HTTP 429) and kept asking after the retries.
        case tooManyRequests = "TOO_MANY_REQUESTS"
        /// Any other error a registry answered with.
        case registry = "REGISTRY_ERROR"
        /// A Dockerfile (or .dockerignore) that does not parse; the message names the line.
        case invalidDockerfile = "INVALID_DOCKERFILE"
        /// A build step failed (a RUN's non-zero exit, a missing stage or source).
        case buildFailed = "BUILD_FAILED"
        /// A program Strata runs (cp, a credential helper) failed; its stderr is in the cause.
        case processFailed = "PROCESS_FAILED"
        /// An S3 object store refused a request; its answer (`S3Error`) is the cause.
        case objectStore = "OBJECT_STORE"
    }

    public var code: Code
    public var message: String
    /// What happened underneath, as its own type: `POSIXError`, `RegistryResponseError`,
    /// `ProcessFailure`, another `StrataError`, or any error a library threw.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    /// Equal when code and message are: causes are diagnostics, not identity.
    public static func == (a: StrataError, b: StrataError) -> Bool { a.code == b.code && a.message == b.message }

    /// The same error, said of a wider context: `"layer sha256:ab12…: " + message`. The code and
    /// the cause stay, so callers still decide by them.
    public func context(_ prefix: String) -> StrataError {
        StrataError(code, "\(prefix): \(message)", cause: cause)
    }

    /// The first cause of a type, however deeply wrapped.
    public func cause<T: Error>(as type: T.Type) -> T? {
        var next: (any Error)? = cause
        while let current = next {
            if let match = current as? T { return match }
            next = (current as? StrataError)?.cause
        }
        return nil
    }

    /// Whether trying again may help: decided by the cause (a registry's 429 or 5xx, a dropped
    /// connection), never by the message.
    public var isRetryable: Bool {
        var next: (any Error)? = cause
        while let current = next {
            if let retryable = current as? any RetryClassifying { return retryable.isRetryable }
            next = (current as? StrataError)?.cause
        }
        return code == .unreachable || code == .tooManyRequests
    }
}

/// A cause that knows whether retrying may help (a registry response, a connection failure).
public protocol RetryClassifying: Error {
    var isRetryable: Bool { get }
}

extension StrataError {
    /// A stored blob found damaged where it was read (`detail`: what it hashes to, or how short it
    /// is): the one message for it, with what to do about it.
    public static func damagedBlob(_ digest: Digest, _ detail: String, cause: (any Error)? = nil) -> StrataError {
        StrataError(.damagedBlob,
                    "blob \(digest) is damaged in the store (\(detail)): run `strata system check --repair`, then pull or load its image again",
                    cause: cause)
    }

    /// An error from a failed system call, with errno translated and kept as the cause.
    public static func posix(_ what: String, errno err: Int32) -> StrataError {
        let cause = POSIXErrorCode(rawValue: err).map { POSIXError($0) }
        return StrataError(.io, "\(what): \(String(cString: strerror(err)))", cause: cause)
    }

    /// Any error as a StrataError: itself if it is one, else wrapped with its description, kept as the cause.
    public static func wrapping(_ error: any Error, code: Code = .io, _ what: String? = nil) -> StrataError {
        if let strata = error as? StrataError { return what.map(strata.context) ?? strata }
        if error is CancellationError { return StrataError(.cancelled, what.map { "\($0): cancelled" } ?? "cancelled", cause: CancellationError()) }
        let text = String(describing: error)
        return StrataError(code, what.map { "\($0): \(text)" } ?? text, cause: error)
    }
}

#if canImport(Glibc)
import Glibc
import Foundation
#elseif canImport(Musl)
import Musl
import Foundation
#endif
