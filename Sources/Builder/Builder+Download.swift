import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
import Registry
#if canImport(Glibc)
import Glibc
#endif

extension Builder {
    /// ADD of a URL: fetched (redirects followed) into a temp file through the HTTP stack the
    /// registry client uses (its proxies, TLS, retries and User-Agent), its sha256 checked against
    /// `--checksum` when given. Returns the file and the name it takes (the URL's last path
    /// part). Docker gives downloads mode 0600.
    func download(_ url: String, checksum: String?, location: String) async throws -> (path: String, name: String) {
        var expected: Digest?
        if let checksum {
            do { expected = try Digest(parsing: checksum) } catch {
                throw StrataError(.buildFailed, "\(location): --checksum=\(checksum): expected sha256:<64 hex digits>")
            }
        }
        let response: HTTPClientResponse
        do {
            response = try await transport.get(url, timeout: .minutes(30)).0
        } catch let failure as ConnectionFailure {
            throw StrataError(.buildFailed, "\(location): ADD \(url): \(failure.reason)", cause: failure)
        } catch let error as StrataError {
            throw error.context("\(location): ADD \(url)")
        }
        guard response.status.code == 200 else {
            let bytes = (try? await response.body.collect(upTo: 1 << 16)).map { Array(buffer: $0) } ?? []
            throw StrataError(.buildFailed, "\(location): ADD \(url): the server answered \(response.status.code) \(response.status.reasonPhrase)",
                              cause: RegistryResponseError(status: Int(response.status.code), method: "GET", url: url,
                                                           headers: response.headers, body: bytes))
        }
        let path = try store.temporaryPath("build-download")
        do {
            let file = try FileWriter(path: path, mode: 0o600, exclusive: true)
            let digesting = DigestingWriter(file)
            do {
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { try digesting.write($0) }
                }
            } catch {
                guard let failure = ConnectionFailure.classify(error, method: "GET", url: url, afterContact: true) else { throw error }
                throw StrataError(.buildFailed, "\(location): ADD \(url): the download broke off: \(failure.reason)", cause: failure)
            }
            try file.flush()
            if let expected, digesting.digest() != expected {
                throw StrataError(.digestMismatch, "\(location): ADD \(url): checksum mismatch: expected \(expected), got \(digesting.digest())")
            }
        } catch {
            unlink(path)
            throw error
        }
        let last = URL(string: url)?.lastPathComponent ?? ""
        return (path, last.isEmpty || last == "/" ? "index.html" : last)
    }
}
