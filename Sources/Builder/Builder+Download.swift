import AsyncHTTPClient
import Foundation
import ImageSpec
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

extension Builder {
    /// ADD of a URL: fetched (redirects followed) into a temp file, its sha256 checked against
    /// `--checksum` when given. Returns the file and the name it takes (the URL's last path
    /// part). Docker gives downloads mode 0600.
    func download(_ url: String, checksum: String?, location: String) async throws -> (path: String, name: String) {
        var expected: Digest?
        if let checksum {
            do { expected = try Digest(parsing: checksum) } catch {
                throw StrataError(.buildFailed, "\(location): --checksum=\(checksum): expected sha256:<64 hex digits>")
            }
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "strata-build")
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .minutes(30))
        } catch {
            throw StrataError(.buildFailed, "\(location): ADD \(url): \(error)")
        }
        guard response.status.code == 200 else {
            throw StrataError(.buildFailed, "\(location): ADD \(url): the server answered \(response.status.code) \(response.status.reasonPhrase)")
        }
        let path = try store.temporaryPath("build-download")
        do {
            let file = try FileWriter(path: path, mode: 0o600, exclusive: true)
            let digesting = DigestingWriter(file)
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { try digesting.write($0) }
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
