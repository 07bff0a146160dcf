#if canImport(Glibc)
import Glibc
#endif

/// A file name or path as Linux and tar keep it: bytes, which need not be UTF-8.
///
/// A Swift `String` decoded from bytes replaces what is not UTF-8 with U+FFFD, so a Latin-1
/// `caf\xE9.txt` would come out of an unpack or a commit renamed. Paths that come from tars and
/// directory listings travel as `BytePath` instead, byte for byte.
///
/// The bytes are stored followed by one NUL, so a syscall takes `cString` as a C string without
/// a copy (`openat(dir, name.cString, …)`); the empty path shares one static buffer. Order is
/// unsigned byte order, as `sort` and tar writers use.
public struct BytePath: Hashable, Comparable, Sendable, RandomAccessCollection {
    /// The bytes and a terminating NUL.
    public private(set) var cString: [CChar]

    private static let emptyStorage: [CChar] = [0]

    public init() { cString = Self.emptyStorage }

    public init(_ string: String) { self.init(bytes: string.utf8) }

    public init<S: Sequence<UInt8>>(bytes: S) {
        if let copied = bytes.withContiguousStorageIfAvailable({ Self.storage(copying: UnsafeRawBufferPointer($0)) }) {
            cString = copied
            return
        }
        var storage = [CChar]()
        storage.reserveCapacity(bytes.underestimatedCount + 1)
        for byte in bytes { storage.append(CChar(bitPattern: byte)) }
        storage.append(0)
        cString = storage.count == 1 ? Self.emptyStorage : storage
    }

    /// Copies raw bytes (a tar header field, say): one allocation, no per-byte work.
    public init(_ raw: UnsafeRawBufferPointer) { cString = Self.storage(copying: raw) }

    private static func storage(copying raw: UnsafeRawBufferPointer) -> [CChar] {
        guard !raw.isEmpty else { return emptyStorage }
        return [CChar](unsafeUninitializedCapacity: raw.count + 1) { buffer, count in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
            buffer[raw.count] = 0
            count = raw.count + 1
        }
    }

    /// A NUL-terminated C string (a `d_name`, a `readlink` result made terminated).
    public init(cString pointer: UnsafePointer<CChar>) {
        self.init(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }

    // MARK: Collection of bytes

    public var startIndex: Int { 0 }
    public var endIndex: Int { cString.count - 1 }
    public subscript(position: Int) -> UInt8 { UInt8(bitPattern: cString[position]) }

    /// Lets `Array(path)`, `BytePath(bytes: path[a..<b])` and the like copy memory, not bytes one by one.
    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        try cString.withUnsafeBufferPointer { chars in
            try chars.withMemoryRebound(to: UInt8.self) { try body(UnsafeBufferPointer(rebasing: $0.dropLast())) }
        }
    }

    /// The bytes alone, without the terminator.
    public var bytes: [UInt8] { Array(self) }

