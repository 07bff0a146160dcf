import Foundation
import RegistryTestSupport
import Testing

/// Interop with real peers: skopeo and umoci read what `strata save` writes, and strata loads what skopeo writes.
@Suite(.blocking, .serialized) struct PeerInteropTests {
    let root = CLI.temporaryDirectory("store")
    let work = CLI.temporaryDirectory("work")

    init() throws {
        let r = try CLI.strata(root, ["import", "-c", "CMD [\"/bin/sh\"]", try CLI.busyboxRootfs(), "interop/busybox:1"])
        precondition(r.status == 0, r.stderr)
    }

    func ourLayers(_ root: String, _ name: String) throws -> [String] {
        let out = try CLI.strata(root, ["inspect", "--format", "{{json .RootFS.Layers}}", name]).stdout
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String]
    }

    /// The diff IDs skopeo reads from an image's config.
    func skopeoLayers(_ ref: String) throws -> [String] {
        let r = try CLI.run(CLI.which("skopeo")!, ["inspect", "--config", ref])
        #expect(r.status == 0, "skopeo inspect \(ref): \(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        return (object["rootfs"] as! [String: Any])["diff_ids"] as! [String]
    }

    @Test(.enabled(if: CLI.which("skopeo") != nil), arguments: ["docker", "oci"])
    func skopeoReadsWhatStrataSaves(_ format: String) throws {
        let file = "\(work)/\(format).tar"
        #expect(try CLI.strata(root, ["save", "--format", format, "-o", file, "interop/busybox:1"]).status == 0)
        let transport = format == "docker" ? "docker-archive" : "oci-archive"
        #expect(try skopeoLayers("\(transport):\(file)") == ourLayers(root, "interop/busybox:1"))
        // A full copy through skopeo, and back into a fresh store: the same layers.
        let copy = "\(work)/copy-\(format).tar"
        let r = try CLI.run(CLI.which("skopeo")!, ["copy", "\(transport):\(file)", "oci-archive:\(copy):again/busybox:2"])
        #expect(r.status == 0, "\(r.stderr)")
        let other = CLI.temporaryDirectory("store2")
        #expect(try CLI.strata(other, ["load", "-i", copy]).stdout == "Loaded image: again/busybox:2\n")
        #expect(try ourLayers(other, "again/busybox:2") == ourLayers(root, "interop/busybox:1"))
    }

    @Test(.enabled(if: CLI.which("skopeo") != nil), arguments: ["docker-archive", "oci-archive"])
    func strataLoadsWhatSkopeoWrites(_ transport: String) throws {
        let ours = "\(work)/ours.tar"
        #expect(try CLI.strata(root, ["save", "--format", "oci", "-o", ours, "interop/busybox:1"]).status == 0)
        let theirs = "\(work)/theirs-\(transport).tar"
        let r = try CLI.run(CLI.which("skopeo")!, ["copy", "oci-archive:\(ours)", "\(transport):\(theirs):from/skopeo:3"])
        #expect(r.status == 0, "\(r.stderr)")
        let other = CLI.temporaryDirectory("store2")
        let load = try CLI.strata(other, ["load", "-i", theirs])
        #expect(load.status == 0, "\(load.stderr)")
        #expect(load.stdout == "Loaded image: from/skopeo:3\n")
        #expect(try ourLayers(other, "from/skopeo:3") == skopeoLayers("\(transport):\(theirs)"))
    }

    /// A docker-archive has no manifest; saved again as OCI, umoci and skopeo must read it.
    @Test(.enabled(if: CLI.which("umoci") != nil && CLI.which("skopeo") != nil))
    func dockerArchiveImagesSaveAsOCIManifests() throws {
        let docker = "\(work)/d.tar"
        #expect(try CLI.strata(root, ["save", "-o", docker, "interop/busybox:1"]).status == 0)
        let other = CLI.temporaryDirectory("store2")
        #expect(try CLI.strata(other, ["load", "-i", docker]).status == 0)
        let layout = "\(work)/from-docker/"
        #expect(try CLI.strata(other, ["save", "--format", "oci", "-o", layout, "interop/busybox:1"]).status == 0)
        let r = try CLI.run(CLI.which("umoci")!, ["unpack", "--image", "\(work)/from-docker:1", "\(work)/bundle2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try skopeoLayers("oci:\(work)/from-docker:1") == ourLayers(root, "interop/busybox:1"))
    }

    /// A layer Strata generates (commit of a container's changes: a whiteout, a new directory, a
    /// changed mode, links) unpacks with umoci to the same tree Strata shows.
    @Test(.enabled(if: CLI.which("umoci") != nil && CLI.which("runc") != nil && getuid() == 0))
    func umociUnpacksCommittedLayersToTheSameTree() throws {
        let run = try CLI.strata(root, ["run", "--name", "gen", "interop/busybox:1", "sh", "-c",
            "rm /bin/ls; mkdir -p /opt/app; echo v1 > /opt/app/file; ln -s file /opt/app/link; ln /opt/app/file /opt/app/hard; chmod 4711 /opt/app/file; echo changed > /etc/motd"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try CLI.strata(root, ["commit", "gen", "gen:1"]).status == 0)
        let layout = "\(work)/gen/"
        #expect(try CLI.strata(root, ["save", "--format", "oci", "-o", layout, "gen:1"]).status == 0)
        let bundle = "\(work)/gen-bundle"
        let unpack = try CLI.run(CLI.which("umoci")!, ["unpack", "--image", "\(work)/gen:1", bundle])
        #expect(unpack.status == 0, "\(unpack.stderr)")
        #expect(try CLI.strata(root, ["create", "--name", "view", "gen:1", "true"]).status == 0)
        let exported = "\(work)/gen.tar", tree = "\(work)/gen-tree"
        #expect(try CLI.strata(root, ["export", "-o", exported, "view"]).status == 0)
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        #expect(try CLI.run("/bin/tar", ["-xpf", exported, "-C", tree]).status == 0)
        // The runtime's mount points and /etc/mtab are the container's init layer, not the image's.
        let ignore: Set<String> = ["dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"]
        let ours = try TreeSummary.of(tree).filter { !ignore.contains($0.key) }
        let theirs = try TreeSummary.of("\(bundle)/rootfs").filter { !ignore.contains($0.key) }
        #expect(ours == theirs)
        #expect(ours["bin/ls"] == nil && ours["opt/app/file"]?.hasPrefix("f 4711") == true)
    }

    @Test(.enabled(if: CLI.which("umoci") != nil))
    func umociUnpacksWhatStrataSaves() throws {
        let layout = "\(work)/layout/"
        #expect(try CLI.strata(root, ["save", "--format", "oci", "-o", layout, "interop/busybox:1"]).status == 0)
        let bundle = "\(work)/bundle"
        let r = try CLI.run(CLI.which("umoci")!, ["unpack", "--image", "\(work)/layout:1", bundle])
        #expect(r.status == 0, "\(r.stderr)")
        let motd = try String(contentsOfFile: "\(bundle)/rootfs/etc/motd", encoding: .utf8)
        #expect(motd == "hello from strata\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(bundle)/rootfs/bin/sh") == "busybox")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(bundle)/config.json"))) as! [String: Any]
        #expect(((config["process"] as? [String: Any])?["args"] as? [String]) == ["/bin/sh"])
    }
}

/// path → "type mode uid:gid size target-or-content" for every entry of a tree, to compare trees.
enum TreeSummary {
    static func of(_ root: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for path in try FileManager.default.subpathsOfDirectory(atPath: root) {
            var st = stat()
            guard lstat("\(root)/\(path)", &st) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            let kind = type == S_IFDIR ? "d" : type == S_IFLNK ? "l" : type == S_IFREG ? "f" : "o"
            var detail = ""
            if type == S_IFLNK { detail = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(path)")) ?? "" }
            if type == S_IFREG { detail = String((try? Data(contentsOf: URL(fileURLWithPath: "\(root)/\(path)")))?.hashValue ?? 0) }
            out[path] = "\(kind) \(String(st.st_mode & 0o7777, radix: 8)) \(st.st_uid):\(st.st_gid) \(type == S_IFDIR ? 0 : st.st_size) \(detail)"
        }
        return out
    }
}
