import Foundation
import Testing
@testable import Archive
import ImageSpec

// MARK: Helpers

/// Hands out at most `chunk` bytes per read, to exercise buffer refills at every boundary.
private final class ChunkedReader: ByteReader {
    private let base: MemoryReader
    private let chunk: Int
    init(_ bytes: [UInt8], chunk: Int) {
        base = MemoryReader(bytes)
        self.chunk = chunk
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try base.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(chunk, buffer.count)]))
    }
}

private func pattern(_ count: Int, seed: Int = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ $0 >> 8) }
}

/// Deterministic noise (an LCG), so failures reproduce.
private func noise(_ count: Int) -> [UInt8] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

private func makeArchive(_ entries: [(TarHeader, [UInt8])]) throws -> [UInt8] {
    let sink = MemoryWriter()
    let writer = TarWriter(sink)
    for (header, body) in entries { try writer.append(header, data: body) }
    try writer.finish()
    return sink.bytes
}

/// Reads every entry, bodies through `bodyReader` in `bodyChunk`-byte reads.
private func readArchive(_ source: ByteReader, bodyChunk: Int = 64 << 10) throws -> [(TarHeader, [UInt8])] {
    let reader = TarReader(source)
    var out: [(TarHeader, [UInt8])] = []
    var chunk = [UInt8](repeating: 0, count: bodyChunk)
    let bodies = reader.bodyReader
    while let header = try reader.next() {
        var body: [UInt8] = []
        while true {
            let n = try chunk.withUnsafeMutableBytes { try bodies.read(into: $0) }
            if n == 0 { break }
            body += chunk[0..<n]
        }
        out.append((header, body))
    }
    return out
}

private func readArchive(_ bytes: [UInt8]) throws -> [(TarHeader, [UInt8])] {
    try readArchive(MemoryReader(bytes))
}

private func invalidArchiveMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as StrataError {
        #expect(error.code == .invalidArchive)
        return error.message
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

/// A hand-made ustar block, for inputs TarWriter would never produce.
private func rawBlock(name: String, typeflag: UInt8, size: Int, uname: String = "", magic: String = "ustar\u{0}00") -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 512)
    func put(_ s: String, _ at: Int) { for (i, c) in s.utf8.enumerated() { b[at + i] = c } }
    put(name, 0)
    put("0000644\u{0}", 100)
    put("0000000\u{0}", 108)
    put("0000000\u{0}", 116)
    put(octal(size, width: 11) + "\u{0}", 124)
    put("00000000000\u{0}", 136)
    b[156] = typeflag
    put(magic, 257)
    put(uname, 265)
    fixChecksum(&b, at: 0)
    return b
}

private func octal(_ value: Int, width: Int) -> String {
    let digits = String(value, radix: 8)
    return String(repeating: "0", count: width - digits.count) + digits
}

private func fixChecksum(_ b: inout [UInt8], at block: Int) {
    for i in 148..<156 { b[block + i] = 0x20 }
    let sum = b[block..<block + 512].reduce(0) { $0 + Int($1) }
    b.replaceSubrange((block + 148)..<(block + 155), with: Array((octal(sum, width: 6) + "\u{0}").utf8))
}

private func paxData(_ records: [(String, String)]) -> [UInt8] {
    records.flatMap { TarWriter.paxRecord($0.0, Array($0.1.utf8)) }
}

private func padded(_ bytes: [UInt8]) -> [UInt8] {
    bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
}

private struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

private func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let r = try runTool(executable, arguments)
    return ProcessResult(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self), stderr: String(decoding: r.stderr, as: UTF8.self))
}

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tartests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

// MARK: Round trips

struct RoundTripCase: Sendable, CustomTestStringConvertible {
    var label: String
    var header: TarHeader
    var body: [UInt8] = []
    var testDescription: String { label }
}

