import Foundation
import ImageSpec

/// Blobs this server has hashed and found to match their names, each with the identity of the file
/// it hashed (device, inode, size, change times). A blob is hashed on its first GET, as it is
/// streamed, and sent with `sendfile` after that while its file stays the same; any write,
/// truncation or replacement changes the identity and it is hashed again. Bits that rot under
/// the filesystem without a write are out of its sight: `strata system check` finds those.
final class VerifiedBlobs: @unchecked Sendable {
    /// What `fstat` says of a blob file; equal identities mean the same bytes were not rewritten.
    struct FileIdentity: Hashable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int, modifiedNanoseconds: Int, changed: Int, changedNanoseconds: Int

        init(_ st: stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = st.st_mtim.tv_sec
            modifiedNanoseconds = st.st_mtim.tv_nsec
            changed = st.st_ctim.tv_sec
            changedNanoseconds = st.st_ctim.tv_nsec
        }

        /// The identity of the file at `path`, or nil when it is not there.
        init?(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            self.init(st)
        }
    }

    private let lock = NSLock()
    private var verified: [Digest: FileIdentity] = [:]
    /// A bound on memory; past it the record starts over (each blob is then hashed once more).
    private let capacity: Int

    init(capacity: Int = 200_000) { self.capacity = capacity }

    func isVerified(_ digest: Digest, _ identity: FileIdentity) -> Bool {
        lock.withLock { verified[digest] == identity }
    }

    func record(_ digest: Digest, _ identity: FileIdentity) {
        lock.withLock {
            if verified.count >= capacity { verified.removeAll(keepingCapacity: true) }
            verified[digest] = identity
        }
    }
}
