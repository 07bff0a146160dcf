import Foundation
import Testing
@testable import Archive
import CLinux
import ImageSpec

// Layers whose names are not UTF-8 (Latin-1: 0xE9 is "é"), unpacked and archived again: the names
// on disk and in the new tars must be the original bytes. The disk is checked with raw readdir
// and lstat on byte paths, independent of the code under test.

private func latin1(_ text: String) -> [UInt8] { Array(text.unicodeScalars.map { UInt8($0.value) }) }
private func cPath(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }
private func join(_ root: String, _ rel: [UInt8]) -> [UInt8] { Array(root.utf8) + [UInt8(ascii: "/")] + rel }

private func rawNames(_ dir: [UInt8]) -> Set<[UInt8]> {
    guard let stream = opendir(cPath(dir)) else { return [] }
    defer { closedir(stream) }
    var names = Set<[UInt8]>()
    while let e = readdir(stream) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
        if name != [0x2E] && name != [0x2E, 0x2E] { names.insert(name) }
    }
    return names
}

private func rawStat(_ path: [UInt8]) -> stat? {
    var st = stat()
    return lstat(cPath(path), &st) == 0 ? st : nil
}

private func rawLink(_ path: [UInt8]) -> [UInt8]? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink(cPath(path), &buffer, buffer.count)
    return n < 0 ? nil : buffer[0..<n].map { UInt8(bitPattern: $0) }
}

private let directory = latin1("répertoire")
private let cafe = latin1("répertoire/café.txt")
private let deep = latin1("répertoire/" + String(repeating: "sous-dossier-é-", count: 5))
private let longFile = deep + latin1("/" + String(repeating: "fichier-é-", count: 8))

/// kind, name, link target — what an entry of a tar names.
private struct Named: Hashable, CustomStringConvertible {
    var kind: TarHeader.Kind
    var name: [UInt8]
    var link: [UInt8] = []
    var description: String { "\(kind) \(BytePath(bytes: name)) \(BytePath(bytes: link))" }
}

private func header(_ kind: TarHeader.Kind, _ name: [UInt8], link: [UInt8] = []) -> TarHeader {
    TarHeader(name: BytePath(bytes: name), kind: kind, mode: kind == .directory ? 0o755 : 0o644,
              modificationTime: 1_000_000, linkName: BytePath(bytes: link))
}

private func layer(_ headers: [TarHeader]) throws -> [UInt8] {
    let out = MemoryWriter()
    let tar = TarWriter(out)
    for h in headers { try tar.append(h, data: h.kind == .regular ? Array("data".utf8) : []) }
    try tar.finish()
    return out.bytes
}

/// The base layer: a directory, a file, a symlink and a hard link to it, a long name, and what
/// the top layer deletes.
private let base: [TarHeader] = {
    var file = header(.regular, cafe)
    file.xattrs = ["user.note": [1, 2, 3]]
    return [
        header(.directory, directory + [0x2F]),
        file,
        header(.symlink, latin1("répertoire/lien"), link: latin1("café.txt")),
        header(.hardLink, latin1("répertoire/dur"), link: cafe),
        header(.regular, latin1("répertoire/ancien-é")),
        header(.directory, deep + [0x2F]),
        header(.regular, longFile),
        header(.regular, latin1("vieux-é")),
        header(.directory, latin1("opaque-é/")),
        header(.regular, latin1("opaque-é/dedans")),
    ]
}()

/// The top layer: whiteouts of non-UTF-8 names (one in a non-UTF-8 directory), an opaque
/// marker in a non-UTF-8 directory, a new file.
private let top: [TarHeader] = [
    header(.regular, latin1("répertoire/.wh.ancien-é")),
    header(.regular, latin1(".wh.vieux-é")),
    header(.regular, latin1("opaque-é/.wh..wh..opq")),
    header(.regular, latin1("nouveau-é")),
]

private func archived(_ write: (TarWriter) throws -> Void) throws -> [Named] {
    let out = MemoryWriter()
    let tar = TarWriter(out)
    try write(tar)
    try tar.finish()
    let reader = TarReader(MemoryReader(out.bytes))
    var names: [Named] = []
    while let h = try reader.next() { names.append(Named(kind: h.kind, name: h.name.bytes, link: h.linkName.bytes)) }
    return names
}

private func named(_ h: TarHeader) -> Named { Named(kind: h.kind, name: h.name.bytes, link: h.linkName.bytes) }

@Suite(.enabled(if: getuid() == 0))
struct NonUTF8UnpackTests {
    let lower = temporaryDirectory("latin1-lower")
    let upper = temporaryDirectory("latin1-upper")

