import Foundation
import Testing
@testable import ImageSpec

struct MediaTypeTests {
    @Test(arguments: [
        (MediaType.ociLayer, Compression.none), (.ociLayerGzip, .gzip), (.ociLayerZstd, .zstd),
        (.dockerLayer, .none), (.dockerLayerGzip, .gzip), (.dockerLayerForeign, .gzip), (.dockerLayerZstd, .zstd),
    ])
    func layerCompression(_ type: MediaType, _ compression: Compression) {
        #expect(type.layerCompression == compression)
        #expect(type.isLayer)
    }

    @Test(arguments: [MediaType.ociManifest, .dockerManifest, .ociIndex, .dockerManifestList, .ociConfig, .dockerConfig, "text/plain"])
    func nonLayers(_ type: MediaType) {
        #expect(type.layerCompression == nil)
    }

    @Test func kinds() {
        #expect(MediaType.dockerManifestList.isIndex && MediaType.ociIndex.isIndex)
        #expect(MediaType.dockerManifest.isManifest && MediaType.ociManifest.isManifest)
        #expect(MediaType.dockerConfig.isConfig && MediaType.ociConfig.isConfig)
    }

    @Test(arguments: [([UInt8]([0x1f, 0x8b, 8, 0]), Compression.gzip), ([0x28, 0xb5, 0x2f, 0xfd], .zstd), ([0x61, 0x62], .none), ([], .none)])
    func sniffsCompression(_ prefix: [UInt8], _ expected: Compression) {
        #expect(Compression.detect(prefix) == expected)
    }
}

struct ManifestTests {
    static let config = "sha256:" + String(repeating: "c", count: 64)
    static let layer = "sha256:" + String(repeating: "d", count: 64)

    @Test func decodesOCIAndDocker() throws {
        for type in [MediaType.ociManifest, .dockerManifest] {
            let json = """
            {"schemaVersion":2,"mediaType":"\(type)","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(Self.config)","size":10},
             "layers":[{"mediaType":"\(type == .ociManifest ? MediaType.ociLayerGzip : .dockerLayerGzip)","digest":"\(Self.layer)","size":20}],
             "annotations":{"a":"b"}}
            """
            let m = try Manifest.decode(Array(json.utf8))
            #expect(m.layers.count == 1)
            #expect(m.layers[0].size == 20)
            #expect(m.annotations?["a"] == "b")
        }
    }

