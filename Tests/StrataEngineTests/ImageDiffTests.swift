import Foundation
import Testing
import StrataEngine

@Suite struct ImageDiffTests {
    let engine = try! Engine(root: temporaryDirectory("diff-store"))

    func base() throws -> [UInt8] {
        try Layer().dir("etc").file("etc/motd", "hello").file("etc/keep", "same").dir("bin").file("bin/ls", "ls!")
            .file("bin/cat", "cat").dir("var").dir("var/cache").file("var/cache/a", "aaaa").symlink("sh", "bin/ls").bytes()
    }

    @Test func sharedLayersThenAddedChangedAndDeletedFiles() throws {
        let store = try engine.store
        let baseLayer = try base()
        try store.makeImage([baseLayer], tag: "app:1")
        try store.makeImage([baseLayer, try Layer()
            .file("etc/motd", "HELLO", time: 1_800_000_000)         // same size, new content
            .file("etc/keep", "same")                                // rewritten as it was: no change
            .whiteout("bin/cat")
            .file("var/cache/.wh..wh..opq", "").file("var/cache/b", "bb")  // opaque: a goes, b comes
            .dir("srv").file("srv/new", "new file")
            .symlink("sh", "bin/busybox")                            // a link that points elsewhere
            .bytes()], tag: "app:2")

        let diff = try engine.imageDiff("app:1", "app:2")
        #expect(diff.shared.map(\.diffID) == [Digest.sha256(of: baseLayer)])
        #expect(diff.onlyInFirst.isEmpty && diff.onlyInSecond.count == 1)
        let lines = diff.changes.map { "\($0.kind.rawValue) \($0.path) \($0.size)\($0.previousSize.map { " was \($0)" } ?? "")" }
        #expect(lines == [
            "D /bin/cat 3",
            "C /etc/motd 5 was 5",
            "C /sh 11 was 6",
            "A /srv 0",
            "A /srv/new 8",
            "D /var/cache/a 4",
            "A /var/cache/b 2",
        ])
    }

    @Test func imagesWithNoCommonBaseShareNothing() throws {
        let store = try engine.store
        try store.makeImage([try Layer().file("a", "1").bytes()], tag: "one")
        try store.makeImage([try Layer().file("a", "2").file("b", "3").bytes()], tag: "two")
        let diff = try engine.imageDiff("one", "two")
        #expect(diff.shared.isEmpty && diff.onlyInFirst.count == 1 && diff.onlyInSecond.count == 1)
        // Both sides' files were read, so a content change of the same size is seen.
        #expect(diff.changes.map { "\($0.kind.rawValue) \($0.path)" } == ["C /a", "A /b"])
    }

    @Test func anImageAgainstItselfHasNoChanges() throws {
        let store = try engine.store
        try store.makeImage([try base()], tag: "self")
        let diff = try engine.imageDiff("self", "self")
        #expect(diff.changes.isEmpty && diff.shared.count == 1)
    }

    @Test func anUnknownImageIsAClearError() throws {
        #expect(throws: StrataError.self) { _ = try engine.imageDiff("nosuch:1", "nosuch:2") }
        do { _ = try engine.imageDiff("nosuch:1", "nosuch:2") } catch let error as StrataError {
            #expect(error.code == .imageUnknown)
        }
    }
}
