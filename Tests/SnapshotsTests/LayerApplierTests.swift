import Foundation
import Testing
@testable import Archive
import CLinux
import ImageSpec

/// Builds layer tars entry by entry.
struct LayerBuilder {
    private let out = MemoryWriter()
    private let tar: TarWriter
    init() { tar = TarWriter(out) }

    func file(_ name: String, _ body: String = "x", mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0, mtime: Int64 = 1_000_000,
              xattrs: [String: [UInt8]] = [:]) throws -> LayerBuilder {
        try tar.append(TarHeader(name: BytePath(name), mode: mode, uid: uid, gid: gid, size: Int64(body.utf8.count), modificationTime: mtime, xattrs: xattrs),
                       body: MemoryReader(Array(body.utf8)))
        return self
    }
    func dir(_ name: String, mode: UInt32 = 0o755) throws -> LayerBuilder {
        try tar.append(.directory(BytePath(name), mode: mode, modificationTime: 1_000_000), body: nil)
        return self
    }
    func symlink(_ name: String, _ target: String) throws -> LayerBuilder {
        try tar.append(.symlink(BytePath(name), target: BytePath(target)), body: nil)
        return self
    }
    func hardlink(_ name: String, _ target: String) throws -> LayerBuilder {
        try tar.append(.hardLink(BytePath(name), target: BytePath(target)), body: nil)
        return self
    }
    func entry(_ header: TarHeader) throws -> LayerBuilder {
        try tar.append(header, body: nil)
        return self
    }
    func bytes() throws -> [UInt8] {
        try tar.finish()
        return out.bytes
    }
}

func temporaryDirectory(_ name: String = "t") -> String {
    let path = NSTemporaryDirectory() + "strata-\(name)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func apply(_ layers: [[UInt8]], to root: String, mode: LayerApplier.Mode = .flatten) throws {
    let applier = try LayerApplier(directory: root, mode: mode)
    for layer in layers { try applier.apply(TarReader(MemoryReader(layer))) }
}

func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

struct LayerSafetyTests {
    /// A tree beside the root: nothing any layer does may touch it.
    let outside = temporaryDirectory("outside")
    let root = temporaryDirectory("root")

    init() throws {
        try "keep".write(toFile: outside + "/victim", atomically: true, encoding: .utf8)
    }

    func outsideUntouched() -> Bool {
        read(outside + "/victim") == "keep" && (try? FileManager.default.contentsOfDirectory(atPath: outside)) == ["victim"]
    }

    @Test func dotDotIsRefused() throws {
        let up = String(repeating: "../", count: 8) + outside.dropFirst() + "/pwned"
        #expect {
            try apply([LayerBuilder().file(up).bytes()], to: root)
        } throws: { error in
            (error as? StrataError)?.message.contains("leads outside the root") ?? false
        }
        #expect(outsideUntouched())
    }

    @Test func absoluteNamesStayInside() throws {
        try apply([LayerBuilder().file(outside + "/pwned", "in").bytes()], to: root)
        #expect(outsideUntouched())
        #expect(read(root + outside + "/pwned") == "in")
    }

    @Test(arguments: [
        ("absolute", ["link": "/"]),
        ("relative hops", ["link": "../../../../../../../../"]),
        ("chain", ["link": "hop1", "hop1": "hop2", "hop2": "../../../../../../../.."]),
    ])
    func symlinksThatPointOutResolveInside(_ name: String, _ links: [String: String]) throws {
        var b = LayerBuilder()
        for (l, t) in links.sorted(by: { $0.key < $1.key }) { b = try b.symlink(l, t) }
        let target = "link" + outside + "/pwned"
        try apply([try b.file(target, "in").bytes()], to: root)
        #expect(outsideUntouched())
        // Resolved as a chroot would: the file lands inside the root.
        #expect(read(root + outside + "/pwned") == "in")
    }

    @Test func hardLinksOutsideAreRefused() throws {
        let up = String(repeating: "../", count: 8) + outside.dropFirst() + "/victim"
        #expect(throws: StrataError.self) { try apply([LayerBuilder().hardlink("h", up).bytes()], to: root) }
        // An absolute target resolves inside the root, where there is no such file.
        #expect(throws: StrataError.self) { try apply([LayerBuilder().hardlink("h", outside + "/victim").bytes()], to: root) }
        #expect(outsideUntouched())
        var st = stat()
        stat(outside + "/victim", &st)
        #expect(st.st_nlink == 1)
    }

    @Test func whiteoutsThroughSymlinksStayInside() throws {
        let layer1 = try LayerBuilder().symlink("link", outside).bytes()
        let layer2 = try LayerBuilder().entry(TarHeader(name: "link/.wh.victim")).bytes()
        try apply([layer1, layer2], to: root)
        #expect(outsideUntouched())
        let opaque = try LayerBuilder().entry(TarHeader(name: "link/.wh..wh..opq")).bytes()
        try apply([layer1, opaque], to: temporaryDirectory())
        #expect(outsideUntouched())
    }

    @Test func overwritingASymlinkReplacesTheLinkNotItsTarget() throws {
        let layer1 = try LayerBuilder().symlink("f", outside + "/victim").bytes()
        let layer2 = try LayerBuilder().file("f", "new").bytes()
        try apply([layer1, layer2], to: root)
        #expect(outsideUntouched())
        #expect(read(root + "/f") == "new")
    }
}

