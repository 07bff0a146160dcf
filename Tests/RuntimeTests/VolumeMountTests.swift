import Foundation
import Testing
@testable import Runtime
import ImageSpec

/// `-v`, `--mount` and `--tmpfs`, each as Docker reads it.
struct VolumeMountTests {
    typealias M = VolumeMount

    @Test(arguments: [
        ("/data", M(kind: .volume, source: "", target: "/data", anonymous: true)),
        ("cache:/var/cache", M(kind: .volume, source: "cache", target: "/var/cache")),
        ("/srv/site:/usr/share/html:ro", M(kind: .bind, source: "/srv/site", target: "/usr/share/html", readOnly: true)),
        ("/srv:/srv:rw,z", M(kind: .bind, source: "/srv", target: "/srv")),
    ])
    func volumeFlags(_ text: String, _ expected: M) throws {
        #expect(try M.parse(volume: text) == expected)
    }

    @Test(arguments: [
        ("type=bind,source=/srv,target=/srv,readonly", M(kind: .bind, source: "/srv", target: "/srv", readOnly: true)),
        ("type=volume,src=db,dst=/var/lib/db", M(kind: .volume, source: "db", target: "/var/lib/db")),
        ("target=/scratch", M(kind: .volume, source: "", target: "/scratch", anonymous: true)),
        ("type=tmpfs,destination=/run,tmpfs-size=64m,tmpfs-mode=1777", M(kind: .tmpfs, source: "", target: "/run", options: ["size=64m", "mode=1777"])),
        ("type=bind,src=/a,dst=/b,ro=false", M(kind: .bind, source: "/a", target: "/b")),
    ])
    func mountFlags(_ text: String, _ expected: M) throws {
        #expect(try M.parse(mount: text) == expected)
    }

    @Test(arguments: [
        ("/run", M(kind: .tmpfs, source: "", target: "/run")),
        ("/run:size=1m,mode=700,ro", M(kind: .tmpfs, source: "", target: "/run", readOnly: true, options: ["size=1m", "mode=700"])),
    ])
    func tmpfsFlags(_ text: String, _ expected: M) throws {
        #expect(try M.parse(tmpfs: text) == expected)
    }

    /// Each refusal names what is wrong.
    @Test(arguments: [
        ("-v", "data", "not an absolute path"),
        ("-v", "/", "destination can't be '/'"),
        ("-v", "a:b:c:d", "invalid volume specification"),
        ("-v", "x:/data:rx", "invalid mode: rx"),
        ("-v", "bad name!:/data", "invalid characters for a local volume name"),
        ("-v", "/a:/b/../../etc", "'..'"),
        ("--mount", "type=bind,target=/x", "source is required"),
        ("--mount", "type=nfs,target=/x", "invalid mount type \"nfs\""),
        ("--mount", "source=v", "target is required"),
        ("--mount", "type=bind,source=relative,target=/x", "is not absolute"),
        ("--mount", "type=volume,target=/x,tmpfs-size=1m", "tmpfs options are only for type=tmpfs"),
        ("--mount", "type=bind,src=/a,dst=/b,colour=red", "unexpected key 'colour'"),
        ("--tmpfs", "run", "not an absolute path"),
    ])
    func badFlagsAreNamed(_ flag: String, _ text: String, _ message: String) {
        do {
            switch flag {
            case "-v": _ = try M.parse(volume: text)
            case "--mount": _ = try M.parse(mount: text)
            default: _ = try M.parse(tmpfs: text)
            }
            Issue.record("\(flag) \(text) was accepted")
        } catch let error as StrataError {
            #expect(error.code == .invalidArgument && error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func anImagesVolumesBecomeAnonymousOnesUnlessAMountCoversThem() throws {
        let mounts = try ContainerEngine.mounts([M(kind: .volume, source: "db", target: "/var/lib/db/")],
                                                imageVolumes: ["/var/lib/db", "/logs"])
        #expect(mounts == [M(kind: .volume, source: "db", target: "/var/lib/db/"), M(kind: .volume, source: "", target: "/logs", anonymous: true)])
        #expect(throws: StrataError.self) {
            try ContainerEngine.mounts([M(kind: .tmpfs, source: "", target: "/a"), M(kind: .volume, source: "v", target: "/a/.")], imageVolumes: [])
        }
        #expect(throws: StrataError.self) {
            try ContainerEngine.mounts([M(kind: .bind, source: "/nonexistent-\(UUID())", target: "/a")], imageVolumes: [])
        }
    }
}
