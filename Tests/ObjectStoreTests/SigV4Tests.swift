import Foundation
import ImageSpec
import Testing
@testable import ObjectStore

/// AWS's published vectors, every stage of each: canonical request, string to sign, signature.
struct SigV4Tests {
    struct Suite: Decodable {
        struct Vector: Decodable, CustomTestStringConvertible {
            var name, method, path, canonicalRequest, stringToSign, signature: String
            var query, headers: [[String]]
            var testDescription: String { name }
        }
        var accessKey, secretKey, region, service, date, payloadHash: String
        var vectors: [Vector]
    }

    static let suite: Suite = {
        let url = Bundle.module.url(forResource: "Golden", withExtension: nil)!.appendingPathComponent("sigv4-suite.json")
        return try! JSONDecoder().decode(Suite.self, from: Data(contentsOf: url))
    }()

    @Test(arguments: suite.vectors)
    func theSuitesVectors(_ vector: Suite.Vector) throws {
        let suite = Self.suite
        let signer = SigV4(credentials: .init(accessKey: suite.accessKey, secretKey: suite.secretKey), region: suite.region, service: suite.service)
        let date = try #require(ISO8601DateFormatter().date(from: suite.date))
        let request = SigV4.Request(method: vector.method, path: vector.path, query: vector.query.map { ($0[0], $0[1]) },
                                    headers: vector.headers.map { ($0[0], $0[1]) })
        let canonical = signer.canonicalRequest(request, payloadHash: suite.payloadHash)
        #expect(canonical == vector.canonicalRequest)
        let toSign = signer.stringToSign(canonicalRequest: canonical, date: date)
        #expect(toSign == vector.stringToSign)
        #expect(signer.signature(stringToSign: toSign, date: date) == vector.signature)
    }

    // MARK: S3's own examples (the S3 API reference, "Authenticating Requests: AWS Signature Version 4")

    static let example = SigV4(credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                               region: "us-east-1")
    static let exampleDate = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    @Test func aRangedGETIsSignedWithItsHeaders() {
        var request = SigV4.Request(method: "GET", path: "/test.txt", headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")])
        let authorization = Self.example.sign(&request, payloadHash: SigV4.emptyPayload, date: Self.exampleDate)
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(request.headers.contains { $0 == ("X-Amz-Date", "20130524T000000Z") })
    }

    @Test func aPUTSignsItsBodysHashAndEncodesTheKeyOnce() {
        var request = SigV4.Request(method: "PUT", path: "/test$file.text", headers: [
            ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ])
        let body = Digest.sha256(of: Array("Welcome to Amazon S3.".utf8)).encoded
        let authorization = Self.example.sign(&request, payloadHash: body, date: Self.exampleDate)
        #expect(authorization.hasSuffix("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                                        + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
        #expect(request.target == "/test%24file.text")
    }

    @Test func aPresignedURLSignsOnlyTheHost() {
        let url = Self.example.presign(SigV4.Request(method: "GET", path: "/test.txt", headers: [("Host", "examplebucket.s3.amazonaws.com")]),
                                       endpoint: "https://examplebucket.s3.amazonaws.com", expires: 86400, date: Self.exampleDate)
        #expect(url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test func aSessionTokenIsSentAndSigned() {
        var signer = Self.example
        signer.credentials.sessionToken = "token/with+signs"
        var request = SigV4.Request(method: "GET", path: "/k", headers: [("Host", "h")])
        let authorization = signer.sign(&request, payloadHash: SigV4.emptyPayload, date: Self.exampleDate)
        #expect(request.headers.contains { $0 == ("X-Amz-Security-Token", "token/with+signs") })
        #expect(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
        let url = signer.presign(SigV4.Request(method: "GET", path: "/k", headers: [("Host", "h")]), endpoint: "http://h", expires: 60, date: Self.exampleDate)
        #expect(url.contains("&X-Amz-Security-Token=token%2Fwith%2Bsigns&"))
    }

    @Test(arguments: [("a b", true, "a%20b"), ("a/b", true, "a%2Fb"), ("a/b", false, "a/b"), ("~-._", true, "~-._"),
                      ("é", true, "%C3%A9"), ("a+b=c&d", true, "a%2Bb%3Dc%26d"), ("sha256:ab", false, "sha256%3Aab")])
    func encoding(_ text: String, _ slash: Bool, _ encoded: String) {
        #expect(SigV4.encode(text, slash: slash) == encoded)
    }
}
