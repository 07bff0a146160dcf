import Archive
import Foundation
import ImageSpec

/// Where a layout destination's files land: a tar stream, or files below a directory. The
/// docker-archive and OCI-layout writers only name paths; the sink decides how they land.
protocol LayoutSink: AnyObject {
    /// Whether files can be added from several threads at once (a tar stream takes one at a time).
    var isConcurrent: Bool { get }
    func addDirectory(_ path: String) throws
    /// Adds a file of `size` bytes read from `reader`; `check` runs after the last byte is read
    /// and before the file is visible (a digest that does not check out keeps it out).
    func addFile(_ path: String, size: Int64, from reader: ByteReader, check: () throws -> Void) throws
    func exists(_ path: String) -> Bool
}

extension LayoutSink {
    func addFile(_ path: String, bytes: [UInt8]) throws {
        try addFile(path, size: Int64(bytes.count), from: MemoryReader(bytes), check: {})
    }
}

/// Entries of a tar: root-owned, mode 0644/0755, mtime 0 — the same images give the same bytes.
final class TarLayoutSink: LayoutSink {
    let tar: TarWriter
    private var added: Set<String> = []
    var isConcurrent: Bool { false }

    init(_ sink: ByteWriter) { tar = TarWriter(sink) }

    func addDirectory(_ path: String) throws {
        guard added.insert(path + "/").inserted else { return }
        try tar.append(TarHeader(name: BytePath(path + "/"), kind: .directory, mode: 0o755), body: nil)
    }

    func addFile(_ path: String, size: Int64, from reader: ByteReader, check: () throws -> Void) throws {
        try tar.append(TarHeader(name: BytePath(path), kind: .regular, mode: 0o644, size: size), body: reader)
        try check()
        added.insert(path)
    }

    func exists(_ path: String) -> Bool { added.contains(path) }

    func finish() throws { try tar.finish() }
}

/// Files below a directory (an OCI image layout on disk): each written to a temp file, synced,
/// checked, and renamed into place — never visible half-written.
final class DirectoryLayoutSink: LayoutSink {
    let root: String
    var isConcurrent: Bool { true }

    init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root)
    }

    func addDirectory(_ path: String) throws { try FileSystem.createDirectory("\(root)/\(path)") }

    func addFile(_ path: String, size: Int64, from reader: ByteReader, check: () throws -> Void) throws {
        let target = "\(root)/\(path)"
        try FileSystem.createDirectory(PathString(target).deletingLastComponent)
        try FileSystem.writeAtomically(target) { writer in
            let written = try reader.copy(to: writer)
            guard written == size else { throw StrataError(.sizeMismatch, "\(path): expected \(size) bytes, got \(written)") }
            try check()
        }
    }

    func exists(_ path: String) -> Bool { FileSystem.exists("\(root)/\(path)") }
}