private let longDirectory = String(repeating: "d", count: 90) + "/" + String(repeating: "e", count: 40)
private let roundTripCases: [RoundTripCase] = {
    func h(_ name: String, _ kind: TarHeader.Kind = .regular, mode: UInt32 = 0o644, size: Int = 0) -> TarHeader {
        TarHeader(name: BytePath(name), kind: kind, mode: mode, uid: 1000, gid: 100, userName: "builder", groupName: "users",
                  size: Int64(size), modificationTime: 1_700_000_000)
    }
    var cases: [RoundTripCase] = [
        .init(label: "regular with body", header: h("usr/bin/x", mode: 0o755, size: 1000), body: pattern(1000)),
        .init(label: "block-aligned body", header: h("data/aligned.bin", size: 1024), body: pattern(1024, seed: 2)),
        .init(label: "empty file", header: h("etc/empty")),
        .init(label: "directory", header: h("etc/", .directory, mode: 0o755)),
        .init(label: "sticky directory", header: h("tmp/", .directory, mode: 0o1777)),
        .init(label: "symlink", header: { var x = h("bin/sh", .symlink, mode: 0o777); x.linkName = "/bin/busybox"; return x }()),
        .init(label: "hard link", header: { var x = h("bin/a", .hardLink); x.linkName = "usr/bin/x"; return x }()),
        .init(label: "character device",
              header: { var x = h("dev/null", .characterDevice, mode: 0o666); x.deviceMajor = 1; x.deviceMinor = 3; return x }()),
        .init(label: "block device",
              header: { var x = h("dev/sda", .blockDevice, mode: 0o660); x.deviceMajor = 8; x.deviceMinor = 0; return x }()),
        .init(label: "fifo", header: h("run/fifo", .fifo, mode: 0o600)),
        .init(label: "setuid", header: h("usr/bin/sudo", mode: 0o4755, size: 3), body: [1, 2, 3]),
        .init(label: "setgid", header: h("usr/bin/wall", mode: 0o2755, size: 1), body: [9]),
        .init(label: "name >100 split into prefix", header: h(longDirectory + "/file.txt", size: 5), body: pattern(5)),
        .init(label: "name >255", header: h((0..<3).map { String(repeating: Character(String($0)), count: 99) }.joined(separator: "/") + "/f",
                                            size: 700), body: pattern(700)),
        .init(label: "unsplittable 120-char component", header: h("x/" + String(repeating: "y", count: 120))),
        .init(label: "long directory name", header: h(String(repeating: "dir/", count: 70), .directory, mode: 0o755)),
        .init(label: "long link name",
              header: { var x = h("lib/liblong.so", .symlink, mode: 0o777); x.linkName = BytePath(String(repeating: "../", count: 50) + "target.so"); return x }()),
        .init(label: "long hard link name",
              header: { var x = h("lib/hard", .hardLink); x.linkName = BytePath(String(repeating: "z", count: 180)); return x }()),
        .init(label: "non-ASCII name", header: h("données/日本語.txt", size: 4), body: Array("ça!".utf8)),
        .init(label: "non-ASCII link", header: { var x = h("link", .symlink, mode: 0o777); x.linkName = "café"; return x }()),
        .init(label: "xattrs",
              header: { var x = h("usr/bin/ping", mode: 0o755, size: 2)
                  x.xattrs = ["security.capability": [1, 0, 0, 2, 0, 0x20, 0, 0, 0x0A, 0x3D, 0xFF], "user.note": Array("hi there".utf8)]
                  return x }(),
              body: [0xCA, 0xFE]),
        .init(label: "big uid and gid",
              header: { var x = h("home/big"); x.uid = 5_000_000; x.gid = 3_000_000_000; return x }()),
        .init(label: "long user name", header: { var x = h("home/u"); x.userName = String(repeating: "u", count: 40); return x }()),
        .init(label: "nanosecond mtime", header: { var x = h("t/nanos"); x.modificationNanoseconds = 123_456_789; return x }()),
        .init(label: "pre-epoch mtime", header: { var x = h("t/old"); x.modificationTime = -86_400; return x }()),
        .init(label: "mtime beyond octal", header: { var x = h("t/future"); x.modificationTime = 1 << 34; return x }()),
        .init(label: "other PAX records", header: { var x = h("t/comment"); x.paxRecords = ["comment": "made by strata"]; return x }()),
        .init(label: "root owned plain", header: TarHeader(name: "plain", size: 11), body: Array("plain text\n".utf8)),
    ]
    cases.append(.init(label: "big body over the read buffer", header: h("var/big.bin", size: 700_000), body: pattern(700_000, seed: 3)))
    return cases
}()

