import Foundation
import NIOCore
import NIOPosix

/// An HTTP proxy inside the test process, on 127.0.0.1: it relays `CONNECT host:port` tunnels
/// (what async-http-client sends for `https://` and `http://` targets alike), connecting to
/// `aliases[host]` instead of resolving names itself — so a test can name a loopback registry
/// `registry.strata.test` and only the proxy knows where that is. With `credentials` it wants
/// `Proxy-Authorization: Basic …` and answers 407 without it. It counts what it relayed.
public final class TestProxy: @unchecked Sendable {
    /// A request the proxy received: its method, target and `Proxy-Authorization`.
    public struct Request: Sendable {
        public var method: String
        public var target: String
        public var proxyAuthorization: String?
        /// Whether a tunnel was opened for it.
        public var relayed: Bool
    }

    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    let aliases: [String: String]
    let credentials: (username: String, password: String)?
    private let lock = NSLock()
    private var log: [Request] = []
    private let serverChannel: Channel
    private let children: ChildChannels

    private init(port: Int, aliases: [String: String], credentials: (String, String)?, channel: Channel, children: ChildChannels) {
        self.port = port
        self.aliases = aliases
        self.credentials = credentials
        serverChannel = channel
        self.children = children
    }

    public static func start(aliases: [String: String] = [:], credentials: (username: String, password: String)? = nil) async throws -> TestProxy {
        let holder = ProxyHolder()
        let children = ChildChannels()
        let channel = try await children.listen { pipeline in
            try pipeline.addHandler(ProxyFrontHandler(holder: holder))
        }
        let proxy = TestProxy(port: channel.localAddress?.port ?? 0, aliases: aliases, credentials: credentials, channel: channel, children: children)
        holder.proxy = proxy
        return proxy
    }

    public func stop() async {
        try? await serverChannel.close()
        await children.closeAll()
    }

    /// Every request so far.
    public var requests: [Request] { lock.withLock { log } }
    /// Tunnels opened.
    public var relayed: Int { requests.filter(\.relayed).count }

    func record(_ request: Request) { lock.withLock { log.append(request) } }

    var expectedAuthorization: String? {
        credentials.map { "Basic " + Data("\($0.username):\($0.password)".utf8).base64EncodedString() }
    }
}

final class ProxyHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var value: TestProxy?
    var proxy: TestProxy? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// The client's side: reads the request head, opens the tunnel, then copies bytes both ways.
final class ProxyFrontHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let holder: ProxyHolder
    private var pending = ByteBuffer()
    private var headDone = false
    private var peer: Channel?

    init(holder: ProxyHolder) { self.holder = holder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if let peer {
            peer.writeAndFlush(bytes, promise: nil)
            return
        }
        pending.writeBuffer(&bytes)
        let view = pending.readableBytesView
        guard !headDone, let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        headDone = true
        let headLength = view.distance(from: view.startIndex, to: end.upperBound)
        let head = pending.readString(length: headLength) ?? ""
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: true)
        let parts = lines.first?.split(separator: " ") ?? []
        let method = parts.first.map(String.init) ?? ""
        let target = parts.count > 1 ? String(parts[1]) : ""
        var authorization: String?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == "proxy-authorization" {
                authorization = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        guard let proxy = holder.proxy else { return }
        let channel = context.channel
        @Sendable func refuse(_ status: String, extra: String = "") {
            channel.writeAndFlush(ByteBuffer(string: "HTTP/1.1 \(status)\r\n\(extra)Content-Length: 0\r\nConnection: close\r\n\r\n"))
                .whenComplete { _ in channel.close(promise: nil) }
        }
        guard method == "CONNECT", let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
            proxy.record(.init(method: method, target: target, proxyAuthorization: authorization, relayed: false))
            refuse("501 Not Implemented")
            return
        }
        if let expected = proxy.expectedAuthorization, authorization != expected {
            proxy.record(.init(method: method, target: target, proxyAuthorization: authorization, relayed: false))
            refuse("407 Proxy Authentication Required", extra: "Proxy-Authenticate: Basic realm=\"test proxy\"\r\n")
            return
        }
        proxy.record(.init(method: method, target: target, proxyAuthorization: authorization, relayed: true))
        let name = String(target[..<colon])
        let host = proxy.aliases[name] ?? name
        let front = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { back in
                back.eventLoop.makeCompletedFuture { try back.pipeline.syncOperations.addHandler(ProxyBackHandler(front: channel)) }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let back):
                    let handler = front.value
                    handler.peer = back
                    channel.writeAndFlush(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n"), promise: nil)
                    if handler.pending.readableBytes > 0 {
                        back.writeAndFlush(handler.pending, promise: nil)
                        handler.pending.clear()
                    }
                case .failure:
                    refuse("502 Bad Gateway")
                }
            }
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// The target's side of a tunnel: everything it sends goes back to the client.
final class ProxyBackHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let front: Channel

    init(front: Channel) { self.front = front }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        front.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        front.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
