import Glibc

/// This machine as uname(2) names it: what a seccomp profile's architecture and kernel
/// conditions are decided by.
public struct Uname: Sendable {
    /// `uname -m`: x86_64, aarch64…
    public var machine: String
    /// `uname -r`: 6.1.0-18-amd64…
    public var release: String

    public static let current: Uname = {
        var u = utsname()
        uname(&u)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return Uname(machine: text(u.machine), release: text(u.release))
    }()
}
