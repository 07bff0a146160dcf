import Foundation
import ImageSpec
import RegistryServer
import Testing

/// Connections, not requests: HTTP/1.0's close, idle timeouts, and idle clients that must not
/// starve the rest.
@Suite struct ConnectionTests {
    @Test(arguments: [
        ("GET /v2/ HTTP/1.0\r\n\r\n", true),
        ("GET /v2/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false),
        ("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", false),
        ("GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true),
        ("HEAD /v2/ HTTP/1.0\r\n\r\n", true),
    ])
    func theConnectionClosesAfterTheReplyWhenTheClientSaysSo(_ request: String, _ closes: Bool) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let connection = try RawConnection(port: server.port)
        connection.write(request)
        // The whole reply (its head, and `{}` unless HEAD), then whether the connection ends: a
        // connection that is to stay gets a second to show it does not close.
        let answer = await connection.read(for: 30) { $0.contains("\r\n\r\n") && ($0.hasSuffix("{}") || request.hasPrefix("HEAD")) }
        #expect(answer.text.hasPrefix("HTTP/1.1 200 OK"), "\(answer.text)")
        let after = answer.closed ? answer : await connection.read(for: closes ? 30 : 1)
        #expect(after.closed == closes, "\(request.debugDescription)")
    }

    /// curl holds back any body over 1 MB for a second unless the server says `100 Continue`.
    @Test func aClientThatExpectsContinueIsToldToSendItsBody() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let body = Array("a blob a client waits to send".utf8)
        let digest = Digest.sha256(of: body)
        let connection = try RawConnection(port: server.port)
        connection.write("POST /v2/library/waiting/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: x\r\n"
                         + "Content-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n")
        #expect(await connection.read(for: 30) { $0.hasSuffix("\r\n\r\n") }.text == "HTTP/1.1 100 Continue\r\n\r\n")
        connection.write(body)
        #expect(await connection.read(for: 30) { $0.hasSuffix("\r\n\r\n") }.text.hasPrefix("HTTP/1.1 201 Created"))
        #expect(try await server.request(.GET, "/v2/library/waiting/blobs/\(digest)").body == body)
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        let server = try await TestServer.start { $0.idleTimeout = .milliseconds(300) }
        defer { Task { await server.stop() } }
        let silent = try RawConnection(port: server.port)
        #expect(await silent.read(for: 30).closed)
        // One that sent half a request head, then stopped (slowloris), goes the same way.
        let stalled = try RawConnection(port: server.port)
        stalled.write("GET /v2/ HTTP/1.1\r\nHost: x\r\nUser-")
        #expect(await stalled.read(for: 30).closed)
    }

    @Test func aThousandIdleConnectionsDoNotStarveTheOthers() async throws {
        // Idle for as long as a loaded CI machine takes, without the idle timeout ending them.
        let server = try await TestServer.start { $0.idleTimeout = .seconds(3600) }
        defer { Task { await server.stop() } }
        let digest = try await server.pushBlob("library/busy", Array("still served".utf8))
        var idle: [RawConnection] = []
        for n in 0..<1000 {
            let connection = try RawConnection(port: server.port)
            if n % 2 == 0 { connection.write("GET /v2/ HTTP/1.1\r\nHost: x\r\n") }
            idle.append(connection)
        }
        for _ in 0..<20 {
            let answer = try await server.request(.GET, "/v2/library/busy/blobs/\(digest)")
            #expect(answer.status == 200 && answer.text == "still served")
        }
        // And the idle ones are still there to be served.
        idle[1].write("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await idle[1].read(for: 30) { $0.hasSuffix("{}") }.text.hasPrefix("HTTP/1.1 200 OK"))
    }
}
