import Testing
import Foundation
@testable import Runtime
import ImageSpec

/// `-p` as Docker reads it.
struct PortMappingTests {
    @Test(arguments: [
        ("80", PortMapping(hostPort: 0, containerPort: 80)),
        ("8080:80", PortMapping(hostPort: 8080, containerPort: 80)),
        ("127.0.0.1:8080:80/udp", PortMapping(hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80, proto: "udp")),
        ("127.0.0.1::80", PortMapping(hostIP: "127.0.0.1", hostPort: 0, containerPort: 80)),
        ("53/UDP", PortMapping(hostPort: 0, containerPort: 53, proto: "udp")),
    ])
    func specs(_ text: String, _ expected: PortMapping) throws {
        #expect(try PortMapping.parse(text) == expected)
    }

    @Test(arguments: [("0", "Invalid containerPort"), ("x:80", "Invalid hostPort: x"), ("1:2:3:4", "Invalid port format"),
                      ("::1:80:80", "Invalid port format")])
    func badSpecsAreNamed(_ text: String, _ message: String) {
        #expect { try PortMapping.parse(text) } throws: { ($0 as? StrataError)?.message.hasPrefix(message) == true }
    }

    @Test func dockersWordsForPortAndPs() {
        let p = PortMapping(hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80)
        #expect(p.portLine == "80/tcp -> 127.0.0.1:8080" && p.psColumn == "127.0.0.1:8080->80/tcp")
        #expect(PortMapping(hostPort: 9, containerPort: 9, proto: "udp").psColumn == "0.0.0.0:9->9/udp")
    }
}

/// What a killed `network create` leaves goes at the next open; a live one's file stays.
struct NetworkStoreStagingTests {
    @Test func stagingFilesOfDeadProcessesAreSwept() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("networks-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try NetworkStore(root: root)
        let dead = "\(root)/.new-999999999-1", alive = "\(root)/.new-\(getpid())-2"
        for path in [dead, alive] { #expect(FileManager.default.createFile(atPath: path, contents: Data("{}".utf8))) }
        _ = try NetworkStore(root: root)
        #expect(!FileManager.default.fileExists(atPath: dead) && FileManager.default.fileExists(atPath: alive))
        #expect(try NetworkStore(root: root).list().isEmpty)
    }
}
