import Foundation
import HTTPTypes
import Hummingbird
import ImageSpec
import Logging
import NIOCore
import RegistryServer

/// The registry server's upload state machine under an arbitrary script of requests. Each input
/// is read as a sequence of POST, PATCH, PUT, GET and DELETE on upload sessions in two
/// repositories, honest or lying (a chunk out of order, a body shorter than its Content-Length, a
/// wrong digest, another repository's session, a session already ended), plus blob GETs and
/// cross-repository mounts. A model of what each session holds and which blobs each repository
/// has says what every answer must be. A 5xx, an answer the model does not allow, a blob visible
/// that was never completed, different bytes served, or an ended session's file left on disk
/// stops the run as a crash.
struct UploadScript {
    struct Session {
        let id: String
        let repository: String
        var bytes: [UInt8] = []
        var open = true
    }

    private var input: ByteCursor
    private let responder: RegistryResponder
    private let storage: RegistryStorage
    private let repositories: [String]
    private var sessions: [Session] = []
    /// Per repository, the blobs completed or mounted into it, by digest.
    private var linked: [String: [Digest: [UInt8]]] = [:]
    private var step = 0
    private static let contentDigest = HTTPField.Name("Docker-Content-Digest")!
    private static let uploadUUID = HTTPField.Name("Docker-Upload-UUID")!

    static func run(_ bytes: [UInt8]) {
        let (storage, round) = Harness.shared.next()
        let script = UploadScript(input: ByteCursor(bytes), storage: storage, repositories: ["fuzz\(round)/a", "fuzz\(round)/b"])
        let done = DispatchSemaphore(value: 0)
        Task {
            var script = script
            await script.play()
            done.signal()
        }
        done.wait()
    }

    private init(input: ByteCursor, storage: RegistryStorage, repositories: [String]) {
        self.input = input
        self.storage = storage
        self.repositories = repositories
        var logger = Logger(label: "strata-fuzz")
        logger.logLevel = .critical
        responder = RegistryResponder(storage: storage, logger: logger, accessLog: { _ in })
    }

    private mutating func play() async {
        while step < 64, let op = input.next() {
            step += 1
            switch op % 8 {
            case 0: await start()
            case 1: await pushMonolithic(honest: op & 8 == 0)
            case 2: await patch(mode: Int(op >> 3) % 5)
            case 3: await complete(honest: op & 8 == 0, withChunk: op & 16 != 0)
            case 4: await status()
            case 5: await cancel()
            case 6: await getBlob(ranged: op & 8 != 0)
            default: await mount()
            }
        }
        checkFiles()
        for index in sessions.indices where sessions[index].open {
            let response = await send(.delete, sessionPath(sessions[index]))
            expect(response, 204, "DELETE of an open session")
            sessions[index].open = false
        }
        checkFiles()
    }

    // MARK: operations

    private mutating func start() async {
        let repository = pickRepository()
        let response = await send(.post, "/v2/\(repository)/blobs/uploads/")
        expect(response, 202, "POST to start a session")
        openSession(from: response, in: repository)
    }

    private mutating func pushMonolithic(honest: Bool) async {
        let repository = pickRepository()
        let body = input.take(Int(input.next() ?? 0))
        let digest = honest ? Digest.sha256(of: body) : Digest.sha256(of: body + [0])
        let response = await send(.post, "/v2/\(repository)/blobs/uploads/?digest=\(digest)", body: body,
                                  headers: [.contentLength: String(body.count)])
        if honest {
            expect(response, 201, "monolithic POST with the right digest")
            linked[repository, default: [:]][digest] = body
        } else {
            expect(response, 400, "monolithic POST with a wrong digest", code: "DIGEST_INVALID")
        }
    }

    private mutating func patch(mode: Int) async {
        guard let (index, path, reachable) = pickSession() else { return }
        let chunk = input.take(Int(input.next() ?? 0))
        let length = Int64(sessions[index].bytes.count)
        var headers = HTTPFields()
        var mode = mode
        if chunk.isEmpty, mode == 0 || mode == 1 { mode = 2 }
        switch mode {
        case 0: // in order, with Content-Range and Content-Length
            headers[.contentRange] = "\(length)-\(length + Int64(chunk.count) - 1)"
            headers[.contentLength] = String(chunk.count)
        case 1: // out of order: past the session's end
            let start = length + 1 + Int64(input.next() ?? 0)
            headers[.contentRange] = "\(start)-\(start + Int64(chunk.count) - 1)"
            headers[.contentLength] = String(chunk.count)
        case 2: // streamed, Content-Length only
            headers[.contentLength] = String(chunk.count)
        case 3: // a body that ends before its Content-Length
            headers[.contentLength] = String(chunk.count + 1 + Int(input.next() ?? 0))
        default: // chunked transfer: no length at all
            break
        }
        let response = await send(.patch, path, body: chunk, headers: headers)
        guard reachable else { return expect(response, 404, "PATCH of an unknown session", code: "BLOB_UPLOAD_UNKNOWN") }
        switch mode {
        case 1:
            expect(response, 416, "PATCH out of order")
            expectRange(response, of: sessions[index], "416 of an out-of-order PATCH")
        case 3:
            // What arrived stays: the client resumes from it.
            expect(response, 400, "PATCH shorter than its Content-Length", code: "SIZE_INVALID")
            sessions[index].bytes += chunk
        default:
            expect(response, 202, "PATCH in order")
            sessions[index].bytes += chunk
            expectRange(response, of: sessions[index], "202 of a PATCH")
        }
    }

