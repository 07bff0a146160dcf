import Foundation
import ImageSpec
import Registry
import RegistryTestSupport
import Testing
@testable import Transfer

/// `Copier` between in-memory fakes: what it skips, how many layers move at once, what goes
/// last, what a failure leaves, and the events a re-compression reports.
struct CopierTests {
    @Test func layersThatArePresentAreSkipped() async throws {
        let image = try TestImage.random(layerSizes: [5_000, 6_000, 7_000])
        let source = MemorySource(image)
        let destination = MemoryDestination(present: [image.layers[1].digest])
        let events = EventLog()
        let result = try await Copier.copy(from: source, to: destination, events: events.record)
        #expect(!result.held && result.manifestDigest == image.manifestDigest)
        #expect(Set(source.blobsAsked) == [image.layers[0].digest, image.layers[2].digest])
        #expect(events.states(1) == [.present])
        for i in [0, 2] {
            #expect(events.states(i).first == .started && events.states(i).suffix(2) == [.transferred, .complete])
            #expect(destination.blobs[image.layers[i].digest] == image.layerBytes[i])
        }
        #expect(destination.blobs[image.layers[1].digest] == nil)
    }

    @Test func anImageTheDestinationHoldsMovesNothing() async throws {
        final class Holding: ImageDestination, @unchecked Sendable {
            let name = "holding"
            func holds(root: ManifestBlob) async throws -> Descriptor? { root.descriptor }
            func begin(_ plan: ImagePlan) async throws { Issue.record("begin") }
            func status(of blob: Descriptor) async throws -> BlobStatus { Issue.record("status"); return .missing }
            func write(_ blob: Descriptor, layer: Int?, status: BlobStatus, content: BlobContent,
                       progress: @escaping @Sendable (Int64) -> Void) async throws -> BlobStatus { Issue.record("write"); return .written }
            func finish(_ plan: ImagePlan) async throws -> Digest { Issue.record("finish"); return plan.manifest.digest }
        }
        let image = try TestImage.random(layerSizes: [100])
        let source = MemorySource(image)
        let result = try await Copier.copy(from: source, to: Holding())
        #expect(result.held && result.manifestDigest == image.manifestDigest && source.blobsAsked.isEmpty)
    }

    @Test(arguments: [1, 2, 3])
    func noMoreLayersMoveAtOnceThanAllowed(_ parallelism: Int) async throws {
        let image = try TestImage.random(layerSizes: Array(repeating: 3_000, count: 6))
        let destination = MemoryDestination(writeDelay: 0.05)
        let events = EventLog()
        _ = try await Copier.copy(from: MemorySource(image), to: destination, options: CopyOptions(parallelism: parallelism),
                                  events: events.record)
        #expect(destination.mostWritesAtOnce == parallelism)
        // Those beyond the first `parallelism` are reported waiting before they start.
        let waiting = (0..<6).filter { events.states($0).first == .waiting }
        #expect(waiting == Array(parallelism..<6))
        #expect((0..<6).allSatisfy { events.states($0).last == .complete })
    }

    @Test func theConfigAndManifestGoLast() async throws {
        let image = try TestImage.random(layerSizes: [4_000, 9_000, 2_000, 7_000])
        let destination = MemoryDestination(writeDelay: 0.01)
        _ = try await Copier.copy(from: MemorySource(image), to: destination, options: CopyOptions(parallelism: 4))
        let log = destination.log
        #expect(log.first == .begin)
        #expect(log.suffix(2) == [.wrote(layer: nil, image.config.digest), .finish(image.manifestDigest)])
        let layers = log.compactMap { if case .wrote(let layer?, let digest) = $0 { return (layer, digest) } else { return nil } }
        #expect(Set(layers.map(\.0)) == [0, 1, 2, 3] && layers.allSatisfy { image.layers[$0.0].digest == $0.1 })
        #expect(destination.manifest == image.manifestBytes)
    }

