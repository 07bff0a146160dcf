import Testing
@testable import Runtime
import ImageSpec

/// `--detach-keys` as Docker reads it, and what of the input the keys let through.
struct DetachKeysTests {
    @Test(arguments: [
        ("ctrl-p,ctrl-q", [0x10, 0x11]),
        ("ctrl-a,d", [0x01, 0x64]),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", [0x00, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f]),
        ("x", [0x78]),
        ("DEL", [0x7f]),
        ("ctrl-p,x", [0x10, 0x78]),
    ] as [(String, [UInt8])])
    func sequences(_ text: String, _ bytes: [UInt8]) throws {
        #expect(try DetachKeys.parse(text).bytes == bytes)
    }

    @Test(arguments: ["ctrl-xx", "ctrl-", "ab", "ctrl-p,,ctrl-q", "ctrl-P"])
    func badSequencesAreNamed(_ text: String) {
        #expect { try DetachKeys.parse(text) } throws: {
            ($0 as? StrataError)?.code == .invalidArgument && ($0 as? StrataError)?.message.hasPrefix("Invalid detach keys (\(text)) provided") == true
        }
    }

    /// Input read in pieces: what reaches the container, and whether the user detached.
    @Test(arguments: [
        (["abc"], "abc", false),
        (["a\u{10}\u{11}b"], "a", true),
        (["a\u{10}", "\u{11}"], "a", true),
        (["\u{10}x"], "\u{10}x", false),
        (["\u{10}", "x"], "\u{10}x", false),
        (["\u{10}\u{10}\u{11}"], "\u{10}", true),
        (["\u{11}\u{10}"], "\u{11}", false),
    ] as [([String], String, Bool)])
    func matcher(_ reads: [String], _ passed: String, _ detached: Bool) {
        var matcher = DetachKeys.Matcher(.standard)
        var through: [UInt8] = [], detach = false
        for chunk in reads where !detach {
            let bytes = Array(chunk.utf8)
            let result = bytes.withUnsafeBytes { matcher.feed($0) }
            through += result.pass
            detach = result.detach
        }
        #expect(String(decoding: through, as: UTF8.self) == passed && detach == detached)
    }
}

/// The attach socket's framing: Docker's stream header, and Strata's control messages.
struct AttachFrameTests {
    @Test func framesSurviveBeingReadInAnyPieces() throws {
        let frames: [AttachFrame] = [AttachFrame(.stdout, Array("hello".utf8)), .resize(rows: 40, columns: 120), .exit(137),
                                     .failure(StrataError(.commandNotFound, "exec: \"nope\": executable file not found in $PATH")),
                                     AttachFrame(.closeStdin)]
        let bytes = frames.flatMap(\.encoded)
        #expect(Array(bytes[0..<8]) == [1, 0, 0, 0, 0, 0, 0, 5], "Docker's header: stream, three zeros, big-endian length")
        for piece in [1, 3, 8, bytes.count] {
            var reader = AttachFrame.Reader()
            var read: [AttachFrame] = []
            for start in stride(from: 0, to: bytes.count, by: piece) {
                bytes[start..<min(start + piece, bytes.count)].withUnsafeBytes { reader.append($0) }
                while let frame = try reader.next() { read.append(frame) }
            }
            #expect(read == frames)
        }
        #expect(frames[1].size! == (40, 120) && frames[2].status == 137)
        #expect(frames[3].error == StrataError(.commandNotFound, "exec: \"nope\": executable file not found in $PATH"))
    }

    @Test(arguments: [[9, 0, 0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0x7f, 0, 0, 0]] as [[UInt8]])
    func corruptStreamsAreRefused(_ bytes: [UInt8]) {
        var reader = AttachFrame.Reader()
        bytes.withUnsafeBytes { reader.append($0) }
        #expect(throws: StrataError.self) { try reader.next() }
    }
}
