import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Hummingbird's HTTP/1.1 child channel with handlers after NIO's request decoder:
/// `SendfileHandler` (plain TCP only: TLS encrypts in user space, and there the responder
/// streams), `ConnectionCloseHandler`, which keeps HTTP/1.0's rule that a connection closes
/// after its response unless the client asked to keep it alive, and `ExpectContinueHandler`,
/// which tells a client that waits (curl, for any body over 1 MB) to send its body.
struct RegistryHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let zeroCopy: Bool
    var responder: HTTPChannelHandler.Responder { base.responder }

    init(responder: @escaping HTTPChannelHandler.Responder, configuration: HTTP1Channel.Configuration, zeroCopy: Bool) {
        base = HTTP1Channel(responder: responder, configuration: configuration)
        self.zeroCopy = zeroCopy
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { [zeroCopy] value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(ExpectContinueHandler(), position: .after(decoder))
            try operations.addHandler(ConnectionCloseHandler(), position: .after(decoder))
            if zeroCopy { try operations.addHandler(SendfileHandler(), position: .after(decoder)) }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Hummingbird decides keep-alive by the `Connection` header alone, and the HTTP version does
/// not survive into its request type: an HTTP/1.0 request (ab, old proxies, health checks)
/// without `keep-alive` is made to say `Connection: close`, so its connection ends with the reply.
final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive,
              !head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

/// `Expect: 100-continue` (RFC 9110 §10.1.1): the client holds its body back until the server
/// says `100 Continue`, or for a second (curl) when none comes. Hummingbird never says it, so
/// this handler does, as soon as the head arrives: every request body the registry takes it reads.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), head.version.major == 1, head.version.minor >= 1,
           head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