@Test(arguments: roundTripCases)
func roundTrip(_ c: RoundTripCase) throws {
    let bytes = try makeArchive([(c.header, c.body)])
    #expect(bytes.count % 512 == 0)
    #expect(try makeArchive([(c.header, c.body)]) == bytes, "writing is deterministic")
    let entries = try readArchive(bytes)
    try #require(entries.count == 1)
    #expect(entries[0].0 == c.header)
    #expect(entries[0].1 == c.body)
}

@Test(arguments: [1, 7, 511, 512, 4096, 1 << 20])
func roundTripAllInOneArchiveThroughSmallReads(chunk: Int) throws {
    let bytes = try makeArchive(roundTripCases.map { ($0.header, $0.body) })
    let entries = try readArchive(ChunkedReader(bytes, chunk: chunk), bodyChunk: chunk == 7 ? 3 : 100_000)
    #expect(entries.map(\.0) == roundTripCases.map(\.header))
    #expect(entries.map(\.1) == roundTripCases.map(\.body))
}

@Test func unreadAndHalfReadBodiesAreSkipped() throws {
    let bytes = try makeArchive(roundTripCases.map { ($0.header, $0.body) })
    let reader = TarReader(ChunkedReader(bytes, chunk: 333))
    var names: [BytePath] = []
    var buffer = [UInt8](repeating: 0, count: 10)
    var index = 0
    while let header = try reader.next() {
        names.append(header.name)
        if index % 2 == 0 {
            // Read a few bytes only; they must be the body's first bytes.
            let n = try buffer.withUnsafeMutableBytes { try reader.readBody(into: $0) }
            #expect(Array(buffer[0..<n]) == Array(roundTripCases[index].body.prefix(10)))
        }
        index += 1
    }
    #expect(names == roundTripCases.map(\.header.name))
    #expect(try reader.next() == nil)
}

@Test func directoriesGetATrailingSlash() throws {
    let entries = try readArchive(try makeArchive([(.directory("var/lib"), [])]))
    #expect(entries.map(\.0.name) == ["var/lib/"])
    #expect(entries.first?.0.kind == .directory)
}

@Test func xattrOrderDoesNotChangeTheBytes() throws {
    var a = TarHeader.file("f", size: 0)
    a.xattrs["user.a"] = [1]
    a.xattrs["user.b"] = [2]
    a.xattrs["user.c"] = [3]
    var b = TarHeader.file("f", size: 0)
    b.xattrs["user.c"] = [3]
    b.xattrs["user.a"] = [1]
    b.xattrs["user.b"] = [2]
    #expect(try TarWriter.encode(a) == TarWriter.encode(b))
}

@Test(arguments: [
    (TarHeader.file("short", size: 0), false),
    (TarHeader.file(BytePath(longDirectory + "/fits-after-split"), size: 0), false),
    (TarHeader.file(BytePath(String(repeating: "n", count: 101)), size: 0), true),
    (TarHeader.file("naïve", size: 0), true),
    (TarHeader(name: "u", uid: 2_097_151), false),
    (TarHeader(name: "u", uid: 2_097_152), true),
    (TarHeader(name: "t", modificationTime: 5, modificationNanoseconds: 0), false),
    (TarHeader(name: "t", modificationTime: 5, modificationNanoseconds: 1), true),
    (TarHeader(name: "x", xattrs: ["user.k": []]), true),
    (TarHeader.symlink("l", target: BytePath(String(repeating: "t", count: 100))), false),
    (TarHeader.symlink("l", target: BytePath(String(repeating: "t", count: 101))), true),
    (TarHeader(name: "g", groupName: String(repeating: "g", count: 31)), false),
    (TarHeader(name: "g", groupName: String(repeating: "g", count: 32)), true),
])
func paxHeaderOnlyWhenNeeded(_ header: TarHeader, needsPAX: Bool) throws {
    let bytes = try TarWriter.encode(header)
    #expect(bytes[156] == (needsPAX ? UInt8(ascii: "x") : header.kind.rawValue))
    #expect(bytes.count == (needsPAX ? 1536 : 512))
    #expect(bytes[257..<265].elementsEqual("ustar\u{0}00".utf8))
    if needsPAX {
        let base = header.name.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? []
        #expect(Array(bytes[0..<100].prefix { $0 != 0 }) == Array((Array("PaxHeaders/".utf8) + base).prefix(100)))
        #expect(bytes[100..<108].elementsEqual("0000644\u{0}".utf8))
        #expect(bytes[136..<148].elementsEqual("00000000000\u{0}".utf8))
    }
}

