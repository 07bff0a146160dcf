import Foundation

/// Runs a system tool (tar, gzip, zstd) for the interop tests of this target.
struct ToolResult {
    var status: Int32
    var stdout: Data
    var stderr: Data
}

func runTool(_ executable: String, _ arguments: [String], input: [UInt8]? = nil) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let inPipe = Pipe(), out = Pipe(), err = Pipe()
    process.standardInput = inPipe
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Input and stderr on their own threads: megabytes through a pipe must not stall either side.
    let feeder = Thread {
        if let input { inPipe.fileHandleForWriting.write(Data(input)) }
        try? inPipe.fileHandleForWriting.close()
    }
    feeder.start()
    nonisolated(unsafe) var errData = Data()
    let done = DispatchSemaphore(value: 0)
    Thread { errData = err.fileHandleForReading.readDataToEndOfFile(); done.signal() }.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, stdout: outData, stderr: errData)
}
