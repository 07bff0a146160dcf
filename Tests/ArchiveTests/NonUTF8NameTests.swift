import Foundation
import Testing
@testable import Archive
import ImageSpec

// Names that are not UTF-8 (Latin-1 here: 0xE9 is "é") must survive every tar form byte for byte.

private func latin1(_ text: String) -> [UInt8] { Array(text.unicodeScalars.map { UInt8($0.value) }) }

private let directory = latin1("répertoire/")
private let file = latin1("répertoire/café.txt")
/// Over 100 bytes, in a directory: ustar must split it, GNU needs a long name, PAX a path record.
private let subdirectory = directory + latin1(String(repeating: "sous-dossier-é-", count: 4) + "/")
private let longName = subdirectory + latin1(String(repeating: "fichier-é-", count: 6) + ".txt")

/// One entry as the test expects to read it: kind, name bytes, link target bytes, body.
private struct Entry: Equatable, CustomStringConvertible {
    var kind: TarHeader.Kind
    var name: [UInt8]
    var link: [UInt8] = []
    var body: [UInt8] = []
    var description: String { "\(kind) \(BytePath(bytes: name)) -> \(BytePath(bytes: link))" }

    var header: TarHeader {
        TarHeader(name: BytePath(bytes: name), kind: kind, mode: kind == .symlink ? 0o777 : 0o644,
                  size: Int64(body.count), modificationTime: 1_000_000, linkName: BytePath(bytes: link))
    }

    init(_ kind: TarHeader.Kind, _ name: [UInt8], link: [UInt8] = [], body: [UInt8] = []) {
        self.kind = kind
        self.name = name
        self.link = link
        self.body = body
    }

    init(_ header: TarHeader, body: [UInt8]) {
        self.init(header.kind, header.name.bytes, link: header.linkName.bytes, body: body)
    }
}

private let entries: [Entry] = [
    Entry(.directory, directory),
    Entry(.regular, file, body: Array("bonjour\n".utf8)),
    Entry(.directory, subdirectory),
    Entry(.symlink, latin1("répertoire/lien"), link: latin1("café.txt")),
    Entry(.hardLink, latin1("répertoire/dur"), link: file),
    Entry(.regular, longName, body: [1, 2, 3]),
    Entry(.symlink, latin1("lien-long"), link: longName),
    Entry(.regular, latin1("répertoire/.wh.vieux-é"), body: []),
]

private func write(_ entries: [Entry]) throws -> [UInt8] {
    let sink = MemoryWriter()
    let writer = TarWriter(sink)
    for e in entries { try writer.append(e.header, data: e.body) }
    try writer.finish()
    return sink.bytes
}

private func read(_ bytes: [UInt8]) throws -> [Entry] {
    let reader = TarReader(MemoryReader(bytes))
    var out: [Entry] = []
    while let header = try reader.next() {
        out.append(Entry(header, body: try reader.bodyReader.readAll(limit: 1 << 20)))
    }
    return out
}

// MARK: Hand-made archives in the forms other writers use

private func octal(_ value: Int, _ width: Int) -> [UInt8] {
    let digits = String(value, radix: 8)
    return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
}

/// A ustar block with raw name and link bytes (GNU tar writes a file system's bytes as they are).
private func block(name: [UInt8], typeflag: UInt8, size: Int = 0, link: [UInt8] = [], prefix: [UInt8] = [],
                   magic: [UInt8] = Array("ustar\u{0}00".utf8)) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 512)
    func put(_ bytes: [UInt8], _ offset: Int) { for (i, x) in bytes.enumerated() { b[offset + i] = x } }
    put(name, 0)
    put(octal(typeflag == UInt8(ascii: "2") ? 0o777 : 0o644, 8), 100)
    put(octal(0, 8), 108)
    put(octal(0, 8), 116)
    put(octal(size, 12), 124)
    put(octal(1_000_000, 12), 136)
    b[156] = typeflag
    put(link, 157)
    put(magic, 257)
    put(prefix, 345)
    for i in 148..<156 { b[i] = 0x20 }
    put(octal(b.reduce(0) { $0 + Int($1) }, 7), 148)
    return b
}