@Test func sizesOf8GiBUsePAXAndBase256() throws {
    let size: Int64 = 8 << 30 + 1
    let bytes = try TarWriter.encode(.file("huge.img", size: size))
    #expect(bytes[156] == UInt8(ascii: "x"))
    #expect(String(decoding: bytes[512..<1024], as: UTF8.self).contains("size=\(size)\n"))
    // The ustar block carries base-256 as well, for readers without PAX.
    let ustar = Array(bytes[1024..<1536])
    #expect(ustar[124] == 0x80)
    #expect(ustar.withUnsafeBytes { TarReader.number($0, TarField.size) } == size)

    let reader = TarReader(MemoryReader(bytes + pattern(1000)))
    let header = try #require(try reader.next())
    #expect(header.size == size)
    let message = invalidArchiveMessage { _ = try reader.next() }
    #expect(message == "invalid tar: truncated body of \"huge.img\" (expected \(size) bytes, got 1000)")
}

// MARK: Writer errors

@Test func writerRejectsBodiesOfTheWrongLength() throws {
    let writer = TarWriter(MemoryWriter())
    #expect(throws: StrataError(.sizeMismatch, "body of \"a\" is shorter than its size (expected 10 bytes, got 4)")) {
        try writer.append(.file("a", size: 10), body: MemoryReader([1, 2, 3, 4]))
    }
    #expect(throws: StrataError(.sizeMismatch, "body of \"b\" is longer than its size of 2 bytes")) {
        try writer.append(.file("b", size: 2), body: MemoryReader([1, 2, 3]))
    }
    #expect(throws: StrataError(.sizeMismatch, "body of \"c\" is longer than its size of 0 bytes")) {
        try writer.append(.file("c", size: 0), body: MemoryReader([1]))
    }
    #expect(throws: StrataError.self) { try writer.append(.file("d", size: 1), body: nil) }
    #expect(throws: StrataError.self) { try writer.append(TarHeader(name: "e", kind: .symlink, size: 1), body: MemoryReader([1])) }
    #expect(throws: StrataError.self) { try writer.append(TarHeader(name: "f", uid: -1), body: nil) }
    #expect(throws: StrataError.self) { try writer.append(TarHeader(name: "g\u{0}h"), body: nil) }
    #expect(throws: StrataError.self) { try writer.append(TarHeader(name: "i", xattrs: ["a=b": []]), body: nil) }
}

// MARK: Reader: extensions and odd but valid input

@Test func globalAndPerEntryPAXRecords() throws {
    let global = paxData([("uname", "global"), ("comment", "from g"), ("mtime", "1600000000.5")])
    let perEntry = paxData([("uname", ""), ("path", "renamed/by/pax"), ("SCHILY.xattr.user.x", "v")])
    var bytes = rawBlock(name: "pax_global_header", typeflag: UInt8(ascii: "g"), size: global.count) + padded(global)
    bytes += rawBlock(name: "first", typeflag: UInt8(ascii: "0"), size: 0, uname: "own1")
    bytes += rawBlock(name: "PaxHeaders/second", typeflag: UInt8(ascii: "x"), size: perEntry.count) + padded(perEntry)
    bytes += rawBlock(name: "second", typeflag: UInt8(ascii: "0"), size: 0, uname: "own2")
    bytes += [UInt8](repeating: 0, count: 1024)

    let entries = try readArchive(bytes).map(\.0)
    try #require(entries.count == 2)
    #expect(entries[0].name == "first")
    #expect(entries[0].userName == "global")
    #expect(entries[0].paxRecords == ["comment": "from g"])
    #expect(entries[0].modificationTime == 1_600_000_000 && entries[0].modificationNanoseconds == 500_000_000)
    #expect(entries[1].name == "renamed/by/pax")
    #expect(entries[1].userName == "own2", "an empty per-entry value cancels the global one")
    #expect(entries[1].xattrs == ["user.x": Array("v".utf8)])
    #expect(entries[1].modificationNanoseconds == 500_000_000)
}

