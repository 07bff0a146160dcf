import Foundation
import NIOCore
import NIOPosix

/// The connections a test server accepted, to close them when it stops; and the one way the test
/// servers listen: a free port of 127.0.0.1, each connection's pipeline set up by `configure`.
final class ChildChannels: @unchecked Sendable {
    private let lock = NSLock()
    private var channels: [Channel] = []

    func listen(_ configure: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void) async throws -> Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                self.add(channel)
                return channel.eventLoop.makeCompletedFuture { try configure(channel.pipeline.syncOperations) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func add(_ channel: Channel) {
        lock.withLock {
            channels.removeAll { !$0.isActive }
            channels.append(channel)
        }
    }

    func closeAll() async {
        let all = lock.withLock { channels }
        for channel in all { try? await channel.close() }
    }
}