struct LayerSemanticsTests {
    let root = temporaryDirectory("root")

    @Test func whiteoutsAndOpaqueDirectoriesFlatten() throws {
        let base = try LayerBuilder().dir("a").file("a/x").file("a/y").file("b").dir("c").file("c/keep").bytes()
        let top = try LayerBuilder().dir("a").file("a/z", "new").entry(TarHeader(name: "a/.wh..wh..opq")).entry(TarHeader(name: ".wh.b"))
            .entry(TarHeader(name: "c/.wh.nothing")).bytes()
        try apply([base, top], to: root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/a") == ["z"])
        #expect(!FileManager.default.fileExists(atPath: root + "/b"))
        #expect(read(root + "/c/keep") == "x")
    }

    @Test func whiteoutsBecomeOverlayMarkers() throws {
        let top = try LayerBuilder().dir("a").entry(TarHeader(name: "a/.wh..wh..opq")).entry(TarHeader(name: ".wh.b")).bytes()
        try apply([top], to: root, mode: .overlayDiff)
        var st = stat()
        #expect(lstat(root + "/b", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0)
        #expect(TreeArchiver.isOpaque(BytePath(root + "/a")))
    }

    /// Unpacking skips chown for files already ours, but never where a setgid directory would
    /// hand down its group.
    @Test(.enabled(if: geteuid() == 0), arguments: [LayerApplier.Mode.overlayDiff, .flatten])
    func ownersSurviveSetgidDirectories(_ mode: LayerApplier.Mode) throws {
        let layer = try LayerBuilder()
            .entry(TarHeader(name: "shared/", kind: .directory, mode: 0o2775, uid: 0, gid: 50))
            .file("shared/root-file", uid: 0, gid: 0)
            .file("plain", uid: 0, gid: 0)
            .file("other", uid: 7, gid: 8)
            .bytes()
        try apply([layer], to: root, mode: mode)
        var st = stat()
        stat(root + "/shared/root-file", &st)
        #expect(st.st_uid == 0 && st.st_gid == 0)
        stat(root + "/plain", &st)
        #expect(st.st_uid == 0 && st.st_gid == 0)
        stat(root + "/other", &st)
        #expect(st.st_uid == 7 && st.st_gid == 8)
    }

    @Test func modesOwnersTimesLinksAndSpecialFiles() throws {
        let layer = try LayerBuilder()
            .file("suid", "s", mode: 0o4755, uid: 1234, gid: 5678, mtime: 1_234_567_890, xattrs: ["user.note": Array("hi".utf8)])
            .dir("ro", mode: 0o555)
            .file("ro/inside")
            .hardlink("hard", "suid")
            .symlink("sym", "suid")
            .entry(TarHeader(name: "fifo", kind: .fifo, mode: 0o640))
            .entry(TarHeader.device("null", kind: .characterDevice, major: 1, minor: 3))
            .bytes()
        try apply([layer], to: root)
        var st = stat()
        stat(root + "/suid", &st)
        #expect(st.st_mode & 0o7777 == 0o4755)
        #expect(st.st_uid == 1234 && st.st_gid == 5678)
        #expect(st.st_mtim.tv_sec == 1_234_567_890)
        #expect(st.st_nlink == 2)
        stat(root + "/ro", &st)
        #expect(st.st_mode & 0o7777 == 0o555 && st.st_mtim.tv_sec == 1_000_000)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/sym") == "suid")
        lstat(root + "/fifo", &st)
        #expect((st.st_mode & S_IFMT) == S_IFIFO && st.st_mode & 0o777 == 0o640)
        lstat(root + "/null", &st)
        #expect((st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == (1 << 8 | 3))
        var value = [UInt8](repeating: 0, count: 8)
        #expect(getxattr(root + "/suid", "user.note", &value, 8) == 2)
    }

    @Test(arguments: [
        ("file then directory", [("f", "file"), ("f", "dir"), ("f/inner", "file")]),
        ("directory then file", [("d", "dir"), ("d/x", "file"), ("d", "file")]),
        ("symlink then file", [("s", "link"), ("s", "file")]),
        ("file then symlink", [("s", "file"), ("s", "link")]),
    ])
    func laterEntriesReplaceEarlierOnesOfAnotherType(_ name: String, _ steps: [(String, String)]) throws {
        var b = LayerBuilder()
        for (path, kind) in steps {
            switch kind {
            case "dir": b = try b.dir(path)
            case "link": b = try b.symlink(path, "/nowhere")
            default: b = try b.file(path, "last")
            }
        }
        try apply([try b.bytes()], to: root)
        let (last, kind) = steps.last!
        var st = stat()
        #expect(lstat(root + "/" + last, &st) == 0)
        switch kind {
        case "dir": #expect((st.st_mode & S_IFMT) == S_IFDIR)
        case "link": #expect((st.st_mode & S_IFMT) == S_IFLNK)
        default: #expect((st.st_mode & S_IFMT) == S_IFREG && read(root + "/" + last) == "last")
        }
    }

    @Test func digestsAreCheckedWhileStreaming() throws {
        let layer = try LayerBuilder().file("a").bytes()
        let applier = try LayerApplier(directory: root, mode: .flatten)
        #expect {
            try applier.apply(blob: MemoryReader(layer), compression: .none, digest: nil, diffID: Digest.sha256(of: [1]))
        } throws: { error in
            (error as? StrataError)?.message.contains("diff ID mismatch") ?? false
        }
        let ok = try LayerApplier(directory: temporaryDirectory(), mode: .flatten)
        try ok.apply(blob: MemoryReader(layer), compression: .none, digest: Digest.sha256(of: layer), diffID: Digest.sha256(of: layer))
    }