@Test func gnuLongNamesAndOddTypeflags() throws {
    let longName = String(repeating: "L", count: 300)
    let longLink = String(repeating: "K", count: 200)
    var bytes = rawBlock(name: "././@LongLink", typeflag: UInt8(ascii: "L"), size: longName.utf8.count + 1,
                         magic: "ustar  \u{0}") + padded(Array(longName.utf8) + [0])
    bytes += rawBlock(name: "././@LongLink", typeflag: UInt8(ascii: "K"), size: longLink.utf8.count + 1,
                      magic: "ustar  \u{0}") + padded(Array(longLink.utf8) + [0])
    bytes += rawBlock(name: "truncated", typeflag: UInt8(ascii: "2"), size: 0, magic: "ustar  \u{0}")
    bytes += rawBlock(name: "v7dir/", typeflag: 0, size: 0, magic: "")
    bytes += rawBlock(name: "contiguous", typeflag: UInt8(ascii: "7"), size: 3, magic: "") + padded([1, 2, 3])
    var symlinkWithSize = rawBlock(name: "sized-symlink", typeflag: UInt8(ascii: "2"), size: 0)
    symlinkWithSize.replaceSubrange(124..<136, with: Array("00000000777\u{0}".utf8))  // ignored: links have no body
    fixChecksum(&symlinkWithSize, at: 0)
    bytes += symlinkWithSize

    let entries = try readArchive(bytes)  // ends at a header boundary without end blocks: accepted
    #expect(entries.map(\.0.name) == [BytePath(longName), "v7dir/", "contiguous", "sized-symlink"])
    #expect(entries.map(\.0.kind) == [.symlink, .directory, .regular, .symlink])
    #expect(entries[0].0.linkName == BytePath(longLink))
    #expect(entries[2].1 == [1, 2, 3])
    #expect(entries[3].0.size == 0)
}

@Test func base256AndSignedChecksumsAreAccepted() throws {
    var block = rawBlock(name: "h\u{E9}", typeflag: UInt8(ascii: "0"), size: 0)
    block[108..<116] = [0x80, 0, 0, 0, 0, 0x98, 0x96, 0x80]  // uid 10_000_000 in base-256
    // Checksum by signed bytes, as some old tars computed it.
    for i in 148..<156 { block[i] = 0x20 }
    let signed = block.reduce(0) { $0 + Int(Int8(bitPattern: $1)) }
    let unsigned = block.reduce(0) { $0 + Int($1) }
    #expect(signed != unsigned)
    block.replaceSubrange(148..<156, with: Array((octal(signed, width: 6) + "\u{0} ").utf8))
    let entries = try readArchive(block + [UInt8](repeating: 0, count: 512))
    #expect(entries.map(\.0.uid) == [10_000_000])
}

/// Empty input and zero padding of any length (one or two blocks, a whole record) are all empty archives.
@Test(arguments: [0, 512, 700, 1024, 10240])
func zeroFilledInputIsAnEmptyArchive(count: Int) throws {
    #expect(try readArchive([UInt8](repeating: 0, count: count)).isEmpty)
}

@Test func endMarkersAreOptionalAfterTheLastEntry() throws {
    let full = try makeArchive([(.file("a", size: 3), [1, 2, 3])])
    for trailer in [0, 512, 1024] {
        let entries = try readArchive(Array(full[0..<(1024 + trailer)]))
        #expect(entries.map(\.0.name) == ["a"])
    }
}

// MARK: Reader errors

struct BadInputCase: Sendable, CustomTestStringConvertible {
    var label: String
    var make: @Sendable () throws -> [UInt8]
    var expected: String
    var testDescription: String { label }
}

private let twoFiles: @Sendable () throws -> [UInt8] = {
    try makeArchive([(.file("usr/bin/x", size: 1024), pattern(1024)), (.file("usr/bin/y", size: 1), [7])])
}

