import ImageSpec

/// `strata image diff A B`: which layers two images share, then the files B adds (`A`),
/// changes (`C`) and deletes (`D`) relative to A, with their sizes.
public struct ImageDiff: Sendable {
    public struct LayerInfo: Sendable, Equatable {
        public var diffID: Digest
        /// Docker's size for it: file bytes plus symlink targets.
        public var size: Int64
    }

    public enum Kind: String, Sendable { case added = "A", changed = "C", deleted = "D" }

    public struct FileChange: Sendable, Equatable {
        public var kind: Kind
        /// Absolute, as `diff` prints it: the name's exact bytes (a name need not be UTF-8).
        public var path: BytePath
        /// The file's size in B (in A for a deletion).
        public var size: Int64
        /// Its size in A, for a change.
        public var previousSize: Int64?
    }

    /// The layers both images have, lowest first (a common base).
    public var shared: [LayerInfo]
    public var onlyInFirst: [LayerInfo]
    public var onlyInSecond: [LayerInfo]
    /// Sorted by path.
    public var changes: [FileChange]

    /// A layer to compare: its diff ID (the digest of its tar), a size to show, and its tar stream.
    public struct Layer: Sendable {
        public var diffID: Digest
        public var size: Int64
        public var name: String
        /// The layer's tar, decompressed.
        public var open: @Sendable () throws -> any ByteReader

        public init(diffID: Digest, size: Int64, name: String, open: @escaping @Sendable () throws -> any ByteReader) {
            self.diffID = diffID
            self.size = size
            self.name = name
            self.open = open
        }
    }

    /// The layers two images share, then B's files against A's, read from the layers' tar
    /// headers (the shared base once, for both; nothing is unpacked). Both the engine's image
    /// diff and the registry's web page call this, over their own stores.
    public static func between(_ a: [Layer], _ b: [Layer]) throws -> ImageDiff {
        let chainA = ChainID.compute(a.map(\.diffID)), chainB = ChainID.compute(b.map(\.diffID))
        // Layers are shared while their chain IDs agree: the same layer on the same base.
        var common = 0
        while common < min(a.count, b.count), chainA[common] == chainB[common] { common += 1 }
        func info(_ layer: Layer) -> LayerInfo { LayerInfo(diffID: layer.diffID, size: layer.size) }
        var base = LayerFileIndex()
        for layer in a.prefix(common) { try index(layer, into: &base, hashBodies: false) }
        var left = base, right = base
        for layer in a.dropFirst(common) { try index(layer, into: &left, hashBodies: true) }
        for layer in b.dropFirst(common) { try index(layer, into: &right, hashBodies: true) }
        return ImageDiff(shared: a.prefix(common).map(info), onlyInFirst: a.dropFirst(common).map(info),
                         onlyInSecond: b.dropFirst(common).map(info), changes: LayerFileIndex.changes(from: left, to: right))
    }

    private static func index(_ layer: Layer, into index: inout LayerFileIndex, hashBodies: Bool) throws {
        do {
            try index.apply(TarReader(try layer.open()), hashBodies: hashBodies)
        } catch let error as StrataError {
            throw error.context("layer \(layer.name)")
        }
    }
}

/// The files an image's layers leave, from their tar headers: what each path ends as after
/// later layers replace, and whiteouts delete, what lower ones wrote.
struct LayerFileIndex {
    struct Entry: Equatable {
        var kind: TarHeader.Kind
        var mode: UInt32
        var uid: Int
        var gid: Int
        var size: Int64
        var modificationTime: Int64
        var linkName: BytePath
        /// The body's digest, where it was read (files of the layers the images do not share).
        var contentDigest: Digest?
    }

    var entries: [BytePath: Entry] = [:]

    /// Adds one layer on top. `hashBodies` reads each file's body to know its content, for
    /// layers whose files may be compared with another image's.
    mutating func apply(_ reader: TarReader, hashBodies: Bool) throws {
        let whiteout: BytePath = ".wh.", opaque: BytePath = ".wh..wh..opq"
        while let header = try reader.next() {
            try Interruption.check()
            guard let path = header.name.cleaned(clampingAtTop: true), !path.isEmpty else { continue }
            let dir = path.deletingLastComponent, base = path.lastComponent
            if base == opaque {
                removeTree(under: dir, keepingRoot: true)
                continue
            }
            if base.hasPrefix(whiteout) {
                removeTree(under: dir.appending(BytePath(bytes: base.dropFirst(whiteout.count))), keepingRoot: false)
                continue
            }
            var digest: Digest?
            if hashBodies, header.kind == .regular {
                var digester = Digester(.sha256)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
                defer { buffer.deallocate() }
                while true {
                    let n = try reader.readBody(into: buffer)
                    if n == 0 { break }
                    digester.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                }
                digest = digester.finalize()
            }
            // A later entry replaces an earlier one of any type (a file over a directory takes its subtree).
            if header.kind != .directory, entries[path]?.kind == .directory { removeTree(under: path, keepingRoot: false) }
            entries[path] = Entry(kind: header.kind, mode: header.mode & 0o7777, uid: header.uid, gid: header.gid,
                                  size: header.kind == .regular ? header.size : Int64(header.linkName.count),
                                  modificationTime: header.modificationTime, linkName: header.linkName, contentDigest: digest)
        }
    }

    mutating func removeTree(under path: BytePath, keepingRoot: Bool) {
        if !keepingRoot { entries[path] = nil }
        let prefix: BytePath = path.isEmpty ? "" : "\(path)/"
        for key in entries.keys where key.hasPrefix(prefix) && key != path { entries[key] = nil }
    }

    /// How `b` differs from `a`, path by path.
    static func changes(from a: LayerFileIndex, to b: LayerFileIndex) -> [ImageDiff.FileChange] {
        var changes: [ImageDiff.FileChange] = []
        for (path, new) in b.entries {
            guard let old = a.entries[path] else {
                changes.append(.init(kind: .added, path: "/\(path)", size: new.size))
                continue
            }
            if differs(old, new) {
                changes.append(.init(kind: .changed, path: "/\(path)", size: new.size, previousSize: old.size))
            }
        }
        for (path, old) in a.entries where b.entries[path] == nil {
            changes.append(.init(kind: .deleted, path: "/\(path)", size: old.size))
        }
        return changes.sorted { $0.path < $1.path }
    }

    /// A change is in type, permissions, owner, size, link target or — where both sides were
    /// read — content. A directory's time changes with every child, so it is not a change itself.
    static func differs(_ a: Entry, _ b: Entry) -> Bool {
        if a.kind != b.kind || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid || a.size != b.size || a.linkName != b.linkName {
            return true
        }
        if a.kind == .directory { return false }
        if let x = a.contentDigest, let y = b.contentDigest { return x != y }
        // One side is from a layer both images share and was not read: its time tells.
        return a.modificationTime != b.modificationTime
    }
}
