import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A request that got no answer, or whose answer broke off: what kind of failure it was, decided
/// once from the error's type (errno, the HTTP client's error, TLS, DNS), so that retries and
/// messages never look at its text.
public struct ConnectionFailure: Error, Sendable, Equatable, RetryClassifying, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Nothing accepted the connection: refused, or no route to the host.
        case connectFailed
        /// The connection was reset, or broken while writing.
        case reset
        /// The peer closed the connection before the answer was complete.
        case closed
        case timedOut
        /// The TLS handshake failed: no TLS there, or a certificate that does not verify.
        case tls
        /// The host name did not resolve.
        case nameResolution
        /// The proxy refused the tunnel or wants credentials.
        case proxy
        /// Anything else (an invalid URL, a protocol violation).
        case other
    }

    public var kind: Kind
    public var method: String
    public var host: String
    public var path: String
    /// Whether this host had answered this process before: a refused connection then means a
    /// server restarting mid-transfer, worth another try; at first contact it means nothing listens.
    public var afterContact: Bool
    /// What the underlying error said, for messages.
    public var reason: String

    public init(kind: Kind, method: String, url: String, afterContact: Bool, reason: String) {
        self.kind = kind
        self.method = method
        (host, path) = RegistryResponseError.hostAndPath(url)
        self.afterContact = afterContact
        self.reason = reason
    }

    public var isRetryable: Bool {
        switch kind {
        case .reset, .closed, .timedOut: return true
        case .connectFailed: return afterContact
        case .tls, .nameResolution, .proxy, .other: return false
        }
    }

    public var description: String { "\(method) \(host)\(path): \(reason)" }

    /// The failure an error of the HTTP stack stands for; nil for errors that are not about the
    /// connection (a `StrataError` a request body threw, a cancellation).
    public static func classify(_ error: any Error, method: String, url: String, afterContact: Bool) -> ConnectionFailure? {
        if error is StrataError || error is CancellationError { return nil }
        if let e = error as? HTTPClientError, e == .cancelled { return nil }
        guard let (kind, reason) = kindAndReason(error) else { return nil }
        return ConnectionFailure(kind: kind, method: method, url: url, afterContact: afterContact, reason: reason)
    }

    static func kindAndReason(_ error: any Error) -> (Kind, String)? {
        switch error {
        case let e as ConnectionFailure:
            return (e.kind, e.reason)
        case let e as HTTPClientError:
            switch e {
            case .remoteConnectionClosed, .uncleanShutdown: return (.closed, "the server closed the connection")
            case .readTimeout, .writeTimeout, .connectTimeout, .deadlineExceeded, .getConnectionFromPoolTimeout:
                return (.timedOut, "timed out (\(e.shortDescription))")
            case .tlsHandshakeTimeout: return (.tls, "the TLS handshake timed out")
            case .proxyAuthenticationRequired: return (.proxy, "the proxy requires authentication (407)")
            case .invalidProxyResponse: return (.proxy, "the proxy refused the connection")
            case .httpProxyHandshakeTimeout, .socksHandshakeTimeout: return (.proxy, "the proxy did not answer")
            default: return (.other, e.description)
            }
        case let e as IOError:
            return (kind(errno: e.errnoCode), String(cString: strerror(e.errnoCode)).lowercased())
        case let e as NIOConnectionError:
            // Each address tried failed: the first failure says why; none tried means DNS failed.
            if let first = e.connectionErrors.first, let inner = kindAndReason(first.error) { return inner }
            return (.nameResolution, "cannot resolve \(e.host)")
        case let e as SocketAddressError.UnknownHost:
            return (.nameResolution, "cannot resolve \(e.host)")
        case let e as ChannelError:
            switch e {
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof: return (.closed, "the connection closed")
            case .connectTimeout: return (.timedOut, "timed out connecting")
            default: return (.other, "\(e)")
            }
        case let e as NIOSSLError:
            if e == .uncleanShutdown { return (.closed, "the server closed the TLS connection") }
            return (.tls, "TLS failed: \(e)")
        case is BoringSSLError, is NIOSSLExtraError:
            return (.tls, "TLS failed: \(error)")
        case let e as HTTPParserError:
            // The connection ended in the middle of an answer.
            if e == .invalidEOFState { return (.closed, "the server closed the connection") }
            return (.other, "invalid HTTP answer: \(e)")
        case is any NIOHTTP2Error:
            return (.reset, "the HTTP/2 stream was reset (\(error))")
        default:
            return (.other, "\(error)")
        }
    }

    static func kind(errno: Int32) -> Kind {
        switch errno {
        case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENETDOWN: return .connectFailed
        case ECONNRESET, EPIPE, ECONNABORTED: return .reset
        case ETIMEDOUT: return .timedOut
        default: return .other
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