private let badInputs: [BadInputCase] = [
    .init(label: "truncated header", make: { Array(try twoFiles()[0..<(1536 + 100)]) },
          expected: "invalid tar: truncated header at offset 1536 (after \"usr/bin/x\")"),
    .init(label: "truncated body", make: { Array(try twoFiles()[0..<(512 + 300)]) },
          expected: "invalid tar: truncated body of \"usr/bin/x\" (expected 1024 bytes, got 300)"),
    .init(label: "truncated padding", make: { Array(try twoFiles()[0..<(2048 + 100)]) },
          expected: "invalid tar: truncated padding after \"usr/bin/y\" (archive ends at offset 2148)"),
    .init(label: "bad checksum", make: { var b = try twoFiles(); b[1536 + 3] ^= 1; return b },
          expected: "invalid tar: bad header checksum at offset 1536 (after \"usr/bin/x\")"),
    .init(label: "bad checksum in the first header", make: { var b = try twoFiles(); b[0] ^= 1; return b },
          expected: "invalid tar: not a tar archive (bad header checksum)"),
    .init(label: "random bytes", make: { noise(5000) }, expected: "invalid tar: not a tar archive (bad header checksum)"),
    .init(label: "short random bytes", make: { noise(100) }, expected: "invalid tar: not a tar archive (only 100 bytes)"),
    .init(label: "gzip stream", make: { [0x1F, 0x8B, 0x08, 0x00] + noise(2000) },
          expected: "invalid tar: not a tar archive (it looks gzip-compressed)"),
    .init(label: "zstd stream", make: { [0x28, 0xB5, 0x2F, 0xFD] + noise(2000) },
          expected: "invalid tar: not a tar archive (it looks zstd-compressed)"),
    .init(label: "negative size", make: {
              var b = rawBlock(name: "neg", typeflag: UInt8(ascii: "0"), size: 0)
              for i in 124..<136 { b[i] = 0xFF }
              fixChecksum(&b, at: 0)
              return b
          }, expected: "invalid tar: negative size -1 for \"neg\""),
    .init(label: "bad octal", make: {
              var b = rawBlock(name: "oct", typeflag: UInt8(ascii: "0"), size: 0)
              b[130] = UInt8(ascii: "9")
              fixChecksum(&b, at: 0)
              return b
          }, expected: "invalid tar: bad size field for \"oct\""),
    .init(label: "malformed PAX record", make: {
              let data = Array("99 path=x\n".utf8)
              return rawBlock(name: "PaxHeaders/p", typeflag: UInt8(ascii: "x"), size: data.count) + padded(data)
          }, expected: "invalid tar: malformed PAX record in \"PaxHeaders/p\""),
    .init(label: "extended header with no entry", make: {
              let data = paxData([("path", "p")])
              return rawBlock(name: "PaxHeaders/p", typeflag: UInt8(ascii: "x"), size: data.count) + padded(data)
          }, expected: "invalid tar: archive ends after an extended header"),
    .init(label: "unsupported type", make: { rawBlock(name: "sparse", typeflag: UInt8(ascii: "S"), size: 0) },
          expected: "invalid tar: unsupported entry type 'S' for \"sparse\""),
    .init(label: "data after end block", make: {
              [UInt8](repeating: 0, count: 512) + rawBlock(name: "late", typeflag: UInt8(ascii: "0"), size: 0)
          }, expected: "invalid tar: data after the end-of-archive block at offset 512"),
]

@Test(arguments: badInputs)
func badInputIsReported(_ c: BadInputCase) throws {
    let bytes = try c.make()
    let message = invalidArchiveMessage { _ = try readArchive(bytes) }
    #expect(message == c.expected)
}

@Test func realGzipIsNotATarArchive() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let tarURL = dir.appendingPathComponent("a.tar")
    try Data(try makeArchive([(.file("a", size: 3), [1, 2, 3])])).write(to: tarURL)
    #expect(try run("/usr/bin/gzip", ["-n", tarURL.path]).status == 0)
    let gz = try [UInt8](Data(contentsOf: dir.appendingPathComponent("a.tar.gz")))
    let message = invalidArchiveMessage { _ = try readArchive(gz) }
    #expect(message?.contains("not a tar archive") == true)
}

// MARK: Interoperability with GNU tar

