// A Swift program that uses only Strata's library: load (or pull) an image, run a command in a
// container made from it, and print the command's output.
//
//   engine-example --root DIR --image NAME (--load ARCHIVE | --pull) [--] COMMAND ARGS…
//
// `make test` builds it; Tests/StrataCLITests/EngineExampleTests.swift runs it.
import Foundation
import StrataEngine

@main
struct EngineExample {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var root: String?, image: String?, archive: String?, pull = false
        while let first = arguments.first, first.hasPrefix("--") {
            arguments.removeFirst()
            switch first {
            case "--root": root = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--image": image = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--load": archive = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--pull": pull = true
            case "--": break
            default: fail("unknown option \(first)")
            }
            if first == "--" { break }
        }
        guard let image, !arguments.isEmpty else {
            fail("usage: engine-example [--root DIR] --image NAME [--load ARCHIVE | --pull] [--] COMMAND ARGS…")
        }
        do {
            let engine = try Engine(root: root)
            if let archive {
                for loaded in try await engine.load(from: archive) { print("loaded \(loaded.image.id.short)") }
            } else if pull {
                let result = try await engine.pull(image) { event in
                    if case .transfer(.layer(let i, .complete)) = event { print("layer \(i + 1) pulled") }
                }
                print("pulled \(result.reference) at \(result.digest)")
            }
            // The container's stdout is captured through a pipe and printed by this program.
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { fail("pipe: \(String(cString: strerror(errno)))") }
            var options = ContainerEngine.CreateOptions(image: image)
            options.command = arguments
            options.autoRemove = true
            let reader = fds[0], writer = fds[1]
            let output = Task.detached { () -> Data in
                FileHandle(fileDescriptor: reader, closeOnDealloc: true).readDataToEndOfFile()
            }
            let status = try await engine.runContainer(options, pull: .never, attach: .init(stdout: writer, stderr: 2))
            close(writer)
            let text = String(decoding: await output.value, as: UTF8.self)
            print("output: \(text.trimmingCharacters(in: .newlines))")
            print("exit status: \(status)")
            exit(status)
        } catch let error as StrataError {
            fail("\(error.message) [\(error.code.rawValue)]")
        } catch {
            fail("\(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("engine-example: \(message)\n".utf8))
        exit(1)
    }
}
