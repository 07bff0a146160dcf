/// The 64-hex-digit random IDs Docker gives containers, anonymous volumes and networks.
enum RandomID {
    static func make() -> String {
        (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
    }
}
