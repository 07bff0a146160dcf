import ImageSpec

/// One entry of a tar archive: what `TarReader.next()` returns and `TarWriter.append` takes.
/// PAX and GNU extensions are already folded in, so `name`, `size` and the rest are the effective values.
/// Names and link targets are bytes (`BytePath`): tar keeps whatever bytes a file system had,
/// UTF-8 or not, and so does every reader and writer here.
public struct TarHeader: Sendable, Equatable {
    /// The entry's type; the raw value is its ustar typeflag.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case regular = 0x30          // '0' (also read from '\0' and '7')
        case hardLink = 0x31         // '1'
        case symlink = 0x32          // '2'
        case characterDevice = 0x33  // '3'
        case blockDevice = 0x34      // '4'
        case directory = 0x35        // '5'
        case fifo = 0x36             // '6'

        /// Only regular files carry a body; for the others the size field means nothing (POSIX).
        public var hasBody: Bool { self == .regular }
    }

    /// The path exactly as stored (no "./" stripping); directories written by `TarWriter` end in "/".
    public var name: BytePath
    public var kind: Kind
    /// Permission bits including setuid, setgid and sticky (the low 12 bits).
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var userName: String
    public var groupName: String
    /// The body length; 0 for every kind but `.regular`.
    public var size: Int64
    /// Seconds since the epoch; `modificationNanoseconds` carries the PAX fraction, with the same sign.
    public var modificationTime: Int64
    public var modificationNanoseconds: Int32
    /// Target of a symlink or hard link.
    public var linkName: BytePath
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Extended attributes from PAX `SCHILY.xattr.NAME` records, values as raw bytes.
    public var xattrs: [String: [UInt8]]
    /// PAX records not mapped to a field above (atime, ctime, comment, …), kept as read.
    public var paxRecords: [String: String]

    public init(
        name: BytePath, kind: Kind = .regular, mode: UInt32 = 0o644,
        uid: Int = 0, gid: Int = 0, userName: String = "", groupName: String = "",
        size: Int64 = 0, modificationTime: Int64 = 0, modificationNanoseconds: Int32 = 0,
        linkName: BytePath = BytePath(), deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
        xattrs: [String: [UInt8]] = [:], paxRecords: [String: String] = [:]
    ) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupName = groupName
        self.size = size
        self.modificationTime = modificationTime
        self.modificationNanoseconds = modificationNanoseconds
        self.linkName = linkName
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.xattrs = xattrs
        self.paxRecords = paxRecords
    }

    public static func file(_ name: BytePath, size: Int64, mode: UInt32 = 0o644, modificationTime: Int64 = 0) -> TarHeader {
        TarHeader(name: name, mode: mode, size: size, modificationTime: modificationTime)
    }

    public static func directory(_ name: BytePath, mode: UInt32 = 0o755, modificationTime: Int64 = 0) -> TarHeader {
        TarHeader(name: name, kind: .directory, mode: mode, modificationTime: modificationTime)
    }

    public static func symlink(_ name: BytePath, target: BytePath, modificationTime: Int64 = 0) -> TarHeader {
        TarHeader(name: name, kind: .symlink, mode: 0o777, modificationTime: modificationTime, linkName: target)
    }

    public static func hardLink(_ name: BytePath, target: BytePath, mode: UInt32 = 0o644, modificationTime: Int64 = 0) -> TarHeader {
        TarHeader(name: name, kind: .hardLink, mode: mode, modificationTime: modificationTime, linkName: target)
    }

    public static func device(_ name: BytePath, kind: Kind, major: UInt32, minor: UInt32, mode: UInt32 = 0o666) -> TarHeader {
        TarHeader(name: name, kind: kind, mode: mode, deviceMajor: major, deviceMinor: minor)
    }
}

/// Byte offsets and lengths of the fields of a 512-byte ustar header block.
enum TarField {
    static let name = (0, 100), mode = (100, 8), uid = (108, 8), gid = (116, 8)
    static let size = (124, 12), mtime = (136, 12), checksum = (148, 8), typeflag = 156
    static let linkName = (157, 100), magic = (257, 6), version = (263, 2)
    static let userName = (265, 32), groupName = (297, 32)
    static let devMajor = (329, 8), devMinor = (337, 8), prefix = (345, 155)
    static let blockSize = 512
}
