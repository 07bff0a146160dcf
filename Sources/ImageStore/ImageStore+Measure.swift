import Archive
import ImageSpec

extension ImageStore {
    /// Reads a layer through: its diff ID, Docker's size for it (file bytes plus symlink targets),
    /// and its tar length — and on the way, proof that it decompresses and is a well-formed tar.
    /// An uncompressed layer's diff ID is its (already verified) blob digest: it is only parsed, not hashed again.
    public static func measureLayer(_ reader: ByteReader, compression: Compression, digest: Digest, path: String, source: String)
        throws -> (diffID: Digest, contentSize: Int64, tarSize: Int64) {
        if compression == .none {
            let counting = CountingReader(reader)
            do {
                let stats = try LayerStats.measure(counting)
                try counting.copy(to: NullWriter())
                return (digest, stats.contentSize, counting.count)
            } catch let error as StrataError {
                throw error.context("\(source): layer \(path)")
            }
        }
        let digesting = DigestingReader(try Codecs.decompressing(reader, as: compression))
        do {
            let stats = try LayerStats.measure(digesting)
            try digesting.copy(to: NullWriter())
            return (digesting.digest(), stats.contentSize, digesting.count)
        } catch let error as StrataError {
            throw StrataError(error.code, "\(source): layer \(path): \(error.message)")
        }
    }
}