    /// Calls `body` with the bytes (not the terminator).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try cString.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
    }

    public static func < (a: BytePath, b: BytePath) -> Bool { a.lexicographicallyPrecedes(b) }

    // MARK: Text

    /// The path as text, when its bytes are UTF-8.
    public var string: String? { String(validating: self, as: UTF8.self) }

    public var isUTF8: Bool {
        var parser = Unicode.UTF8.ForwardParser()
        var bytes = makeIterator()
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid: continue
            case .error: return false
            case .emptyInput: return true
            }
        }
    }

    // MARK: Paths

    public static func + (a: BytePath, b: BytePath) -> BytePath {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var storage = a.cString
        storage.removeLast()
        storage += b.cString
        return BytePath(storage: storage)
    }

    /// `self/component`; either alone when the other is empty.
    public func appending(_ component: BytePath) -> BytePath {
        if isEmpty { return component }
        if component.isEmpty { return self }
        var storage = cString
        storage[storage.count - 1] = CChar(UInt8(ascii: "/"))  // the terminator becomes the separator
        storage += component.cString
        return BytePath(storage: storage)
    }

    public func hasPrefix(_ prefix: BytePath) -> Bool { starts(with: prefix) }

    public func hasSuffix(_ suffix: BytePath) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }

    /// What follows the last "/" (the whole path when there is none); trailing slashes are not
    /// part of it.
    public var lastComponent: BytePath {
        let trimmed = trimmingTrailingSlashes
        guard let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) else { return BytePath(bytes: trimmed) }
        return BytePath(bytes: trimmed[(slash + 1)...])
    }

    /// What precedes the last "/": "" when there is none, "/" for a child of the root.
    public var deletingLastComponent: BytePath {
        let trimmed = trimmingTrailingSlashes
        guard let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) else { return BytePath() }
        return slash == 0 ? "/" : BytePath(bytes: trimmed[..<slash])
    }

    /// The path made relative and clean: no leading "/", no empty or "." components, each ".."
    /// removing the component before it. Nil when a ".." would climb above the top, unless
    /// `clampingAtTop` (then it stays there, as the kernel resolves "/.."). A path that is clean
    /// already comes back as it is, without a copy.
    public func cleaned(clampingAtTop: Bool = false) -> BytePath? {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        if isClean { return self }
        var out = [CChar]()
        out.reserveCapacity(count + 1)
        var i = startIndex
        while i < endIndex {
            var j = i
            while j < endIndex && self[j] != slash { j += 1 }
            let length = j - i
            if length == 0 || (length == 1 && self[i] == dot) {
                // empty or ".": nothing
            } else if length == 2 && self[i] == dot && self[i + 1] == dot {
                if out.isEmpty {
                    if !clampingAtTop { return nil }
                } else if let k = out.lastIndex(of: CChar(bitPattern: slash)) {
                    out.removeSubrange(k...)
                } else {
                    out.removeAll(keepingCapacity: true)
                }
            } else {
                if !out.isEmpty { out.append(CChar(bitPattern: slash)) }
                out += cString[i..<j]
            }
            i = j + 1
        }
        if out.isEmpty { return BytePath() }
        out.append(0)
        return BytePath(storage: out)
    }

    /// No leading or trailing "/", and no empty, "." or ".." component.
    private var isClean: Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        guard let first, first != slash, last != slash else { return isEmpty }
        var start = startIndex
        for i in indices where self[i] == slash || i == endIndex - 1 {
            let end = self[i] == slash ? i : i + 1
            let length = end - start
            if length == 0 || (self[start] == dot && (length == 1 || (length == 2 && self[start + 1] == dot))) { return false }
            start = i + 1
        }
        return true
    }

    private var trimmingTrailingSlashes: SubSequence {
        var end = endIndex
        while end > 1, self[end - 1] == UInt8(ascii: "/") { end -= 1 }
        return self[..<end]
    }

    private init(storage: [CChar]) { cString = storage }
}

extension BytePath: ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) { self.init(value) }

    public init(stringInterpolation: Interpolation) {
        self.init(bytes: stringInterpolation.bytes)
    }

    /// Builds a path from text and other paths; a `BytePath` goes in byte for byte, never through
    /// its `description`.
    public struct Interpolation: StringInterpolationProtocol {
        var bytes: [UInt8] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            bytes.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { bytes += literal.utf8 }
        public mutating func appendInterpolation(_ path: BytePath) { bytes += path }
        public mutating func appendInterpolation<S: StringProtocol>(_ text: S) { bytes += text.utf8 }
        public mutating func appendInterpolation<I: BinaryInteger>(_ number: I) { bytes += String(number).utf8 }
    }
}

extension BytePath: CustomStringConvertible, CustomDebugStringConvertible {
    /// The path for messages: UTF-8 as it is, every other byte as `\xNN` (as Go's `%q` shows it).
    public var description: String {
        if let string { return string }
        var out = ""
        var i = startIndex
        while i < endIndex {
            var parser = Unicode.UTF8.ForwardParser()
            var rest = self[i...].makeIterator()
            if case .valid(let encoded) = parser.parseScalar(from: &rest) {
                out.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                i += encoded.count
            } else {
                let hex = String(self[i], radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                i += 1
            }
        }
        return out
    }

    public var debugDescription: String { "\"\(description)\"" }
}
