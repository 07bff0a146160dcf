import Foundation
import Testing
@testable import Runtime
import Archive
import ImageSpec
import ImageStore
import Snapshots

func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "strata-runtime-\(name)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A root filesystem with the files a test names.
func rootfs(_ files: [String: (String, Int)]) throws -> String {
    let root = temporaryDirectory("rootfs")
    for (path, (content, mode)) in files {
        let full = root + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try content.write(toFile: full, atomically: true, encoding: .utf8)
        chmod(full, mode_t(mode))
    }
    return root
}

let passwd = """
    root:x:0:0:root:/root:/bin/sh
    app:x:1000:1000:App:/home/app:/bin/sh
    nohome:x:1001:1001:::/bin/sh
    """
let group = """
    root:x:0:
    app:x:1000:
    audio:x:29:app
    video:x:44:app,other
    """

@Suite struct UsersTests {
    @Test(arguments: [
        ("", 0, 0, "/root", [UInt32]()),
        ("root", 0, 0, "/root", []),
        ("app", 1000, 1000, "/home/app", [29, 44]),
        ("1000", 1000, 1000, "/home/app", [29, 44]),
        ("app:audio", 1000, 29, "/home/app", [44]),
        ("1000:44", 1000, 44, "/home/app", [29]),
        ("4242", 4242, 0, "/", []),
        ("4242:7", 4242, 7, "/", []),
        ("nohome", 1001, 1001, "/", []),
    ])
    func resolvesThroughTheImagesOwnFiles(_ spec: String, _ uid: Int, _ gid: Int, _ home: String, _ extra: [UInt32]) throws {
        let root = try RootedDirectory(path: try rootfs(["/etc/passwd": (passwd, 0o644), "/etc/group": (group, 0o644)]))
        let resolved = try Users.resolve(spec, rootfs: root)
        #expect(resolved.user.uid == UInt32(uid) && resolved.user.gid == UInt32(gid) && resolved.home == home)
        #expect((resolved.user.additionalGids ?? []) == extra)
    }

    @Test(arguments: ["ghost", "app:ghosts", "ghost:0"])
    func unknownNamesAreClearErrors(_ spec: String) throws {
        let root = try RootedDirectory(path: try rootfs(["/etc/passwd": (passwd, 0o644), "/etc/group": (group, 0o644)]))
        #expect {
            _ = try Users.resolve(spec, rootfs: root)
        } throws: { error in
            let message = (error as? StrataError)?.message ?? ""
            return message.hasPrefix("unable to find user") || message.hasPrefix("unable to find group")
        }
    }

    /// An image whose /etc is a link to a host directory must not read the passwd there.
    @Test func anImageLinkNeverReadsTheHostsPasswd() throws {
        let host = temporaryDirectory("host-etc")
        try "hostonly:x:4321:4321::/host:/bin/sh\n".write(toFile: host + "/passwd", atomically: true, encoding: .utf8)
        let root = try rootfs(["/bin/sh": ("", 0o755)])
        try FileManager.default.createSymbolicLink(atPath: root + "/etc", withDestinationPath: host)
        #expect(throws: StrataError.self) { _ = try Users.resolve("hostonly", rootfs: try RootedDirectory(path: root)) }
        #expect(try Users.resolve("0", rootfs: try RootedDirectory(path: root)).home == "/")
    }
}

@Suite struct RuntimeSpecTests {
    let store = try! ImageStore(root: temporaryDirectory("store"))

    func engine() throws -> ContainerEngine {
        try ContainerEngine(store: store, driver: .copy, runtime: "/bin/true")
    }

    func container(_ args: [String], user: String = "", network: ContainerSpec.Network = .host, env: [String] = ["PATH=/bin"]) -> Container {
        Container(id: String(repeating: "c", count: 64), name: "test", imageID: Digest.sha256(of: [1]), imageName: "img", created: Date(),
                  driver: "copy",
                  spec: ContainerSpec(args: args, env: env, workingDir: "/", user: user, hostname: "cccccccccccc", network: network,
                                      autoRemove: false, stopSignal: "SIGTERM"),
                  state: .created, pid: 0, exitCode: nil, started: nil, finished: nil)
    }

    let files: [String: (String, Int)] = ["/bin/sh": ("#!", 0o755), "/bin/data": ("x", 0o644), "/etc/passwd": (passwd, 0o644),
                                          "/etc/group": (group, 0o644)]

    /// Docker's exit codes come from these codes, never from the message.
    @Test(arguments: [
        (["sh"], nil as StrataError.Code?),
        (["/bin/sh"], nil),
        (["nosuch"], .commandNotFound),
        (["/bin/nosuch"], .commandNotFound),
        (["/bin/data"], .commandNotExecutable),
    ])
    func theCommandIsCheckedBeforeTheRuntimeRuns(_ args: [String], _ code: StrataError.Code?) throws {
        let root = try rootfs(files)
        let dir = temporaryDirectory("bundle")
        do {
            _ = try engine().runtimeSpec(container(args), rootfs: root, directory: dir)
            #expect(code == nil)
        } catch let error as StrataError {
            #expect(error.code == code, "\(error.message)")
            #expect(error.message.hasPrefix("exec: \"\(args[0])\""))
        }
    }

