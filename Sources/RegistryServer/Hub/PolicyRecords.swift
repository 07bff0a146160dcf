import Foundation
import Synchronization

/// Where the login throttle and the anonymous pull limit keep their counts: a small record per
/// key, read and rewritten in one step. In one process's memory for a registry of its own, or in
/// the registry's database (`RegistryStorage`), so every replica behind one name counts the same
/// guesses and the same pulls.
public protocol PolicyRecords: Sendable {
    /// Reads the record of (`kind`, `key`), lets `body` change it or remove it (nil), and stores
    /// it, as one step. `kept` says until when a record matters: past it, it may be forgotten.
    func update<Record: Codable & Sendable, Result: Sendable>(_ kind: String, _ key: String, kept: (Record) -> Date,
                                         _ body: (inout Record?) -> Result) throws -> Result
    /// The record of (`kind`, `key`), or nil.
    func read<Record: Codable & Sendable>(_ kind: String, _ key: String, as type: Record.Type) throws -> Record?
}

extension PolicyRecords {
    static func encode<Record: Encodable>(_ record: Record) throws -> String {
        String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
    }

    static func decode<Record: Decodable>(_ text: String?, as type: Record.Type) -> Record? {
        // A record this version cannot read is as good as none: the counts start again.
        text.flatMap { try? JSONDecoder().decode(type, from: Data($0.utf8)) }
    }
}

/// One process's records: for a registry that runs as one process, and for tests.
public final class MemoryPolicyRecords: PolicyRecords {
    private struct Entry {
        var value: String
        var kept: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Past this many, the records no longer kept are forgotten, so a scan of many names or
    /// addresses cannot grow them without bound.
    private let forgetAbove: Int

    public init(forgetAbove: Int = 10_000) {
        self.forgetAbove = forgetAbove
    }

    public func update<Record: Codable & Sendable, Result: Sendable>(_ kind: String, _ key: String, kept: (Record) -> Date,
                                                _ body: (inout Record?) -> Result) throws -> Result {
        try entries.withLock { entries in
            let id = "\(kind) \(key)"
            var record = Self.decode(entries[id]?.value, as: Record.self)
            let result = body(&record)
            if let record {
                entries[id] = Entry(value: try Self.encode(record), kept: kept(record))
            } else {
                entries[id] = nil
            }
            if entries.count > forgetAbove {
                let now = Date()
                entries = entries.filter { $0.value.kept > now }
            }
            return result
        }
    }

    public func read<Record: Codable & Sendable>(_ kind: String, _ key: String, as type: Record.Type) throws -> Record? {
        entries.withLock { Self.decode($0["\(kind) \(key)"]?.value, as: type) }
    }
}