    /// The base layer on disk, checked by raw readdir, lstat and readlink.
    func expectBaseOnDisk(_ root: String) {
        #expect(rawNames(Array(root.utf8)).isSuperset(of: [directory, latin1("opaque-é")]))
        #expect(rawNames(join(root, directory)) == [latin1("café.txt"), latin1("lien"), latin1("dur"), latin1("ancien-é"),
                                                   Array(deep.dropFirst(directory.count + 1))])
        #expect(rawLink(join(root, latin1("répertoire/lien"))) == latin1("café.txt"))
        let file = rawStat(join(root, cafe)), link = rawStat(join(root, latin1("répertoire/dur")))
        #expect(file != nil && file?.st_ino == link?.st_ino && file?.st_nlink == 2)
        #expect(rawStat(join(root, longFile)).map { ($0.st_mode & S_IFMT) == S_IFREG } == true)
        var note = [UInt8](repeating: 0, count: 8)
        #expect(lgetxattr(cPath(join(root, cafe)), "user.note", &note, note.count) == 3 && note.prefix(3) == [1, 2, 3])
    }

    /// Overlay form (a pull): each layer in its own directory, whiteouts as 0/0 devices; then
    /// `TreeArchiver` (commit of an upper directory, export) and `TreeChanges` (diff) give the
    /// same bytes back.
    @Test func overlayLayersUnpackAndArchiveByteForByte() throws {
        try LayerApplier(directory: lower, mode: .overlayDiff).apply(TarReader(MemoryReader(try layer(base))))
        try LayerApplier(directory: upper, mode: .overlayDiff).apply(TarReader(MemoryReader(try layer(top))))
        expectBaseOnDisk(lower)

        #expect(rawNames(Array(upper.utf8)) == [directory, latin1("vieux-é"), latin1("opaque-é"), latin1("nouveau-é")])
        for gone in [latin1("vieux-é"), latin1("répertoire/ancien-é")] {
            let st = rawStat(join(upper, gone))
            #expect(st.map { ($0.st_mode & S_IFMT) == S_IFCHR && $0.st_rdev == 0 } == true, "\(BytePath(bytes: gone))")
        }
        var opaque = [UInt8](repeating: 0, count: 2)
        #expect(lgetxattr(cPath(join(upper, latin1("opaque-é"))), "trusted.overlay.opaque", &opaque, 2) == 1 && opaque[0] == UInt8(ascii: "y"))

        // The whole base tree archived again: the entries it came from (the hard link points at
        // the first name in byte order, the file itself).
        let again = try archived { try TreeArchiver(clampTime: nil).archive(directory: lower, into: $0) }
        #expect(Set(again) == Set(base.map(named)))

        // The upper directory as a layer (commit): the whiteouts come back as `.wh.` entries of
        // the same bytes. The directories that hold them come first.
        let committed = try archived { try TreeArchiver().archiveOverlayUpper(directory: upper, into: $0) }
        #expect(Set(committed) == Set(top.map(named) + [Named(kind: .directory, name: directory + [0x2F]),
                                                        Named(kind: .directory, name: latin1("opaque-é/"))]))

        // diff: what the upper directory changed over the lower one, as Docker prints it.
        let changes = TreeChanges.overlay(upper: upper) { TreeArchiver.lstat(BytePath(lower + "/") + $0) != nil }
        #expect(changes.map(\.line) == [
            Array("A /".utf8) + latin1("nouveau-é") + [0x0A],
            Array("C /".utf8) + latin1("opaque-é") + [0x0A],
            Array("C /".utf8) + directory + [0x0A],
            Array("D /".utf8) + latin1("répertoire/ancien-é") + [0x0A],
            Array("D /".utf8) + latin1("vieux-é") + [0x0A],
        ])

        // And the archived base unpacks to the same names again.
        let copy = temporaryDirectory("latin1-copy")
        let out = MemoryWriter()
        let tar = TarWriter(out)
        try TreeArchiver(clampTime: nil).archive(directory: lower, into: tar)
        try tar.finish()
        try LayerApplier(directory: copy, mode: .overlayDiff).apply(TarReader(MemoryReader(out.bytes)))
        expectBaseOnDisk(copy)
    }

    /// Flattened form (the copy driver): whiteouts delete; the comparison of the two trees (copy
    /// driver commit and diff) names what changed with the original bytes.
    @Test func flattenedTreesCompareByteForByte() throws {
        try LayerApplier(directory: lower, mode: .flatten).apply(TarReader(MemoryReader(try layer(base))))
        let applier = try LayerApplier(directory: upper, mode: .flatten)
        try applier.apply(TarReader(MemoryReader(try layer(base))))
        try applier.apply(TarReader(MemoryReader(try layer(top))))
        expectBaseOnDisk(lower)
        #expect(rawStat(join(upper, latin1("vieux-é"))) == nil && rawStat(join(upper, latin1("répertoire/ancien-é"))) == nil)
        #expect(rawNames(join(upper, latin1("opaque-é"))).isEmpty)
        #expect(rawStat(join(upper, latin1("nouveau-é"))) != nil)

        let layer = try archived { try TreeArchiver().archiveChanges(lower: lower, upper: upper, into: $0) }
        let names = Set(layer.map(\.name))
        #expect(names.isSuperset(of: [latin1(".wh.vieux-é"), latin1("répertoire/.wh.ancien-é"), latin1("opaque-é/.wh.dedans"),
                                      latin1("nouveau-é")]))
        #expect(!names.contains(cafe) && !names.contains(longFile))

        let changes = Set(TreeChanges.compare(lower: lower, upper: upper).map(\.line))
        #expect(changes.isSuperset(of: [
            Array("A /".utf8) + latin1("nouveau-é") + [0x0A],
            Array("D /".utf8) + latin1("vieux-é") + [0x0A],
            Array("D /".utf8) + latin1("répertoire/ancien-é") + [0x0A],
            Array("D /".utf8) + latin1("opaque-é/dedans") + [0x0A],
        ]))
    }

    /// Removing a tree (a container's layer, a snapshot) reaches names that are not UTF-8.
    @Test func removeTreeRemovesNonUTF8Names() throws {
        try LayerApplier(directory: lower, mode: .flatten).apply(TarReader(MemoryReader(try layer(base))))
        FileSystem.removeTree(lower)
        #expect(rawStat(Array(lower.utf8)) == nil)
    }
}
