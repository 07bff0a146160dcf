import Foundation
import RegistryTestSupport
import Testing

/// `strata system check` on stores damaged on purpose, and damage caught where a blob is read.
@Suite(.blocking, .serialized, .enabled(if: canRun)) struct StoreCheckTests {
    func check(_ client: Client, _ flags: [String] = []) throws -> CLI.Result { try client.strata(["system", "check"] + flags) }

    func blobPath(_ client: Client, _ digest: String) -> String {
        "\(client.root)/blobs/sha256/\(digest.dropFirst("sha256:".count))"
    }

    /// The image's one layer blob (an import stores one plain tar).
    func layerBlob(_ client: Client, _ name: String) throws -> String {
        let manifest = try client.strata(["image", "inspect", "--format", "{{json .}}", name])
        #expect(manifest.status == 0, "\(manifest.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(client.root)/blobs/sha256")
        let sizes = files.map { ($0, (try? FileManager.default.attributesOfItem(atPath: "\(client.root)/blobs/sha256/\($0)")[.size] as? Int) ?? 0) }
        return "sha256:" + sizes.max { $0.1 < $1.1 }!.0
    }

    func flipByte(_ path: String, at offset: UInt64 = 5000) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: offset)
        let byte = try handle.read(upToCount: 1)!
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([byte[0] ^ 0xff]))
        try handle.close()
    }

    @Test func aCleanStoreIsCleanAndLeftoversDoNotMakeItDirty() throws {
        let c = Client()
        try c.importBusybox("box:1")
        #expect(try c.strata(["run", "--name", "kept", "box:1", "true"]).status == 0)
        let clean = try check(c, ["--deep"])
        #expect(clean.status == 0 && clean.stdout.hasSuffix("The store is clean.\n"), "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.hasPrefix("Checked 3 blobs, 1 image, 1 snapshot and 1 container in "), "\(clean.stdout)")

        // What killed processes leave: a container directory without its row, a snapshot unpack
        // that never finished, runtime state. (Ingests and work files of processes that are gone
        // are swept whenever the store is opened, this check's opening too.)
        try FileManager.default.createDirectory(atPath: "\(c.root)/containers/0123abcd/upper", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(c.root)/snapshots/overlay/tmp-999999-1/diff", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(c.root)/runtime/0123abcd", withIntermediateDirectories: true)
        let untidy = try check(c)
        #expect(untidy.status == 0, "\(untidy.stdout)\(untidy.stderr)")
        for kind in ["stray-container-directory containers/0123abcd", "stale-temporary snapshots/overlay/tmp-999999-1", "stale-runtime-state runtime/0123abcd"] {
            #expect(untidy.stdout.contains("leftover \(kind):"), "\(kind): \(untidy.stdout)")
        }
        #expect(untidy.stdout.hasSuffix("The store is clean; 3 leftovers of killed processes can be removed with --repair.\n"), "\(untidy.stdout)")
        let tidied = try check(c, ["--repair"])
        #expect(tidied.status == 0 && tidied.stdout.contains("repaired: removed"), "\(tidied.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "\(c.root)/containers/0123abcd"))
        #expect(try check(c).stdout.hasSuffix("The store is clean.\n"))
        #expect(try c.strata(["start", "-a", "kept"]).status == 0)

        let json = try check(c, ["--format", "json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(document?["Outcome"] as? String == "clean" && (document?["Findings"] as? [Any])?.isEmpty == true, "\(json.stdout)")
        let bad = try check(c, ["--format", "yaml"])
        #expect(bad.status != 0 && bad.stderr.contains("invalid --format \"yaml\": text or json"), "\(bad.stderr)")
    }

    /// A flipped byte in a layer blob: found by the check, refused by save and push (naming the
    /// blob and the remedy), harmless to run; set aside by --repair and fetched again by load.
    @Test func aDamagedBlobIsCaughtAtUseSetAsideAndFetchedAgain() throws {
        let c = Client()
        try c.importBusybox("box:1")
        #expect(try c.strata(["run", "--rm", "box:1", "true"]).status == 0)
        let archive = CLI.temporaryDirectory("check-archive") + ".tar"
        #expect(try c.strata(["save", "-o", archive, "box:1"]).status == 0)
        let layer = try layerBlob(c, "box:1")
        try flipByte(blobPath(c, layer))

        let found = try check(c)
        #expect(found.status == 2, "\(found.stdout)\(found.stderr)")
        #expect(found.stdout.contains("damaged  damaged-blob \(layer): the blob of box:1 is damaged: its "), "\(found.stdout)")
        #expect(found.stdout.hasSuffix("The store is damaged: 1 problem left; run `strata system check --repair`.\n"), "\(found.stdout)")

        // Already unpacked: run does not read the blob.
        #expect(try c.strata(["run", "--rm", "box:1", "echo", "runs"]).stdout == "runs\n")
        let out = CLI.temporaryDirectory("check-save") + ".tar"
        let save = try c.strata(["save", "-o", out, "box:1"])
        #expect(save.status != 0 && save.stderr.contains("blob \(layer) is damaged in the store"), "\(save.stderr)")
        #expect(save.stderr.contains("run `strata system check --repair`"))
        #expect(!FileManager.default.fileExists(atPath: out))
        if TestRegistry.available {
            let registry = try TestRegistry("plain")
            #expect(try c.strata(["tag", "box:1", "\(registry.host)/check/box:1"]).status == 0)
            let push = try c.strata(["push", "\(registry.host)/check/box:1"])
            #expect(push.status != 0 && push.stderr.contains("blob \(layer) is damaged in the store"), "\(push.stderr)")
            #expect(try Client().strata(["pull", "\(registry.host)/check/box:1"]).status != 0)
        }

        let repaired = try check(c, ["--repair"])
        #expect(repaired.status == 1, "\(repaired.stdout)\(repaired.stderr)")
        #expect(repaired.stdout.contains("repaired: set aside in damaged/sha256/\(layer.dropFirst(7)); pull or load "), "\(repaired.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(c.root)/damaged/sha256/\(layer.dropFirst(7))"))
        let missing = try check(c)
        #expect(missing.status == 2 && missing.stdout.contains("damaged  missing-blob \(layer): image "), "\(missing.stdout)")
        #expect(missing.stdout.hasSuffix("see what each one needs above.\n"), "\(missing.stdout)")

        #expect(try c.strata(["load", "-i", archive]).status == 0)
        #expect(try check(c).status == 0)
        #expect(try c.strata(["save", "-o", out, "box:1"]).status == 0)
    }

    /// A truncated blob of an image not yet unpacked: the unpack names the blob, not a tar error.
    @Test func aTruncatedBlobFailsAnUnpackByName() throws {
        let c = Client()
        try c.importBusybox("box:1")
        let layer = try layerBlob(c, "box:1")
        try FileHandle(forUpdating: URL(fileURLWithPath: blobPath(c, layer))).truncate(atOffset: 4096)
        let run = try c.strata(["run", "--rm", "box:1", "true"])
        #expect(run.status == 125 && run.stderr.contains("blob \(layer) is damaged in the store (its 4096 bytes hash to "), "\(run.stderr)")
        #expect(try check(c).status == 2)
    }

    /// --deep holds each snapshot against its layer unpacked afresh.
    @Test func aDeepCheckFindsASnapshotThatNoLongerMatchesItsLayer() throws {
        let c = Client()
        try c.importBusybox("box:1")
        #expect(try c.strata(["run", "--rm", "box:1", "true"]).status == 0)
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(c.root)/snapshots/overlay").filter { $0.count == 64 }
        let diff = "\(c.root)/snapshots/overlay/\(try #require(snapshots.first))/diff"
        try Data("tampered\n".utf8).write(to: URL(fileURLWithPath: "\(diff)/bin/extra"))
        #expect(try check(c).status == 0)
        let deep = try check(c, ["--deep"])
        #expect(deep.status == 2 && deep.stdout.contains("damaged-snapshot") && deep.stdout.contains("bin/extra: not in the layer"), "\(deep.stdout)")
        let repaired = try check(c, ["--deep", "--repair"])
        #expect(repaired.status == 1 && repaired.stdout.contains("repaired: removed; it is unpacked again from layer"), "\(repaired.stdout)")
        #expect(try c.strata(["run", "--rm", "box:1", "sh", "-c", "test -e /bin/extra || echo gone"]).stdout == "gone\n")
        #expect(try check(c, ["--deep"]).status == 0)
    }

    /// Strata's registry never serves a damaged blob: the pull fails, the server logs it, whether
    /// the blob was served whole before (and is known good) or not.
    @Test func theRegistryServerNeverServesADamagedBlob() throws {
        let registry = try StrataRegistry()
        let a = Client()
        let name = "\(registry.host)/check/box:1"
        try a.importBusybox(name)
        #expect(try a.strata(["push", name]).status == 0)
        #expect(try Client().strata(["pull", name]).status == 0)
        let blobs = "\(registry.root)/blobs/sha256"
        let files = try FileManager.default.contentsOfDirectory(atPath: blobs)
        let layer = files.max { ((try? FileManager.default.attributesOfItem(atPath: "\(blobs)/\($0)")[.size] as? Int) ?? 0)
                                < ((try? FileManager.default.attributesOfItem(atPath: "\(blobs)/\($1)")[.size] as? Int) ?? 0) }!
        try flipByte("\(blobs)/\(layer)", at: 100)
        let pull = try Client().strata(["pull", name])
        #expect(pull.status != 0, "\(pull.stdout)\(pull.stderr)")
        let log = (try? String(contentsOfFile: registry.log, encoding: .utf8)) ?? ""
        #expect(log.contains("blob sha256:\(layer) is damaged in the store"), "\(log)")
        #expect(registry.stop() == 0)
    }

    /// The store's own files and directories are never world-writable, whatever the image's files
    /// are (its /tmp is 1777 inside snapshots and containers, which are the image's, not the store's).
    @Test func theStoresOwnFilesAreNotWorldWritable() throws {
        let c = Client()
        try c.importBusybox("box:1")
        let run = try c.strata(["run", "--name", "modes", "-v", "data:/data", "box:1", "sh", "-c", "mkdir -p /tmp && chmod 1777 /tmp && echo x > /data/f"])
        #expect(run.status == 0, "\(run.stderr)")
        let contentOfImages = ["/diff", "/fs", "/upper", "/merged", "/rootfs", "/init", "/work", "/_data"]
        var writable: [String] = []
        let walker = FileManager.default.enumerator(atPath: c.root)
        while let relative = walker?.nextObject() as? String {
            if contentOfImages.contains(where: { relative.hasSuffix($0) }) { walker?.skipDescendants(); continue }
            var st = stat()
            guard lstat("\(c.root)/\(relative)", &st) == 0, st.st_mode & S_IFMT != S_IFLNK else { continue }
            if st.st_mode & S_IWOTH != 0 { writable.append("\(relative) \(String(st.st_mode, radix: 8))") }
        }
        #expect(writable.isEmpty, "\(writable)")
    }

    /// An image whose layer records are gone cannot be read, so the snapshots it may stand on are
    /// kept, not swept as strays, whatever --repair is asked.
    @Test func anUnreadableImageKeepsItsSnapshots() throws {
        let c = Client()
        try c.importBusybox("box:1")
        #expect(try c.strata(["run", "--rm", "box:1", "true"]).status == 0)
        let sql = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('DELETE FROM layers'); db.commit()"
        #expect(try CLI.run("/usr/bin/python3", ["-c", sql, "\(c.root)/metadata.db"]).status == 0)
        let repaired = try check(c, ["--repair"])
        #expect(repaired.status == 2 && repaired.stdout.contains("damaged  unreadable-record"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("→ kept while an image cannot be read"), "\(repaired.stdout)")
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(c.root)/snapshots/overlay").filter { $0.count == 64 }
        #expect(snapshots.count == 1)
    }
}
