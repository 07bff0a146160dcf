import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import NIOHTTP1
import Testing
@testable import Registry

struct RegistryResponseErrorTests {
    @Test func readsTheErrorDocument() {
        let body = #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}},{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#
        let e = RegistryResponseError(status: 404, method: "GET", url: "http://127.0.0.1:5000/v2/a/b/manifests/1",
                                      headers: [:], body: Array(body.utf8))
        #expect(e.errors == [RegistryResponseError.Entry(code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: .object(["Tag": .string("1")])),
                             RegistryResponseError.Entry(code: "NAME_UNKNOWN", message: "repository name not known to registry")])
        #expect(e.has("NAME_UNKNOWN") && !e.has("DENIED"))
        #expect(e.details == "manifest unknown: manifest unknown; name unknown: repository name not known to registry")
        #expect(e.description == "GET 127.0.0.1:5000/v2/a/b/manifests/1: 404 Not Found: manifest unknown: manifest unknown; name unknown: repository name not known to registry")
        #expect(!e.isRetryable)
    }

    @Test(arguments: ["not json", "", "<html>502 Bad Gateway</html>", #"{"errors":"no"}"#])
    func aBodyThatIsNoErrorDocumentHasNoErrors(_ body: String) {
        let e = RegistryResponseError(status: 502, method: "GET", url: "https://r.example/v2/", headers: [:], body: Array(body.utf8))
        #expect(e.errors.isEmpty && e.details.isEmpty)
    }

    @Test(arguments: [(429, true), (502, true), (503, true), (504, true),
                      (400, false), (401, false), (403, false), (404, false), (405, false), (416, false), (500, false), (501, false)])
    func retryableStatuses(_ status: Int, _ retryable: Bool) {
        #expect(RegistryResponseError(status: status, method: "GET", url: "https://r.example/v2/").isRetryable == retryable)
        // Through a StrataError, whatever the message says.
        let wrapped = StrataError(.registry, "anything at all, even \"503\" or \"retry\"", cause: RegistryResponseError(status: status, method: "GET", url: "x"))
        #expect(wrapped.isRetryable == retryable)
        #expect(wrapped.context("pulling").isRetryable == retryable)
    }

    @Test func retryAfterInSecondsOrAsADate() {
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RegistryResponseError.parseRetryAfter("120", now: now) == 120)
        #expect(RegistryResponseError.parseRetryAfter(" 0 ", now: now) == 0)
        #expect(RegistryResponseError.parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now: now) == 30)
        #expect(RegistryResponseError.parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now: now) == 0)
        #expect(RegistryResponseError.parseRetryAfter("-5", now: now) == nil)
        #expect(RegistryResponseError.parseRetryAfter("soon", now: now) == nil)
        let e = RegistryResponseError(status: 429, method: "GET", url: "https://r.example/v2/", headers: ["Retry-After": "7"], body: [])
        #expect(e.retryAfter == 7)
    }

    /// The request is named by method, host and path: never a query (an upload's state, a
    /// storage signature) or user information.
    @Test func namesTheRequestWithoutSecrets() {
        let e = RegistryResponseError(status: 400, method: "PUT",
                                      url: "https://user:hunter2@r.example:5000/v2/a/blobs/uploads/1?_state=SECRET&digest=sha256:ab")
        #expect(e.host == "r.example:5000" && e.path == "/v2/a/blobs/uploads/1" && e.method == "PUT")
        #expect(!e.description.contains("SECRET") && !e.description.contains("hunter2"))
    }
}

struct ConnectionFailureTests {
    static func classify(_ error: any Error, afterContact: Bool = false) -> ConnectionFailure? {
        ConnectionFailure.classify(error, method: "GET", url: "https://r.example/v2/x/blobs/sha256:ab?sig=SECRET", afterContact: afterContact)
    }

    @Test func kindsComeFromTheErrorsType() {
        #expect(Self.classify(IOError(errnoCode: ECONNRESET, reason: "read"))?.kind == .reset)
        #expect(Self.classify(IOError(errnoCode: EPIPE, reason: "write"))?.kind == .reset)
        #expect(Self.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect"))?.kind == .connectFailed)
        #expect(Self.classify(IOError(errnoCode: ETIMEDOUT, reason: "connect"))?.kind == .timedOut)
        #expect(Self.classify(HTTPClientError.remoteConnectionClosed)?.kind == .closed)
        #expect(Self.classify(HTTPClientError.readTimeout)?.kind == .timedOut)
        #expect(Self.classify(HTTPClientError.proxyAuthenticationRequired)?.kind == .proxy)
        #expect(Self.classify(HTTPParserError.invalidEOFState)?.kind == .closed)
        #expect(Self.classify(ChannelError.ioOnClosedChannel)?.kind == .closed)
        #expect(Self.classify(HTTPClientError.invalidURL)?.kind == .other)
    }

    @Test func notConnectionFailures() {
        #expect(Self.classify(StrataError(.sizeMismatch, "file shorter")) == nil)
        #expect(Self.classify(CancellationError()) == nil)
        #expect(Self.classify(HTTPClientError.cancelled) == nil)
    }

    @Test func retryable() {
        #expect(Self.classify(IOError(errnoCode: ECONNRESET, reason: "read"))?.isRetryable == true)
        #expect(Self.classify(HTTPClientError.remoteConnectionClosed)?.isRetryable == true)
        #expect(Self.classify(HTTPClientError.connectTimeout)?.isRetryable == true)
        // Refused: nothing listens at first contact; a server restarting once it has answered.
        #expect(Self.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect"))?.isRetryable == false)
        #expect(Self.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect"), afterContact: true)?.isRetryable == true)
        #expect(Self.classify(HTTPClientError.proxyAuthenticationRequired)?.isRetryable == false)
        #expect(Self.classify(HTTPClientError.invalidURL)?.isRetryable == false)
    }

    @Test func namesTheRequestWithoutItsQuery() throws {
        let failure = try #require(Self.classify(IOError(errnoCode: ECONNRESET, reason: "read")))
        #expect(failure.host == "r.example" && failure.path == "/v2/x/blobs/sha256:ab")
        #expect(!failure.description.contains("SECRET"))
        let wrapped = StrataError(.unreachable, "cannot reach", cause: failure)
        #expect(wrapped.isRetryable && wrapped.cause(as: ConnectionFailure.self)?.kind == .reset)
    }
}

struct RetryPolicyTests {
    @Test func backoffDoublesAndRetryAfterWinsUpToTheCap() {
        let policy = HTTPTransport.RetryPolicy(retries: 4, initialDelay: 0.25, maxDelay: 3)
        #expect((1...5).map { policy.delay(attempt: $0) } == [0.25, 0.5, 1, 2, 3])
        #expect(policy.delay(attempt: 1, retryAfter: 2) == 2)
        #expect(policy.delay(attempt: 1, retryAfter: 120) == 3)
    }
}
