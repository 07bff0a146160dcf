import Foundation
import NIOCore
import NIOHTTP1
import ImageSpec

/// Turns a blob response into `sendfile(2)`: the kernel copies page cache to the socket, and no
/// byte of a layer passes through the server's memory.
///
/// Hummingbird's response writer takes only `ByteBuffer`s, so the responder marks the head with
/// `SendfileRequest.header` and writes the request (path and range) as the body. This handler sits
/// just before NIO's `HTTPResponseEncoder`, which frames a `FileRegion` body as it would bytes.
/// It opens the file here, on the event loop, so the descriptor belongs to the write that uses it:
/// it is closed when the region is written or the connection fails, and never leaks.
final class SendfileHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var nextBodyIsRequest = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.headers.contains(name: SendfileRequest.header):
            head.headers.remove(name: SendfileRequest.header)
            nextBodyIsRequest = true
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body(.byteBuffer(let buffer)) where nextBodyIsRequest:
            nextBodyIsRequest = false
            do {
                let request = try SendfileRequest(decoding: buffer)
                let descriptor = open(request.path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "open \(request.path)") }
                let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
                let region = FileRegion(fileHandle: file, readerIndex: Int(request.range.lowerBound), endIndex: Int(request.range.upperBound))
                let written = promise ?? context.eventLoop.makePromise()
                written.futureResult.whenComplete { _ in try? file.close() }
                context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: written)
            } catch {
                // The head is on its way with the blob's length: all that is left is to cut the connection.
                promise?.fail(error)
                context.close(promise: nil)
            }
        default:
            context.write(data, promise: promise)
        }
    }
}

/// What the responder asks `SendfileHandler` to send: a file's bytes in a range.
struct SendfileRequest: Sendable, Equatable {
    static let header = "strata-sendfile"
    var path: String
    var range: Range<Int64>

    /// Lower bound, upper bound, then the path.
    var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(range.lowerBound)
        buffer.writeInteger(range.upperBound)
        buffer.writeString(path)
        return buffer
    }

    init(path: String, range: Range<Int64>) {
        self.path = path
        self.range = range
    }

    init(decoding buffer: ByteBuffer) throws {
        var buffer = buffer
        guard let lower = buffer.readInteger(as: Int64.self), let upper = buffer.readInteger(as: Int64.self), lower <= upper,
              let path = buffer.readString(length: buffer.readableBytes), !path.isEmpty else {
            throw StrataError(.io, "a sendfile request was malformed")
        }
        self.init(path: path, range: lower..<upper)
    }
}
