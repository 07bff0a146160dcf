import Foundation
import Testing
@testable import ImageSpec

/// Bytes of a Latin-1 name, which is not UTF-8: "café" as ISO 8859-1 writes it.
private let latin1Cafe: [UInt8] = Array("caf".utf8) + [0xE9]

struct BytePathTests {
    @Test func keepsBytesThatAreNotUTF8() {
        let path = BytePath(bytes: latin1Cafe)
        #expect(path.bytes == latin1Cafe)
        #expect(path.count == 4)
        #expect(!path.isUTF8 && path.string == nil)
        #expect(path.cString == latin1Cafe.map { CChar(bitPattern: $0) } + [0])
        // Text that is UTF-8 is the same bytes either way.
        #expect(BytePath("café").bytes == Array("café".utf8) && BytePath("café").isUTF8)
        #expect(BytePath("café") != path)
    }

    @Test(arguments: [
        (latin1Cafe, "caf\\xE9"),
        (Array("ok/é".utf8), "ok/é"),
        ([0x61, 0xC3], "a\\xC3"),                 // a truncated two-byte sequence
        ([0xFF, 0x2F, 0xC3, 0xA9, 0x80], "\\xFF/é\\x80"),
        ([], ""),
    ])
    func describesInvalidBytesAsEscapes(_ bytes: [UInt8], _ shown: String) {
        #expect(BytePath(bytes: bytes).description == shown)
    }

    @Test func interpolationKeepsPathBytes() {
        let name = BytePath(bytes: latin1Cafe)
        let joined: BytePath = "/root/\(name)/\(3)"
        #expect(joined.bytes == Array("/root/".utf8) + latin1Cafe + Array("/3".utf8))
        #expect(BytePath("a").appending(name).bytes == Array("a/".utf8) + latin1Cafe)
        #expect(BytePath().appending(name) == name && name.appending(BytePath()) == name)
        #expect(("x" + name + ".txt").bytes == Array("x".utf8) + latin1Cafe + Array(".txt".utf8))
    }

    @Test(arguments: [
        ("a/b/c", "c", "a/b"), ("a/b/", "b", "a"), ("/a", "a", "/"), ("a", "a", ""), ("", "", ""),
    ])
    func components(_ path: String, _ last: String, _ parent: String) {
        #expect(BytePath(path).lastComponent == BytePath(last))
        #expect(BytePath(path).deletingLastComponent == BytePath(parent))
    }

    @Test(arguments: [
        ("usr/lib/x", "usr/lib/x"), ("./usr//lib/./x/", "usr/lib/x"), ("/etc/passwd", "etc/passwd"),
        ("a/b/../c", "a/c"), ("a/..", ""), (".", ""), ("..a/.b", "..a/.b"),
    ])
    func cleans(_ path: String, _ clean: String) {
        #expect(BytePath(path).cleaned() == BytePath(clean))
    }

    @Test func cleaningRefusesOrClampsClimbingOut() {
        #expect(BytePath("a/../../b").cleaned() == nil)
        #expect(BytePath("a/../../b").cleaned(clampingAtTop: true) == "b")
        let latin = BytePath(bytes: Array("./d/".utf8) + latin1Cafe + Array("/".utf8))
        #expect(latin.cleaned()?.bytes == Array("d/".utf8) + latin1Cafe)
    }

    @Test func ordersByUnsignedBytes() {
        let names = [BytePath(bytes: [0xE9]), "b", BytePath(bytes: [0x61, 0xFF]), "a", "ab"]
        #expect(names.sorted().map(\.bytes) == [[0x61], [0x61, 0x62], [0x61, 0xFF], [0x62], [0xE9]])
    }
}