private func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }

private let gnuMagic = Array("ustar  \u{0}".utf8)
private let endOfArchive = [UInt8](repeating: 0, count: 1024)

private func typeflag(_ kind: TarHeader.Kind) -> UInt8 { kind.rawValue }

/// GNU tar's own format: short names in the ustar fields, long ones as `././@LongLink` entries.
private func gnuForm(_ entries: [Entry]) -> [UInt8] {
    var out: [UInt8] = []
    for e in entries {
        if e.link.count > 100 {
            out += block(name: Array("././@LongLink".utf8), typeflag: UInt8(ascii: "K"), size: e.link.count + 1, magic: gnuMagic)
            out += padded(e.link + [0])
        }
        if e.name.count > 100 {
            out += block(name: Array("././@LongLink".utf8), typeflag: UInt8(ascii: "L"), size: e.name.count + 1, magic: gnuMagic)
            out += padded(e.name + [0])
        }
        out += block(name: Array(e.name.prefix(100)), typeflag: typeflag(e.kind), size: e.body.count,
                     link: Array(e.link.prefix(100)), magic: gnuMagic)
        out += padded(e.body)
    }
    return out + endOfArchive
}

/// Go's archive/tar (Docker, umoci): a PAX header with the raw bytes as `path`/`linkpath` and no
/// hdrcharset; ustar holds what it can.
private func goPAXForm(_ entries: [Entry]) -> [UInt8] {
    var out: [UInt8] = []
    for e in entries {
        var records: [UInt8] = []
        if e.name.contains(where: { $0 >= 0x80 }) || e.name.count > 100 { records += TarWriter.paxRecord("path", e.name) }
        if e.link.contains(where: { $0 >= 0x80 }) || e.link.count > 100 { records += TarWriter.paxRecord("linkpath", e.link) }
        if !records.isEmpty {
            out += block(name: Array("PaxHeaders.0/x".utf8), typeflag: UInt8(ascii: "x"), size: records.count)
            out += padded(records)
        }
        out += block(name: Array(e.name.prefix(100)), typeflag: typeflag(e.kind), size: e.body.count, link: Array(e.link.prefix(100)))
        out += padded(e.body)
    }
    return out + endOfArchive
}

/// POSIX ustar with the name split into prefix and name at a "/", raw bytes in both.
private func ustarPrefixForm(_ entries: [Entry]) -> [UInt8] {
    var out: [UInt8] = []
    for e in entries {
        var name = e.name, prefix: [UInt8] = []
        if name.count > 100, let slash = name.prefix(155).lastIndex(of: UInt8(ascii: "/")) {
            prefix = Array(name[..<slash])
            name = Array(name[(slash + 1)...])
        }
        out += block(name: name, typeflag: typeflag(e.kind), size: e.body.count, link: e.link, prefix: prefix)
        out += padded(e.body)
    }
    return out + endOfArchive
}

struct NonUTF8NameTests {
    @Test func writtenAndReadBackByteForByte() throws {
        let archive = try write(entries)
        #expect(try read(archive) == entries)
        // Read, written again, read again: the same entries, and the same bytes.
        let again = try write(try read(archive))
        #expect(again == archive)
        #expect(try read(again) == entries)
    }