    @Test func aFailingLayerAbortsTheDestination() async throws {
        let image = try TestImage.random(layerSizes: [20_000, 20_000, 20_000])
        let source = MemorySource(image)
        source.failingLayer = 1
        let destination = MemoryDestination()
        await #expect { try await Copier.copy(from: source, to: destination) } throws: { error in
            guard let e = error as? StrataError else { return false }
            return e.code == .io && e.message.contains("the source broke off")
        }
        let log = destination.log
        #expect(log.last == .abort)
        #expect(!log.contains { if case .finish = $0 { return true } else { return false } })
        #expect(!log.contains(.wrote(layer: nil, image.config.digest)), "no config is written for an image that is not all there")
        #expect(destination.blobs.isEmpty, "what the transfer wrote is discarded")
    }

    @Test func aWrongBlobFailsAsADigestMismatch() async throws {
        var image = try TestImage.random(layerSizes: [1_000, 1_000])
        image.layerBytes[1][0] ^= 0xFF  // the source's bytes no longer match the manifest
        let destination = MemoryDestination()
        await #expect { try await Copier.copy(from: MemorySource(image), to: destination) } throws: { ($0 as? StrataError)?.code == .digestMismatch }
        #expect(destination.log.last == .abort && destination.blobs.isEmpty)
    }

    /// Re-compressing gzip layers to zstd: streamed where the destination takes streams, spooled
    /// where it needs each digest first. Either way each layer reports started … transferred,
    /// complete; the manifest names the new blobs; the tars inside are the same.
    @Test(arguments: [true, false])
    func recompressionReportsEachLayer(_ takesStreams: Bool) async throws {
        let (image, tars) = try Layers.gzipImage(3)
        let source = MemorySource(image)
        source.asFiles = true
        defer { source.close() }
        let destination = MemoryDestination(takesStreams: takesStreams)
        let events = EventLog()
        let result = try await Copier.copy(from: source, to: destination, options: CopyOptions(compression: .zstd), events: events.record)
        let plan = try #require(result.plan)
        #expect(plan.parsed.layers.allSatisfy { $0.mediaType == .ociLayerZstd })
        #expect(plan.parsed.config.digest == image.config.digest, "the same config: the same diff IDs")
        #expect(result.manifestDigest == plan.manifest.digest && result.manifestDigest != image.manifestDigest)
        for (i, layer) in plan.parsed.layers.enumerated() {
            let states = events.states(i)
            #expect(states.first == .started && states.suffix(2) == [.transferred, .complete], "layer \(i): \(states)")
            #expect(states.contains(.verifying))
            let written = try #require(destination.blobs[layer.digest])
            #expect(try Layers.decompressed(written, from: .zstd) == tars[i])
            #expect(destination.log.contains(takesStreams ? .produced(layer: i, layer.digest) : .wrote(layer: i, layer.digest)))
        }
        #expect(destination.manifest == plan.manifest.bytes)
    }

    /// A layer re-compressed by an earlier transfer that the destination has: not compressed again.
    @Test func aKnownVariantThatIsPresentIsSkipped() async throws {
        let (image, tars) = try Layers.gzipImage(1)
        let zstd = try Layers.compressed(tars[0], as: .zstd)
        let variant = Descriptor(mediaType: .ociLayerZstd, digest: Digest.sha256(of: zstd), size: Int64(zstd.count))
        var options = CopyOptions(compression: .zstd)
        options.knownVariant = { digest, compression in digest == image.layers[0].digest && compression == .zstd ? variant : nil }
        let destination = MemoryDestination(present: [variant.digest])
        let events = EventLog()
        let result = try await Copier.copy(from: MemorySource(image), to: destination, options: options, events: events.record)
        #expect(events.states(0) == [.started, .present])
        #expect(result.plan?.parsed.layers == [variant])
        #expect(!destination.log.contains { if case .wrote(let layer?, _) = $0 { return layer == 0 } else { return false } })
    }
}