    /// A tree archived by Strata unpacks to the same tree, and archives to the same bytes again.
    @Test func generatedLayersRoundTripReproducibly() throws {
        let source = temporaryDirectory("src")
        try FileManager.default.createDirectory(atPath: source + "/d/e", withIntermediateDirectories: true)
        try "one".write(toFile: source + "/d/e/f", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: source + "/l", withDestinationPath: "d/e/f")
        try FileManager.default.linkItem(atPath: source + "/d/e/f", toPath: source + "/h")
        chmod(source + "/d/e/f", 0o2711)
        func archive(_ dir: String) throws -> [UInt8] {
            let out = MemoryWriter()
            let tar = TarWriter(out)
            try TreeArchiver(clampTime: 2_000_000).archive(directory: dir, into: tar)
            try tar.finish()
            return out.bytes
        }
        let first = try archive(source)
        try apply([first], to: root)
        #expect(try archive(root) == first)
    }
}

struct PipelinedReaderTests {
    @Test func passesEveryByteInOrder() throws {
        let data = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let pipeline = PipelinedReader(MemoryReader(data), chunkSize: 65_536, depth: 3)
        #expect(try pipeline.readAll(limit: 1 << 30) == data)
    }

    @Test func reportsTheSourcesError() {
        final class Failing: ByteReader {
            var calls = 0
            func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
                calls += 1
                if calls > 3 { throw StrataError(.io, "disk on fire") }
                buffer[0] = 1
                return 1
            }
        }
        let pipeline = PipelinedReader(Failing())
        #expect(throws: StrataError(.io, "disk on fire")) { _ = try pipeline.readAll() }
    }

    @Test func aLayerThatFailsMidwayStopsThePipeline() throws {
        // A truncated gzip layer: the error reaches the applier through the pipeline.
        let layer = try LayerBuilder().file("a", String(repeating: "x", count: 100_000)).bytes()
        let out = MemoryWriter()
        let gz = try GzipWriter(out)
        try gz.write(layer)
        try gz.finish()
        let applier = try LayerApplier(directory: temporaryDirectory(), mode: .flatten)
        #expect(throws: StrataError.self) {
            try applier.apply(blob: MemoryReader(Array(out.bytes.prefix(out.bytes.count / 2))), compression: .gzip, digest: nil, diffID: nil)
        }
    }
}