    /// A name that is not UTF-8 goes into a PAX header as its bytes, flagged hdrcharset=BINARY
    /// (GNU tar's form); UTF-8 and ASCII names are written as they always were.
    @Test func writerFlagsBinaryNamesInPAX() throws {
        let archive = try write([entries[1]])
        let size = Int(String(decoding: archive[124..<135], as: UTF8.self), radix: 8)!
        let records = Array(archive[512..<(512 + size)])
        #expect(archive[156] == UInt8(ascii: "x"))
        #expect(records == TarWriter.paxRecord("hdrcharset", Array("BINARY".utf8)) + TarWriter.paxRecord("path", file))
        let ascii = try write([Entry(.regular, Array("plain.txt".utf8))])
        #expect(ascii[156] == UInt8(ascii: "0") && ascii.count == 512 + 1024)
        let utf8 = try write([Entry(.regular, Array("café.txt".utf8))])
        let utf8Size = Int(String(decoding: utf8[124..<135], as: UTF8.self), radix: 8)!
        #expect(Array(utf8[512..<(512 + utf8Size)]) == TarWriter.paxRecord("path", Array("café.txt".utf8)))
    }

    @Test(arguments: ["gnu", "go-pax", "ustar-prefix"])
    func readsOtherWritersForms(_ form: String) throws {
        // ustar alone cannot hold a link target over 100 bytes.
        let expected = form == "ustar-prefix" ? entries.filter { $0.link.count <= 100 } : entries
        let archive = switch form {
        case "gnu": gnuForm(expected)
        case "go-pax": goPAXForm(expected)
        default: ustarPrefixForm(expected)
        }
        #expect(try read(archive) == expected)
        // And what Strata writes of them reads back the same.
        #expect(try read(try write(try read(archive))) == expected)
    }

    @Test func whiteoutNamesKeepTheirBytes() throws {
        let whiteout = try #require(try read(try write(entries)).last)
        #expect(whiteout.name == latin1("répertoire/.wh.vieux-é"))
        let name = BytePath(bytes: whiteout.name).lastComponent
        #expect(name.hasPrefix(LayerApplier.whiteoutPrefix))
        #expect(Array(name.dropFirst(LayerApplier.whiteoutPrefix.count)) == latin1("vieux-é"))
    }

    // MARK: GNU tar

    /// GNU tar extracts what Strata writes with the names' bytes, and Strata reads back what GNU
    /// tar writes of that tree (gnu and posix formats).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tar")), arguments: ["gnu", "posix"])
    func gnuTarKeepsTheBytesBothWays(_ format: String) throws {
        let dir = NSTemporaryDirectory() + "strata-latin1-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/tree", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ours = try write(entries)
        let extract = try runTool("/usr/bin/tar", ["-xf", "-", "-C", dir + "/tree"], input: ours)
        #expect(extract.status == 0, "\(String(decoding: extract.stderr, as: UTF8.self))")
        // On disk, by raw readdir: the exact bytes.
        let top = Set(FileSystem.entries(of: BytePath(dir + "/tree")).map(\.bytes))
        #expect(top == [latin1("répertoire"), latin1("lien-long")])
        let inside = Set(FileSystem.entries(of: BytePath(dir + "/tree/") + BytePath(bytes: directory)).map(\.bytes))
        let expectedInside = entries.filter { $0.name.starts(with: directory) && $0.name != directory }
            .map { Array($0.name.dropFirst(directory.count).prefix { $0 != UInt8(ascii: "/") }) }
        #expect(inside == Set(expectedInside))
        #expect(TreeArchiver.lstat(BytePath("\(dir)/tree/") + BytePath(bytes: longName)) != nil)

        let created = try runTool("/usr/bin/tar", ["--format=\(format)", "--sort=name", "-cf", "-", "-C", dir + "/tree", "."])
        #expect(created.status == 0, "\(String(decoding: created.stderr, as: UTF8.self))")
        let theirs = try read([UInt8](created.stdout)).filter { $0.name != Array("./".utf8) }
        let expected = entries.map { e -> Entry in
            var e = e
            e.name = Array("./".utf8) + e.name
            if e.kind == .hardLink { e.link = Array("./".utf8) + e.link }
            return e
        }
        #expect(Set(theirs.map(\.name)) == Set(expected.map(\.name)))
        for e in expected {
            let found = try #require(theirs.first { $0.name == e.name }, "\(e)")
            #expect(found.kind == e.kind && found.link == e.link && found.body == e.body, "\(found) vs \(e)")
        }
    }
}
