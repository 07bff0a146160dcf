import Foundation

/// Runs the built `strata` binary (and peer tools) as a user would.
enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static var binary: String {
        for config in ["debug", "release"] {
            let path = "\(packageRoot)/.build/\(config)/strata"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "\(packageRoot)/.build/debug/strata"
    }

    struct Result {
        var status: Int32
        var data: Data
        var stdout: String { String(decoding: data, as: UTF8.self) }
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty } }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
                    directory: String? = nil) throws -> Result {
        // A child that exits before reading all its input must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = input
        try p.run()
        let feeder = Thread {
            if let stdin { input.fileHandleForWriting.write(stdin) }
            try? input.fileHandleForWriting.close()
        }
        feeder.start()
        // Read both pipes concurrently so neither fills up and blocks the child.
        nonisolated(unsafe) var errData = Data()
        let errReader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while errReader.isExecuting || !errReader.isFinished { usleep(1000) }
        return Result(status: p.terminationStatus, data: outData, stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `strata --root ROOT args…`
    @discardableResult
    static func strata(_ root: String, _ arguments: [String], stdin: Data? = nil) throws -> Result {
        try run(binary, ["--root", root] + arguments, stdin: stdin)
    }

    static func which(_ tool: String) -> String? {
        for dir in ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    static func temporaryDirectory(_ name: String = "cli") -> String {
        let path = NSTemporaryDirectory() + "strata-\(name)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A busybox root filesystem from Debian's busybox-static (installed by `make deps`).
    static func busyboxRootfs() throws -> String {
        let root = temporaryDirectory("rootfs")
        let fm = FileManager.default
        for dir in ["bin", "etc", "tmp"] { try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true) }
        try fm.copyItem(atPath: "/bin/busybox", toPath: "\(root)/bin/busybox")
        for applet in ["sh", "ls", "cat", "echo", "true", "sleep", "id", "hostname", "mkdir", "rm", "test", "pwd", "wc", "sed", "chmod", "touch", "stat", "find", "head"] { try fm.createSymbolicLink(atPath: "\(root)/bin/\(applet)", withDestinationPath: "busybox") }
        try Data("root:x:0:0:root:/root:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: "\(root)/etc/passwd"))
        try Data("hello from strata\n".utf8).write(to: URL(fileURLWithPath: "\(root)/etc/motd"))
        return root
    }

    /// Docker's reference output, from ../shared/reference/docker-20.10.
    static func reference(_ name: String) -> String? {
        try? String(contentsOfFile: "\(packageRoot)/../shared/reference/docker-20.10/\(name)", encoding: .utf8)
    }

    /// Column titles of a Docker table header (separated by 2+ spaces).
    static func columns(_ header: String) -> [String] {
        header.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
