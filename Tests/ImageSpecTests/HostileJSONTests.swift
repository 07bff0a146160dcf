import Foundation
import Testing
import ImageSpec

/// JSON that no registry should send: refused as malformed, never a crash.
struct HostileJSONTests {
    @Test(arguments: [1_000, 100_000])
    func deeplyNestedJSONIsRefused(_ depth: Int) {
        let nested = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        let object = Array((#"{"config":"# + String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth) + "}").utf8)
        for bytes in [nested, object] {
            #expect(throws: StrataError.self) { try Manifest.decode(bytes) }
            #expect(throws: StrataError.self) { try ImageConfig.decode(bytes) }
        }
    }
}