    private mutating func complete(honest: Bool, withChunk: Bool) async {
        guard let (index, path, reachable) = pickSession() else { return }
        let chunk = withChunk ? input.take(Int(input.next() ?? 0)) : []
        let content = sessions[index].bytes + chunk
        let digest = honest ? Digest.sha256(of: content) : Digest.sha256(of: content + [1])
        let response = await send(.put, "\(path)?digest=\(digest)", body: chunk, headers: [.contentLength: String(chunk.count)])
        guard reachable else { return expect(response, 404, "PUT of an unknown session", code: "BLOB_UPLOAD_UNKNOWN") }
        let repository = sessions[index].repository
        sessions[index].open = false
        if honest {
            expect(response, 201, "PUT with the right digest")
            check(response.headers[Self.contentDigest] == digest.description, "201 names the digest")
            linked[repository, default: [:]][digest] = content
        } else {
            expect(response, 400, "PUT with a wrong digest", code: "DIGEST_INVALID")
        }
    }

    private mutating func status() async {
        guard let (index, path, reachable) = pickSession() else { return }
        let response = await send(.get, path)
        guard reachable else { return expect(response, 404, "GET of an unknown session", code: "BLOB_UPLOAD_UNKNOWN") }
        expect(response, 204, "GET of a session")
        expectRange(response, of: sessions[index], "GET of a session")
    }

    private mutating func cancel() async {
        guard let (index, path, reachable) = pickSession() else { return }
        let response = await send(.delete, path)
        guard reachable else { return expect(response, 404, "DELETE of an unknown session", code: "BLOB_UPLOAD_UNKNOWN") }
        expect(response, 204, "DELETE of a session")
        sessions[index].open = false
    }

    /// A blob completed somewhere, or the bytes of a session not completed, asked of either repository.
    private mutating func getBlob(ranged: Bool) async {
        let repository = pickRepository()
        let candidates = linked.values.flatMap(\.keys).sorted() + sessions.map { Digest.sha256(of: $0.bytes) }
        guard !candidates.isEmpty else { return }
        let digest = candidates[Int(input.next() ?? 0) % candidates.count]
        let stored = linked[repository]?[digest]
        var headers = HTTPFields()
        var wanted = stored.map { 0..<$0.count }
        if ranged, let stored, !stored.isEmpty {
            let lower = Int(input.next() ?? 0) % stored.count
            let upper = lower + Int(input.next() ?? 0) % (stored.count - lower)
            headers[.range] = "bytes=\(lower)-\(upper)"
            wanted = lower..<(upper + 1)
        }
        let response = await send(.get, "/v2/\(repository)/blobs/\(digest)", headers: headers)
        guard let stored, let wanted else { return expect(response, 404, "GET of a blob the repository does not have", code: "BLOB_UNKNOWN") }
        expect(response, headers[.range] == nil ? 200 : 206, "GET of a blob")
        check(response.body == Array(stored[wanted]), "GET of \(digest) served \(response.body.count) bytes that are not its \(wanted)")
    }

    /// A mount from one repository into the other: a blob the source has is linked at once; any
    /// other becomes an ordinary session, as the spec says.
    private mutating func mount() async {
        let from = pickRepository()
        let into = repositories.first { $0 != from }!
        let candidates = linked.values.flatMap(\.keys).sorted() + [Digest.sha256(of: [])]
        let digest = candidates[Int(input.next() ?? 0) % candidates.count]
        let response = await send(.post, "/v2/\(into)/blobs/uploads/?mount=\(digest)&from=\(from)")
        if let bytes = linked[from]?[digest] {
            expect(response, 201, "mount of a blob the source has")
            linked[into, default: [:]][digest] = bytes
        } else {
            expect(response, 202, "mount of a blob the source lacks")
            openSession(from: response, in: into)
        }
    }

    // MARK: the model

    private mutating func openSession(from response: Answer, in repository: String) {
        guard let id = response.headers[Self.uploadUUID] else { fail("202 without Docker-Upload-UUID") }
        check(response.headers[.location] == "/v2/\(repository)/blobs/uploads/\(id)", "202's Location names the session")
        check(response.headers[.range] == "0-0", "a new session is empty")
        check(!sessions.contains { $0.id == id }, "session ids are new")
        sessions.append(Session(id: id, repository: repository))
    }