    @Test(arguments: [
        ("{", "not valid JSON"),
        (#"{"schemaVersion":1,"config":{"mediaType":"x","digest":"\#(config)","size":1},"layers":[]}"#, "schemaVersion 1"),
        (#"{"schemaVersion":2,"layers":[]}"#, "config: required field missing"),
        (#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}"#, "config.digest"),
        (#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(config)","size":-1},"layers":[]}"#, "negative size"),
        (#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(config)","size":1},"layers":[{"mediaType":"text/plain","digest":"\#(layer)","size":1}]}"#, "unsupported media type text/plain"),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"mediaType":"x","digest":"\#(config)","size":1},"layers":[]}"#, "not an image manifest"),
    ])
    func rejectsBad(_ json: String, _ reason: String) {
        #expect {
            _ = try Manifest.decode(Array(json.utf8))
        } throws: { error in
            (error as? StrataError)?.message.contains(reason) ?? false
        }
    }
}

struct ImageConfigTests {
    /// A Docker-written config: fields the OCI spec does not name must survive a round trip.
    static let dockerConfig = """
    {"architecture":"amd64","config":{"Hostname":"","Env":["PATH=/usr/bin:/bin","A=1"],"Cmd":["/bin/sh"],
     "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000,"Retries":3},
     "OnBuild":["RUN echo"],"Shell":["/bin/bash","-c"],"StopSignal":"SIGTERM","ArgsEscaped":true,"Labels":{"k":"v"},
     "WorkingDir":"/app","User":"1000:1000","Entrypoint":["/entry"],"X-Vendor":{"nested":[1,2.5,null,true]}},
     "container":"abc","container_config":{"Cmd":["/bin/sh","-c","#(nop) "]},"created":"2026-11-22T15:27:53.235160717Z",
     "docker_version":"20.10.24","history":[{"created":"2026-11-22T15:27:53Z","created_by":"/bin/sh -c #(nop) ADD file","empty_layer":true},
     {"created":"2026-11-22T15:27:54Z","created_by":"RUN x","comment":"c"}],"os":"linux",
     "rootfs":{"type":"layers","diff_ids":["sha256:\(String(repeating: "a", count: 64))"]}}
    """

    @Test func readsEveryField() throws {
        let c = try ImageConfig.decode(Array(Self.dockerConfig.utf8))
        let cc = c.config
        #expect(c.architecture == "amd64" && c.os == "linux")
        #expect(cc.env == ["PATH=/usr/bin:/bin", "A=1"])
        #expect(cc.cmd == ["/bin/sh"] && cc.entrypoint == ["/entry"])
        #expect(cc.exposedPorts == ["80/tcp"] && cc.volumes == ["/data"])
        #expect(cc.healthcheck?.test == ["CMD", "true"] && cc.healthcheck?.retries == 3)
        #expect(cc.onBuild == ["RUN echo"] && cc.shell == ["/bin/bash", "-c"])
        #expect(cc.stopSignal == "SIGTERM" && cc.argsEscaped == true)
        #expect(cc.labels == ["k": "v"] && cc.workingDir == "/app" && cc.user == "1000:1000")
        #expect(c.history.count == 2 && c.history[0].isEmptyLayer && !c.history[1].isEmptyLayer)
        #expect(c.rootfs.diffIDs.count == 1)
        // The exact string is kept; the Date is as precise as a Double allows.
        #expect(c.json["created"] == .string("2026-11-22T15:27:53.235160717Z"))
        #expect(abs(c.created!.timeIntervalSince1970 - 1795361273.235160717) < 1e-6)
    }

    @Test func roundTripKeepsUnknownFields() throws {
        var c = try ImageConfig.decode(Array(Self.dockerConfig.utf8))
        var cc = c.config
        cc.setEnvironment("A", "2")
        c.config = cc
        let again = try ImageConfig.decode(try c.encoded())
        #expect(again.json["container_config"] == c.json["container_config"])
        #expect(again.json["docker_version"] == .string("20.10.24"))
        #expect(again.config.json["X-Vendor"] == .object(["nested": .array([.int(1), .double(2.5), .null, .bool(true)])]))
        #expect(again.config.env == ["PATH=/usr/bin:/bin", "A=2"])
        #expect(again == c)
    }

    @Test(arguments: [
        ("[]", "expected a JSON object"),
        (#"{"architecture":"amd64"}"#, "rootfs: required field missing"),
        (#"{"rootfs":{"type":"other","diff_ids":[]}}"#, "rootfs.type"),
        (#"{"rootfs":{"type":"layers","diff_ids":["bad"]}}"#, "diff_ids"),
        (#"{"rootfs":{"type":"layers","diff_ids":[]},"history":"x"}"#, "history"),
    ])
    func rejectsBad(_ json: String, _ reason: String) {
        #expect {
            _ = try ImageConfig.decode(Array(json.utf8))
        } throws: { error in
            (error as? StrataError)?.message.contains(reason) ?? false
        }
    }
}

struct RFC3339Tests {
    @Test(arguments: [
        ("2026-11-22T15:27:53Z", 1795361273.0),
        ("2026-11-22T15:27:53.5Z", 1795361273.5),
        ("2026-11-22T16:27:53+01:00", 1795361273.0),
        ("1970-01-01T00:00:00Z", 0.0),
    ])
    func parses(_ s: String, _ epoch: Double) {
        #expect(RFC3339.parse(s)?.timeIntervalSince1970 == epoch)
    }

    @Test(arguments: ["", "2026-11-22", "2026-11-22T15:27:53", "2026-13-22T15:27:53Zjunk", "yesterday"])
    func rejects(_ s: String) {
        #expect(RFC3339.parse(s) == nil)
    }

    @Test func formatsLikeGo() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1795361273)) == "2026-11-22T15:27:53Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1795361273.25)) == "2026-11-22T15:27:53.25Z")
    }
}

struct PlatformTests {
    @Test(arguments: [("linux/amd64", "linux", "amd64", nil as String?), ("linux/arm64/v8", "linux", "arm64", "v8"), ("linux/x86_64", "linux", "amd64", nil)])
    func parses(_ s: String, _ os: String, _ arch: String, _ variant: String?) throws {
        let p = try Platform(parsing: s)
        #expect(p.os == os && p.architecture == arch && p.variant == variant)
    }

    @Test(arguments: ["linux", "linux/", "/amd64", "a/b/c/d"])
    func rejects(_ s: String) {
        #expect(throws: StrataError.self) { try Platform(parsing: s) }
    }
}
