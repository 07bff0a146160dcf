/// STOPSIGNAL's values, as Docker's `signal.ParseSignal` accepts them: a non-zero number, or a
/// Linux signal name with or without `SIG`, in any case (`SIGTERM`, `term`, `RTMIN+3`).
enum SignalName {
    static func isValid(_ raw: String) -> Bool {
        if let number = Int(raw) { return number != 0 }
        var name = raw.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return names.contains(name)
    }

    static let names: Set<String> = {
        var names: Set<String> = [
            "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE",
            "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU",
            "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
        ]
        for i in 1...15 { names.insert("RTMIN+\(i)") }
        for i in 1...14 { names.insert("RTMAX-\(i)") }
        return names
    }()
}
