import Foundation

/// Where transfers spool what cannot stream (re-compressed layers, unpacked archives):
/// `$TMPDIR`, else /var/tmp (large, and not a tmpfs). Files are named `strata-KIND-PID-…`, so
/// an interrupted process can remove its own.
public enum SpoolDirectory {
    public static var path: String {
        ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/tmp"
    }

    /// A new spool path for this process (not created).
    static func newPath(_ kind: String) -> String {
        "\(path)/strata-\(kind)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }
}