    /// Limits reach the runtime spec as cgroup settings and rlimits, privileges as capabilities.
    @Test func limitsAndPrivilegesReachTheSpec() throws {
        let root = try rootfs(files)
        var c = container(["sh"])
        var host = HostConfig()
        host.memory = 32 << 20
        host.nanoCPUs = 500_000_000
        host.pidsLimit = 50
        host.ulimits = [HostConfig.Ulimit(name: "nofile", soft: 100, hard: 200), HostConfig.Ulimit(name: "nproc", soft: 10, hard: 10)]
        host.capDrop = ["CAP_CHOWN"]
        host.readOnlyRootfs = true
        host.noNewPrivileges = true
        c.spec.hostConfig = host
        let spec = try engine().runtimeSpec(c, rootfs: root, directory: temporaryDirectory("limits"))
        #expect(spec.linux.resources?.memory?.limit == 32 << 20)
        #expect(spec.linux.resources?.cpu?.quota == 50_000 && spec.linux.resources?.cpu?.period == 100_000)
        #expect(spec.linux.resources?.pids?.limit == 50)
        #expect(spec.process.rlimits?.map { "\($0.type)=\($0.soft):\($0.hard)" } == ["RLIMIT_NOFILE=100:200", "RLIMIT_NPROC=10:10"])
        #expect(spec.process.capabilities?.bounding.contains("CAP_CHOWN") == false)
        #expect(spec.root.readonly && spec.process.noNewPrivileges == true)

        host = HostConfig()
        host.privileged = true
        c.spec.hostConfig = host
        let privileged = try engine().runtimeSpec(c, rootfs: root, directory: temporaryDirectory("privileged"))
        #expect(privileged.process.capabilities?.effective == HostConfig.availableCapabilities)
        #expect(privileged.linux.maskedPaths.isEmpty && privileged.linux.readonlyPaths.isEmpty)
        #expect(privileged.mounts.first { $0.destination == "/sys" }?.options?.contains("ro") == false)
    }

    @Test func theSpecCarriesUserEnvironmentAndNamespaces() throws {
        let root = try rootfs(files)
        let dir = temporaryDirectory("bundle")
        let spec = try engine().runtimeSpec(container(["sh"], user: "app"), rootfs: root, directory: dir)
        #expect(spec.process.user.uid == 1000 && spec.process.user.gid == 1000)
        #expect(spec.process.env.contains("HOME=/home/app") && spec.process.env.contains("HOSTNAME=cccccccccccc"))
        // Not root: no effective capabilities, the bounding set stays Docker's default.
        #expect(spec.process.capabilities?.effective.isEmpty == true && spec.process.capabilities?.bounding.isEmpty == false)
        #expect(!spec.linux.namespaces.contains { $0.type == "network" })
        #expect(spec.mounts.contains { $0.destination == "/etc/resolv.conf" && $0.options == ["rbind", "ro"] })
        let isolated = try engine().runtimeSpec(container(["sh"], network: .none), rootfs: root, directory: dir)
        #expect(isolated.linux.namespaces.contains { $0.type == "network" })
        // Its own names still resolve: hosts, hostname and resolv.conf are there on every network.
        #expect(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].allSatisfy { name in isolated.mounts.contains { $0.destination == name } })
        // Encodes as the runtime spec's JSON.
        let json = try JSONSerialization.jsonObject(with: try JSONCoding.encoder.encode(spec)) as? [String: Any]
        #expect((json?["process"] as? [String: Any])?["args"] as? [String] == ["sh"])
        #expect((json?["root"] as? [String: Any])?["path"] as? String == root)
    }
}

@Suite struct ContainerRecordTests {
    @Test(arguments: [
        (["echo", "hello"], "echo hello"),
        (["sh", "-c", "echo out; exit 7"], "sh -c 'echo out; exit 7'"),
        (["printf", "it's"], "printf 'it'\\''s'"),
        (["true", ""], "true ''"),
    ])
    func theCommandIsShownAsPsShowsIt(_ args: [String], _ shown: String) {
        let c = Container(id: "x", name: "n", imageID: Digest.sha256(of: []), imageName: "i", created: Date(), driver: "copy",
                          spec: ContainerSpec(args: args, env: [], workingDir: "/", user: "", hostname: "h", network: .host,
                                              autoRemove: false, stopSignal: "SIGTERM"),
                          state: .created, pid: 0, exitCode: nil, started: nil, finished: nil)
        #expect(c.command == shown)
    }

    @Test(arguments: [("web", true), ("a1.b_c-d", true), ("x", false), ("-web", false), ("_web", false), ("we b", false), ("wéb", false)])
    func namesFollowDockersRule(_ name: String, _ valid: Bool) {
        #expect(ContainerNames.isValid(name) == valid)
    }

    /// Docker's json-file format: one record per line, each stream its own, a partial line kept until it ends.
    @Test func logsAreRecordedInDockersJSONFileFormat() throws {
        let path = temporaryDirectory("log") + "/container.log"
        let log = try ContainerLogWriter(path: path)
        func append(_ text: String, _ stream: String) { Array(text.utf8).withUnsafeBytes { log.append($0, stream: stream) } }
        append("one\ntw", "stdout")
        append("err \"quoted\"\n", "stderr")
        append("o\nlast", "stdout")
        log.close()
        let records = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(LogRecord.self, from: Data($0.utf8))
        }
        #expect(records.map(\.log) == ["one\n", "err \"quoted\"\n", "two\n", "last"])
        #expect(records.map(\.stream) == ["stdout", "stderr", "stdout", "stdout"])
    }
}