    private mutating func pickRepository() -> String { repositories[Int(input.next() ?? 0) % repositories.count] }

    /// A session (open or ended), addressed through its own repository or, now and then, the other one.
    private mutating func pickSession() -> (Int, String, reachable: Bool)? {
        guard !sessions.isEmpty, let choice = input.next() else { return nil }
        let index = Int(choice >> 1) % sessions.count
        let session = sessions[index]
        guard choice & 1 == 1 else { return (index, sessionPath(session), session.open) }
        let other = repositories.first { $0 != session.repository }!
        return (index, "/v2/\(other)/blobs/uploads/\(session.id)", false)
    }

    private func sessionPath(_ session: Session) -> String { "/v2/\(session.repository)/blobs/uploads/\(session.id)" }

    /// An open session's bytes are exactly its file; an ended one leaves no file behind.
    private func checkFiles() {
        for session in sessions {
            let path = "\(storage.root)/uploads/\(session.id)"
            let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
            if session.open {
                check(size == session.bytes.count, "open session \(session.id) holds \(size.map(String.init) ?? "no file") where \(session.bytes.count) bytes were sent")
            } else {
                check(size == nil, "ended session \(session.id) left its file")
            }
        }
    }

    private func expectRange(_ response: Answer, of session: Session, _ what: String) {
        let range = "0-\(max(session.bytes.count - 1, 0))"
        check(response.headers[.range] == range, "\(what): Range is \(response.headers[.range] ?? "missing"), the model says \(range)")
    }

    private func expect(_ answer: Answer, _ status: Int, _ what: String, code: String? = nil) {
        check(answer.status < 500, "\(what): the server failed with \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        check(answer.status == status, "\(what): answered \(answer.status), the model says \(status)")
        if let code {
            let said = (try? JSONDecoder().decode(ErrorDocument.self, from: Data(answer.body)))?.errors.first?.code
            check(said == code, "\(what): error code \(said ?? "missing"), the model says \(code)")
        }
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    private func fail(_ message: String) -> Never {
        fatalError("upload script, step \(step): \(message)")
    }

    // MARK: requests

    /// One request's answer, its body read whole.
    struct Answer {
        var status: Int
        var headers: HTTPFields
        var body: [UInt8]
    }

    private struct ErrorDocument: Decodable {
        struct Entry: Decodable { var code: String }
        var errors: [Entry]
    }

    private func send(_ method: HTTPRequest.Method, _ path: String, body: [UInt8] = [], headers: HTTPFields = [:]) async -> Answer {
        // The body arrives in up to three buffers, so a session sees chunks split as a socket splits them.
        let cut = body.isEmpty ? [] : [body.count / 3, body.count / 2]
        let parts = zip([0] + cut, cut + [body.count]).map { ByteBuffer(bytes: body[$0..<$1]) }
        let stream = AsyncStream<ByteBuffer> { continuation in
            for part in parts where part.readableBytes > 0 { continuation.yield(part) }
            continuation.finish()
        }
        let head = HTTPRequest(method: method, scheme: "http", authority: "fuzz", path: path, headerFields: headers)
        let response = await responder.answer(Request(head: head, body: RequestBody(asyncSequence: stream)))
        let collected = Collected()
        try? await response.body.write(CollectingWriter(collected: collected))
        return Answer(status: response.status.code, headers: response.headers, body: collected.bytes)
    }
}

/// The input as a stream of bytes; past its end, zeros.
struct ByteCursor {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(index + count, bytes.count)
        defer { index = end }
        return Array(bytes[index..<end])
    }
}

/// One registry store for the whole fuzzing run (in /dev/shm, so fsync costs nothing), with new
/// repositories for each input; it is started afresh every few hundred inputs so it stays small.
private final class Harness: @unchecked Sendable {
    static let shared = Harness()
    private let lock = NSLock()
    private var storage: RegistryStorage?
    private var round = 0
    private let root = (FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        + "/strata-fuzz-upload-\(getpid())"

    func next() -> (RegistryStorage, Int) {
        lock.withLock {
            round += 1
            if storage == nil || round % 256 == 0 {
                if storage == nil { atexit { Harness.shared.removeRoot() } }
                storage = nil
                try? FileManager.default.removeItem(atPath: root)
                do { storage = try RegistryStorage(root: root) } catch { fatalError("cannot open the fuzz store at \(root): \(error)") }
            }
            return (storage!, round)
        }
    }

    private func removeRoot() { try? FileManager.default.removeItem(atPath: root) }
}

private final class Collected: @unchecked Sendable { var bytes: [UInt8] = [] }

private struct CollectingWriter: ResponseBodyWriter {
    let collected: Collected
    mutating func write(_ buffer: ByteBuffer) async throws { collected.bytes += buffer.readableBytesView }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
