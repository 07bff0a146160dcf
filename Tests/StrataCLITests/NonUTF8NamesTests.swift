import Foundation
import RegistryTestSupport
import Testing

// File names that are not UTF-8 end to end: Latin-1, where "é" is the single byte 0xE9. Paths
// here are byte arrays and the disk is read with raw syscalls: a Swift String cannot hold them.

private func latin1(_ text: String) -> [UInt8] { Array(text.unicodeScalars.map { UInt8($0.value) }) }
private func cPath(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }
private func join(_ root: String, _ rel: String) -> [UInt8] { Array(root.utf8) + [UInt8(ascii: "/")] + latin1(rel) }

private func createFile(_ path: [UInt8], _ text: String) throws {
    let fd = open(cPath(path), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try #require(fd >= 0, "cannot create \(path)")
    defer { close(fd) }
    let bytes = Array(text.utf8)
    #expect(write(fd, bytes, bytes.count) == bytes.count)
}

/// A file's bytes, or nil when it is not there.
private func contents(_ path: [UInt8]) -> String? {
    let fd = open(cPath(path), O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = read(fd, &buffer, buffer.count)
    return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
}

private func exists(_ path: [UInt8]) -> Bool {
    var st = stat()
    return lstat(cPath(path), &st) == 0
}

/// The names in a directory, by raw readdir.
private func names(_ dir: [UInt8]) -> Set<[UInt8]> {
    guard let stream = opendir(cPath(dir)) else { return [] }
    defer { closedir(stream) }
    var out = Set<[UInt8]>()
    while let e = readdir(stream) {
        out.insert(withUnsafeBytes(of: e.pointee.d_name) { Array($0.prefix { $0 != 0 }) })
    }
    return out
}

/// A Latin-1 file name made in busybox `sh`: printf turns the octal escape into the byte.
private func shellName(_ name: String) -> String {
    "\"$(printf '" + name.unicodeScalars.map { $0.value < 0x80 ? String($0) : "\\" + String($0.value, radix: 8) }.joined() + "')\""
}

/// import (an image whose files have Latin-1 names) → run (a container that reads one, makes
/// others, deletes one) → diff → commit → save → umoci unpack, load into another store, export:
/// every name arrives as the bytes it was made with.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct NonUTF8NamesTests {
    let root = CLI.temporaryDirectory("store")
    let work = CLI.temporaryDirectory("work")

    func strata(_ driver: String, _ args: [String], root: String? = nil) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["--root", root ?? self.root, "--storage-driver", driver] + args)
    }

    @Test(arguments: ContainerTests.drivers)
    func latin1NamesRoundTripThroughContainersAndPeers(_ driver: String) throws {
        let rootfs = try CLI.busyboxRootfs()
        try createFile(join(rootfs, "café.txt"), "from the image\n")
        try createFile(join(rootfs, "vieux-é"), "to delete\n")
        #expect(mkdir(cPath(join(rootfs, "rép")), 0o755) == 0)
        let imported = try strata(driver, ["import", "-c", "CMD [\"/bin/sh\"]", rootfs, "latin:1"])
        #expect(imported.status == 0, "\(imported.stderr)")

        let script = "cat \(shellName("/café.txt")); echo new > \(shellName("/naïve")); echo deep > \(shellName("/rép/fichier-é")); rm \(shellName("/vieux-é"))"
        let run = try strata(driver, ["run", "--name", "latin", "latin:1", "sh", "-c", script])
        #expect(run.status == 0 && run.stdout == "from the image\n", "\(run.stderr)")

        // diff prints each path's bytes, as Docker does.
        let diff = try strata(driver, ["diff", "latin"])
        #expect(diff.status == 0, "\(diff.stderr)")
        let expectedDiff: [UInt8] = ["A /naïve", "C /rép", "A /rép/fichier-é", "D /vieux-é"].flatMap { latin1($0) + [0x0A] }
        #expect([UInt8](diff.data) == expectedDiff)

        let commit = try strata(driver, ["commit", "latin", "latin:2"])
        #expect(commit.status == 0, "\(commit.stderr)")

        // umoci (Go's archive/tar) unpacks the saved OCI layout with the same names.
        if let umoci = CLI.which("umoci") {
            let saved = try strata(driver, ["save", "--format", "oci", "-o", "\(work)/latin-\(driver)/", "latin:2"])
            #expect(saved.status == 0, "\(saved.stderr)")
            let bundle = "\(work)/bundle-\(driver)"
            let unpack = try CLI.run(umoci, ["unpack", "--image", "\(work)/latin-\(driver):2", bundle])
            #expect(unpack.status == 0, "\(unpack.stderr)")
            expectTree(bundle + "/rootfs")
        }

        // A docker-archive loaded into another store runs with the names intact.
        let archive = "\(work)/latin-\(driver).tar", other = CLI.temporaryDirectory("store2")
        #expect(try strata(driver, ["save", "-o", archive, "latin:2"]).status == 0)
        let load = try strata(driver, ["load", "-i", archive], root: other)
        #expect(load.status == 0, "\(load.stderr)")
        let check = try strata(driver, ["run", "--rm", "latin:2", "sh", "-c",
                                        "cat \(shellName("/café.txt")) \(shellName("/naïve")) \(shellName("/rép/fichier-é")); test -e \(shellName("/vieux-é")) || echo gone"],
                               root: other)
        #expect(check.stdout == "from the image\nnew\ndeep\ngone\n", "\(check.stderr)")

        // export keeps them too (GNU tar reads the archive).
        let exported = "\(work)/export-\(driver).tar", tree = "\(work)/export-\(driver)"
        #expect(try strata(driver, ["export", "-o", exported, "latin"]).status == 0)
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        let untar = try CLI.run("/bin/tar", ["-xpf", exported, "-C", tree])
        #expect(untar.status == 0, "\(untar.stderr)")
        expectTree(tree)
    }

    /// The committed image's tree: the image's Latin-1 names and the container's, byte for byte;
    /// the deleted one gone.
    func expectTree(_ root: String) {
        #expect(contents(join(root, "café.txt")) == "from the image\n")
        #expect(contents(join(root, "naïve")) == "new\n")
        #expect(contents(join(root, "rép/fichier-é")) == "deep\n")
        #expect(!exists(join(root, "vieux-é")))
        let top = names(Array(root.utf8))
        #expect(top.isSuperset(of: [latin1("café.txt"), latin1("naïve"), latin1("rép")]))
        // Nothing was renamed on the way (U+FFFD is EF BF BD in UTF-8).
        #expect(!top.contains { $0.starts(with: Array("caf".utf8) + [0xEF, 0xBF, 0xBD]) })
    }
}
