import ImageSpec

/// The key sequence that leaves an attached container running (`--detach-keys`), as Docker
/// spells it: comma-separated keys, each one character or `ctrl-X` (`ctrl-@`, `ctrl-a`…`ctrl-z`,
/// `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_`), or `DEL`.
public struct DetachKeys: Sendable, Equatable {
    public var bytes: [UInt8]

    /// Docker's default: ctrl-p, ctrl-q.
    public static let standard = DetachKeys(bytes: [0x10, 0x11])

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public static func parse(_ text: String) throws -> DetachKeys {
        let controls = ["@"] + (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) } + ["[", "\\", "]", "^", "_"]
        var bytes: [UInt8] = []
        for key in text.split(separator: ",", omittingEmptySubsequences: false) {
            if key.utf8.count == 1 {
                bytes.append(key.utf8.first!)
            } else if key == "DEL" {
                bytes.append(0x7f)
            } else if key.hasPrefix("ctrl-"), let code = controls.firstIndex(of: String(key.dropFirst(5))) {
                bytes.append(UInt8(code))
            } else {
                throw StrataError(.invalidArgument, "Invalid detach keys (\(text)) provided: Unknown character: '\(key)'")
            }
        }
        return DetachKeys(bytes: bytes)
    }

    /// Watches input for the sequence. The keys of a sequence begun are held back until it is
    /// complete (the user detaches) or broken (they go on, in order, with the key that broke it).
    struct Matcher: Sendable {
        let keys: [UInt8]
        private var held = 0

        init(_ keys: DetachKeys) { self.keys = keys.bytes }

        /// What of `input` passes to the container, and whether the sequence was completed.
        mutating func feed(_ input: UnsafeRawBufferPointer) -> (pass: [UInt8], detach: Bool) {
            guard !keys.isEmpty else { return (Array(input), false) }
            var pass: [UInt8] = []
            pass.reserveCapacity(input.count)
            for byte in input {
                if byte == keys[held] {
                    held += 1
                    if held == keys.count { return (pass, true) }
                    continue
                }
                pass.append(contentsOf: keys[0..<held])
                held = 0
                // The key that broke a sequence may begin the next one (ctrl-p ctrl-p ctrl-q).
                if byte == keys[0] { held = 1 } else { pass.append(byte) }
            }
            return (pass, false)
        }
    }
}
