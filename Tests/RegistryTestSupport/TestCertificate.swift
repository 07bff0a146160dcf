import Foundation
import NIOSSL

/// A self-signed certificate for `127.0.0.1` and `*.strata.test`, made once per test process
/// with `openssl` (nothing secret is kept in the repository).
public final class TestCertificate: @unchecked Sendable {
    public static let shared = TestCertificate()

    public let directory: String
    public var certificatePath: String { "\(directory)/cert.pem" }
    public var keyPath: String { "\(directory)/key.pem" }
    private let made: Result<Void, Error>

    private init() {
        let directory = NSTemporaryDirectory() + "strata-test-cert-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.directory = directory
        made = Result {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                                 "-subj", "/CN=registry.strata.test",
                                 "-addext", "subjectAltName=DNS:*.strata.test,DNS:localhost,IP:127.0.0.1",
                                 "-keyout", "\(directory)/key.pem", "-out", "\(directory)/cert.pem"]
            openssl.standardOutput = FileHandle.nullDevice
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            guard openssl.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        }
    }

    public func serverConfiguration() throws -> TLSConfiguration {
        try made.get()
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
    }
}