@Test(arguments: ["gnu", "pax", "ustar"])
func readsArchivesFromSystemTar(format: String) throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let tree = dir.appendingPathComponent("tree")
    let fm = FileManager.default
    var expectedFiles: [String: [UInt8]] = [
        "hello.txt": Array("hello, tar\n".utf8),
        "empty": [],
        "café.txt": Array("unicode\n".utf8),
        "dir/big.bin": pattern(300_000, seed: 5),
        "dir/\(String(repeating: "a", count: 60))/\(String(repeating: "b", count: 60)).txt": Array("long path\n".utf8),
    ]
    var expectedLinks: [String: (TarHeader.Kind, String)] = [
        "link": (.symlink, "hello.txt"),
        "hard": (.hardLink, "hello.txt"),
    ]
    if format != "ustar" {
        let deep = (0..<3).map { String(repeating: Character(String($0)), count: 100) }.joined(separator: "/")
        expectedFiles["dir/\(deep)/deep.txt"] = Array("deep\n".utf8)
        expectedLinks["longlink"] = (.symlink, String(repeating: "t", count: 150))
    }
    for (path, body) in expectedFiles {
        let url = tree.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(body).write(to: url)
        try fm.setAttributes([.posixPermissions: 0o640], ofItemAtPath: url.path)
    }
    let mtime = Date(timeIntervalSince1970: 1_600_000_000.25)
    try fm.setAttributes([.modificationDate: mtime], ofItemAtPath: tree.appendingPathComponent("hello.txt").path)
    for (name, (kind, target)) in expectedLinks {
        let url = tree.appendingPathComponent(name)
        if kind == .symlink {
            try fm.createSymbolicLink(atPath: url.path, withDestinationPath: target)
        } else {
            try fm.linkItem(at: tree.appendingPathComponent(target), to: url)
        }
    }

    let archive = dir.appendingPathComponent("out.tar")
    let members = ["hello.txt", "hard", "empty", "café.txt", "link", "dir"] + (format == "ustar" ? [] : ["longlink"])
    let result = try run("/usr/bin/tar", ["--format=\(format)", "-cf", archive.path, "-C", tree.path] + members)
    #expect(result.status == 0, "\(result.stderr)")

    let entries = try readArchive(ChunkedReader(try [UInt8](Data(contentsOf: archive)), chunk: 10_000))
    var seenDirectories: Set<String> = []
    var seen: Set<String> = []
    for (header, body) in entries {
        let name = header.name.description
        switch header.kind {
        case .directory:
            #expect(name.hasSuffix("/"))
            seenDirectories.insert(name)
        case .regular:
            #expect(expectedFiles[name] == body, "\(name)")
            #expect(header.size == Int64(body.count))
            #expect(header.mode == 0o640)
            seen.insert(name)
        default:
            let expected = try #require(expectedLinks[name], "\(name)")
            #expect(header.kind == expected.0)
            #expect(header.linkName == BytePath(expected.1))
            seen.insert(name)
        }
    }
    #expect(seen == Set(expectedFiles.keys).union(expectedLinks.keys))
    #expect(seenDirectories.contains("dir/"))
    #expect(seenDirectories.contains("dir/\(String(repeating: "a", count: 60))/"))

    let hello = try #require(entries.first { $0.0.name == "hello.txt" }?.0)
    #expect(hello.modificationTime == 1_600_000_000)
    // Only PAX keeps sub-second times.
    #expect(hello.modificationNanoseconds == (format == "pax" ? 250_000_000 : 0))
}

@Test func systemTarListsAndExtractsWhatTarWriterWrote() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let archive = dir.appendingPathComponent("written.tar")
    try Data(try makeArchive(roundTripCases.map { ($0.header, $0.body) })).write(to: archive)

    let listing = try run("/usr/bin/tar", ["--quoting-style=literal", "-tvf", archive.path])
    #expect(listing.status == 0)
    #expect(listing.stderr.isEmpty, "\(listing.stderr)")
    let lines = listing.stdout.split(separator: "\n").map(String.init)
    #expect(lines.count == roundTripCases.count)
    for (line, c) in zip(lines, roundTripCases) {
        #expect(line.contains(" \(c.header.name)"), "\(line)")
        if c.header.kind == .symlink { #expect(line.hasSuffix(" -> \(c.header.linkName)")) }
        if c.header.kind == .regular { #expect(line.contains(" \(c.body.count) ")) }
    }

    // Extract what an unprivileged tar can create and compare the bodies.
    let extractable = roundTripCases.filter { [.regular, .directory, .symlink].contains($0.header.kind) }
    let subset = dir.appendingPathComponent("subset.tar")
    try Data(try makeArchive(extractable.map { ($0.header, $0.body) })).write(to: subset)
    let out = dir.appendingPathComponent("out")
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let extract = try run("/usr/bin/tar", ["--no-same-owner", "-xf", subset.path, "-C", out.path])
    #expect(extract.status == 0, "\(extract.stderr)")
    for c in extractable where c.header.kind == .regular {
        let data = try Data(contentsOf: out.appendingPathComponent(c.header.name.description))
        #expect([UInt8](data) == c.body, "\(c.header.name)")
    }
}
