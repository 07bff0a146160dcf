import Foundation
import RegistryTestSupport
import Testing

/// Volumes as a user meets them: named ones that outlive containers, binds, tmpfs, an image's
/// `VOLUME`, and `system df` counting them.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct VolumeTests {
    let root = CLI.temporaryDirectory("volumes")

    func strata(_ args: [String]) throws -> CLI.Result { try CLI.run(CLI.binary, ["--root", root] + args) }

    /// A busybox image; `files` are added to its tree first (path → content, or "->target" for a link).
    func image(_ name: String, change: [String] = [], files: [String: String] = [:]) throws {
        let tree = try CLI.busyboxRootfs()
        for (path, content) in files {
            let full = tree + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if content.hasPrefix("->") {
                try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: String(content.dropFirst(2)))
            } else {
                try Data(content.utf8).write(to: URL(fileURLWithPath: full))
            }
        }
        let r = try strata(["import"] + change.flatMap { ["-c", $0] } + [tree, name])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func aNamedVolumeOutlivesItsContainerAndIsShared() throws {
        try image("box:1")
        #expect(try strata(["volume", "create", "shared"]).stdout == "shared\n")
        let write = try strata(["run", "--rm", "-v", "shared:/data", "box:1", "sh", "-c", "echo kept > /data/f"])
        #expect(write.status == 0, "\(write.stderr)")
        #expect(try strata(["run", "--rm", "--mount", "type=volume,source=shared,target=/srv", "box:1", "cat", "/srv/f"]).stdout == "kept\n")
        #expect(try strata(["volume", "ls"]).stdout == "DRIVER    VOLUME NAME\nlocal     shared\n")
        let mountpoint = try strata(["volume", "inspect", "-f", "{{.Mountpoint}}", "shared"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try String(contentsOfFile: "\(mountpoint)/f", encoding: .utf8) == "kept\n")
        let json = try JSONSerialization.jsonObject(with: Data(try strata(["volume", "inspect", "shared"]).stdout.utf8)) as? [[String: Any]]
        #expect(json?.first?["Driver"] as? String == "local" && json?.first?["Name"] as? String == "shared" && json?.first?["Scope"] as? String == "local")

        // While any container (even one that never ran) mounts it, it stays.
        #expect(try strata(["create", "--name", "holder", "-v", "shared:/data", "box:1", "true"]).status == 0)
        let busy = try strata(["volume", "rm", "shared"])
        #expect(busy.status != 0 && busy.stderr.contains("volume is in use"), "\(busy.stderr)")
        #expect(try strata(["volume", "prune", "-f"]).stdout == "Total reclaimed space: 0B\n")
        #expect(try strata(["rm", "holder"]).status == 0)
        #expect(try strata(["volume", "rm", "shared"]).stdout == "shared\n")
        let gone = try strata(["volume", "inspect", "shared"])
        #expect(gone.status != 0 && gone.stderr.contains("No such volume: shared"), "\(gone.stderr)")
        #expect(try strata(["volume", "rm", "-f", "shared"]).status == 0)
        let badLabel = try strata(["volume", "create", "--label", "=x", "labelled"])
        #expect(badLabel.status != 0 && badLabel.stderr.contains("invalid label '=x': empty name"), "\(badLabel.stderr)")
        #expect(try strata(["volume", "ls", "-q"]).stdout == "")
    }

    @Test func readOnlyBindAndTmpfsMounts() throws {
        try image("box:1")
        let host = CLI.temporaryDirectory("bind-source")
        try Data("from the host\n".utf8).write(to: URL(fileURLWithPath: "\(host)/note"))
        #expect(try strata(["run", "--rm", "-v", "\(host):/mnt:ro", "box:1", "cat", "/mnt/note"]).stdout == "from the host\n")
        let refused = try strata(["run", "--rm", "-v", "\(host):/mnt:ro", "box:1", "sh", "-c", "echo x > /mnt/new"])
        #expect(refused.status != 0 && refused.stderr.contains("Read-only file system"), "\(refused.stderr)")
        let written = try strata(["run", "--rm", "--mount", "type=bind,source=\(host),target=/mnt", "box:1", "sh", "-c", "echo y > /mnt/new"])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try String(contentsOfFile: "\(host)/new", encoding: .utf8) == "y\n")
        let tmpfs = try strata(["run", "--rm", "--tmpfs", "/scratch:size=1m", "box:1", "sh", "-c", "grep ' /scratch ' /proc/mounts"])
        #expect(tmpfs.stdout.hasPrefix("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec"), "\(tmpfs.stdout) \(tmpfs.stderr)")
        #expect(tmpfs.stdout.contains("size=1024k"), "\(tmpfs.stdout)")
    }

    @Test func anImagesVolumeStartsWithItsFilesAndGoesWithRmV() throws {
        try image("db:1", change: ["VOLUME /var/lib/db"], files: ["/var/lib/db/seed": "from the image\n"])
        #expect(try strata(["run", "--name", "db", "db:1", "sh", "-c", "cat /var/lib/db/seed; echo more > /var/lib/db/new"]).stdout == "from the image\n")
        let anonymous = try strata(["volume", "ls", "-q"]).stdout.split(separator: "\n")
        #expect(anonymous.count == 1 && anonymous[0].count == 64, "\(anonymous)")
        // Started again, it keeps what it wrote: the copy is made into an empty volume only.
        #expect(try strata(["start", "-a", "db"]).stdout == "from the image\n")
        #expect(try strata(["diff", "db"]).stdout == "", "the volume's files are not the container's changes")
        #expect(try strata(["rm", "-v", "db"]).status == 0)
        #expect(try strata(["volume", "ls", "-q"]).stdout == "")
        // run --rm takes its anonymous volumes with it; a named one stays.
        #expect(try strata(["run", "--rm", "-v", "named:/keep", "db:1", "true"]).status == 0)
        #expect(try strata(["volume", "ls", "-q"]).stdout == "named\n")
        #expect(try strata(["volume", "prune", "-f"]).stdout == "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n")
    }

    /// A link in the image cannot aim a mount, or the copy into a new volume, at the host.
    @Test func aLinkInTheImageStaysInsideTheContainer() throws {
        let host = CLI.temporaryDirectory("host-target")
        try Data("host secret\n".utf8).write(to: URL(fileURLWithPath: "\(host)/secret"))
        try image("trap:1", files: ["/data": "->\(host)"])
        let r = try strata(["run", "--rm", "-v", "trapped:/data", "trap:1", "sh", "-c", "ls /data; echo inside > /data/x"])
        #expect(r.status == 0 && r.stdout == "", "\(r.stdout) \(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: host) == ["secret"])
        let mountpoint = try strata(["volume", "inspect", "-f", "{{.Mountpoint}}", "trapped"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try FileManager.default.contentsOfDirectory(atPath: mountpoint) == ["x"])
    }

    @Test func badMountsAreRefusedAndLeaveNothing() throws {
        try image("box:1")
        #expect(try strata(["create", "--name", "taken", "box:1", "true"]).status == 0)
        let cases: [(args: [String], message: String)] = [
            (["-v", "fresh:/a", "-v", "/nonexistent-source:/b"], "bind source path does not exist: /nonexistent-source"),
            (["-v", "fresh:/a", "-v", "other:/a"], "Duplicate mount point: /a"),
            (["--name", "taken", "-v", "fresh:/a"], "is already in use"),
            (["-v", "fresh:/a:rx"], "invalid mode: rx"),
        ]
        for c in cases {
            let r = try strata(["run"] + c.args + ["box:1", "true"])
            #expect(r.status == 125 && r.stderr.contains(c.message), "\(c.args): \(r.status) \(r.stderr)")
        }
        #expect(try strata(["volume", "ls", "-q"]).stdout == "", "no volume was left made")
        #expect(try strata(["ps", "-a", "-q"]).stdout.split(separator: "\n").count == 1, "only the container named taken")
    }

    @Test func systemDfCountsContainersAndVolumes() throws {
        try image("box:1")
        #expect(try strata(["run", "--name", "writer", "-v", "two:/v", "box:1", "sh", "-c",
                            "dd if=/dev/zero of=/big bs=1024 count=2048 2>/dev/null; dd if=/dev/zero of=/v/half bs=1024 count=512 2>/dev/null"]).status == 0)
        let df = try strata(["system", "df"]).stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(df.contains("Containers 1 0 2.097MB 2.097MB (100%)"), "\(df)")
        #expect(df.contains("Local Volumes 1 1 524.3kB 0B (0%)"), "\(df)")
        let verbose = try strata(["system", "df", "-v"]).stdout
        let lines = verbose.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.contains("two 1 524.3kB"), "\(verbose)")
        #expect(lines.contains { $0.contains(" 1 2.1MB ") && $0.hasSuffix(" writer") }, "\(verbose)")
    }
}
