import Foundation
import ImageSpec
import Archive
import ImageStore

/// Test fixtures made at run time: root filesystems, layer tars and OCI layouts.
public enum Fixtures {
    public static func temporaryDirectory(_ name: String = "t") -> String {
        let path = NSTemporaryDirectory() + "strata-\(name)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A small root filesystem: busybox-like layout with a few files.
    public static func rootfs(files: [String: String] = ["etc/hostname": "strata\n", "bin/hello": "#!/bin/sh\necho hi\n"]) -> String {
        let root = temporaryDirectory("rootfs")
        for (path, body) in files {
            let full = root + "/" + path
            try! FileManager.default.createDirectory(atPath: PathString(full).deletingLastComponent, withIntermediateDirectories: true)
            try! Data(body.utf8).write(to: URL(fileURLWithPath: full))
        }
        // Fixed times, so the same files give the same layer.
        for (path, _) in files { var t = [timeval(tv_sec: 1_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000, tv_usec: 0)]; utimes(root + "/" + path, &t) }
        return root
    }

    /// A layer tar holding `files`.
    public static func layer(_ files: [String: String]) throws -> [UInt8] {
        let out = MemoryWriter()
        let tar = TarWriter(out)
        for (name, body) in files.sorted(by: { $0.key < $1.key }) {
            try tar.append(TarHeader(name: BytePath(name), size: Int64(body.utf8.count), modificationTime: 1_000_000), body: MemoryReader(Array(body.utf8)))
        }
        try tar.finish()
        return out.bytes
    }

    public static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let out = MemoryWriter()
        let w = try GzipWriter(out)
        try w.write(bytes)
        try w.finish()
        return out.bytes
    }

    /// Writes an OCI image layout directory with one manifest per image (layers gzip-compressed).
    /// `tamper` may change blob bytes after the descriptors were computed.
    public struct Layout {
        public var root = Fixtures.temporaryDirectory("layout")
        public var manifests: [Descriptor] = []
        public var tamper: ((String, inout [UInt8]) -> Void)?

        public init() {}

        @discardableResult
        public mutating func blob(_ bytes: [UInt8], name: String) throws -> Digest {
            let digest = Digest.sha256(of: bytes)
            var stored = bytes
            tamper?(name, &stored)
            try FileManager.default.createDirectory(atPath: root + "/blobs/sha256", withIntermediateDirectories: true)
            try Data(stored).write(to: URL(fileURLWithPath: root + "/blobs/sha256/" + digest.encoded))
            return digest
        }

        public mutating func addImage(layers: [[String: String]], name: String?, diffIDOverride: [Digest]? = nil) throws {
            var descriptors: [Descriptor] = []
            var diffIDs: [Digest] = []
            for (i, files) in layers.enumerated() {
                let tar = try Fixtures.layer(files)
                let gz = try Fixtures.gzip(tar)
                diffIDs.append(Digest.sha256(of: tar))
                descriptors.append(Descriptor(mediaType: .ociLayerGzip, digest: try blob(gz, name: "layer\(i)"), size: Int64(gz.count)))
            }
            var config = ImageConfig(architecture: Platform.host.architecture, os: "linux", diffIDs: diffIDOverride ?? diffIDs,
                                     created: Date(timeIntervalSince1970: 1_700_000_000))
            config.history = layers.indices.map { History(created: Date(timeIntervalSince1970: 1_700_000_000), createdBy: "layer \($0)") }
            let configBytes = try config.encoded()
            let configDigest = try blob(configBytes, name: "config")
            let manifest = Manifest(config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                                    layers: descriptors)
            let manifestBytes = Array(try JSONCoding.encoder.encode(manifest))
            var d = Descriptor(mediaType: .ociManifest, digest: try blob(manifestBytes, name: "manifest"), size: Int64(manifestBytes.count))
            if let name { d.annotations = [AnnotationKey.imageName: name, AnnotationKey.refName: "latest"] }
            manifests.append(d)
        }

        public func write() throws {
            try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: root + "/oci-layout"))
            try JSONCoding.encoder.encode(Index(manifests: manifests)).write(to: URL(fileURLWithPath: root + "/index.json"))
        }
    }

    /// Tars a directory with the system tar (for load-from-tar tests).
    public static func tarDirectory(_ dir: String, to file: String, extra: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/tar")
        p.arguments = ["-cf", file, "-C", dir] + extra + ["."]
        try p.run()
        p.waitUntilExit()
    }
}

/// What a store holds, to check a failed command changed nothing.
public struct StoreSnapshot: Equatable {
    public var blobs: [String]
    public var images: [String]
    public var tags: [String]
    public var ingest: [String]

    public init(_ store: ImageStore) throws {
        blobs = FileSystem.listDirectory(store.root + "/blobs/sha256").sorted()
        images = try store.images().map(\.id.description).sorted()
        tags = try store.tags().map { "\($0.reference)=\($0.image)" }.sorted()
        ingest = FileSystem.listDirectory(store.root + "/ingest")
    }
}
