import Foundation
import ImageSpec
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// An advisory lock on a file (flock), shared or exclusive, released by the kernel when the
/// process dies — so a `kill -9` never leaves the store locked.
///
/// Ingesting processes hold it shared; garbage collection holds it exclusive, so it never
/// deletes a blob another process has just written but not yet recorded.
public final class FileLock {
    private let fd: Int32

    public enum Mode { case shared, exclusive }

    static let logger = Logger(label: "strata.lock")

    public init(path: String, mode: Mode) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StrataError.posix("cannot open lock \(path)", errno: errno) }
        let operation = mode == .shared ? LOCK_SH : LOCK_EX
        // Say so when another process holds it: a user wondering why `rmi` hangs can see a `load` runs.
        if flock(fd, operation | LOCK_NB) == 0 { return }
        let started = Date()
        Self.logger.debug("waiting for the \(mode == .shared ? "shared" : "exclusive") lock \(path): another strata process holds it")
        defer { Self.logger.debug("took \(path) after \(String(format: "%.2f", Date().timeIntervalSince(started))) s") }
        while flock(fd, operation) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            throw StrataError.posix("cannot lock \(path)", errno: e)
        }
    }

    /// Takes the lock exclusively if no one holds it; nil otherwise (never waits).
    public init?(tryExclusive path: String) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
