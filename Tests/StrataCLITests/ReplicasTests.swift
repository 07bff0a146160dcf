import Foundation
import PostgresMetadata
import RegistryTestSupport
import Testing

/// Three `registry serve` replicas over one bucket (Ceph's RADOS Gateway) and one PostgreSQL
/// database, behind Debian's nginx on loopback as the load balancer: what a team runs when the
/// registry outgrows one machine.
final class ReplicatedRegistry {
    let replicas: [StrataRegistry]
    let config: String
    let nginx: Daemon
    let port: Int
    let database: PostgresURL
    /// nginx's error log: where it says a replica failed it.
    let balancerLog: String
    var host: String { "127.0.0.1:\(port)" }

    static var available: Bool {
        RadosGateway.installed && TestPostgres.installed && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    }

    init(replicas count: Int = 3) async throws {
        let gateway = try await RadosGateway.shared()
        let bucket = try await gateway.client()
        database = try await TestPostgres.shared().database()
        let config = try registryConfig(gateway, bucket, database: database)
        self.config = config
        replicas = try (0..<count).map { _ in try StrataRegistry(["--config", config]) }
        let (nginx, port, log) = try Self.balancer(replicas.map(\.port))
        self.nginx = nginx
        self.port = port
        balancerLog = log
    }

    /// nginx in front, round robin, streaming bodies both ways (no buffering: a PATCH reaches its
    /// replica as it is sent), any body size; a replica that refuses a connection is skipped.
    static func balancer(_ ports: [Int]) throws -> (Daemon, Int, String) {
        let dir = CLI.temporaryDirectory("nginx")
        let port = try freeLoopbackPort()
        try """
            worker_processes 1;
            daemon off;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log \(dir)/access.log;
                client_body_temp_path \(dir)/body;
                proxy_temp_path \(dir)/proxy;
                fastcgi_temp_path \(dir)/fastcgi;
                uwsgi_temp_path \(dir)/uwsgi;
                scgi_temp_path \(dir)/scgi;
                upstream registry {
            \(ports.map { "        server 127.0.0.1:\($0) max_fails=1 fail_timeout=60s;" }.joined(separator: "\n"))
                }
                server {
                    listen 127.0.0.1:\(port);
                    client_max_body_size 0;
                    location / {
                        proxy_pass http://registry;
                        proxy_http_version 1.1;
                        proxy_set_header Host $http_host;
                        proxy_set_header Connection "";
                        proxy_request_buffering off;
                        proxy_buffering off;
                        proxy_read_timeout 600s;
                        proxy_next_upstream error timeout http_502;
                    }
                }
            }
            """.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = try Daemon("/usr/sbin/nginx", ["-c", "\(dir)/nginx.conf", "-p", dir, "-e", "\(dir)/error.log"], log: "\(dir).log")
        try nginx.wait(30) { try CLI.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v2/"]).stdout == "200" }
        return (nginx, port, "\(dir)/error.log")
    }

    /// Rows of the shared database.
    func count(_ table: String) throws -> Int64 {
        try PostgreSQLDatabase(database).query("SELECT count(*) FROM \(table)").first?.int(0) ?? -1
    }
}

@Suite(.blocking, .serialized, .enabled(if: ReplicatedRegistry.available, "needs radosgw, PostgreSQL and nginx (make deps installs them)"))
struct ReplicasTests {
    /// A root filesystem with `megabytes` of random bytes beside busybox: a layer that takes a while to push.
    static func bigRootfs(megabytes: Int) throws -> String {
        let root = try CLI.busyboxRootfs()
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(megabytes << 20) / 8).map { _ in generator.next() as UInt64 }
        try bytes.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: "\(root)/random.bin")) }
        return root
    }

    @Test func strataSkopeoAndDockerPushAndPullThroughTheBalancer() async throws {
        let cluster = try await ReplicatedRegistry()
        let a = Client(), b = Client()
        let name = "\(cluster.host)/demo/app:1"
        try a.importBusybox(name)
        let push = try a.strata(["push", name])
        #expect(push.status == 0, "\(push.stderr)")
        let pull = try b.strata(["pull", name])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try a.layers(name) == b.layers(name))

        if CLI.which("skopeo") != nil {
            let archive = CLI.temporaryDirectory("oci") + ".tar"
            #expect(try a.strata(["save", "--format", "oci", "-o", archive, name]).status == 0)
            let copy = try skopeo(["copy", "--dest-tls-verify=false", "oci-archive:\(archive)", "docker://\(cluster.host)/skopeo/app:2"])
            #expect(copy.status == 0, "\(copy.stderr)")
            #expect(try b.strata(["pull", "\(cluster.host)/skopeo/app:2"]).status == 0)
        }
        if Daemon.dockerAvailable {
            let (dockerd, docker) = try Daemon.dockerd(insecureRegistry: cluster.host)
            let client = CLI.which("docker")!
            #expect(try CLI.run(client, docker + ["pull", name]).status == 0)
            #expect(try CLI.run(client, docker + ["tag", name, "\(cluster.host)/docker/app:3"]).status == 0)
            let dockerPush = try CLI.run(client, docker + ["push", "\(cluster.host)/docker/app:3"])
            #expect(dockerPush.status == 0, "\(dockerPush.stderr)")
            #expect(try Client().strata(["pull", "\(cluster.host)/docker/app:3"]).status == 0)
            withExtendedLifetime(dockerd) {}
        }
        // Round robin: every replica answered some of it.
        for replica in cluster.replicas { #expect(!replica.accessLog.isEmpty, "replica \(replica.host) served nothing") }
        for replica in cluster.replicas { #expect(replica.stop() == 0) }
    }

    /// SIGKILL to a replica while a chunked push is under way: the client's retry of the chunk it
    /// was sending goes to another replica, which knows the session from the database, and the
    /// image pulls back with the pushed digest.
    @Test func aReplicaKilledMidChunkedUploadLosesNothing() async throws {
        let cluster = try await ReplicatedRegistry()
        let a = Client()
        let name = "\(cluster.host)/big/app:1"
        let imported = try a.strata(["import", "-c", "CMD [\"/bin/sh\"]", try Self.bigRootfs(megabytes: 48), name])
        #expect(imported.status == 0, "\(imported.stderr)")

        let push = Process()
        push.executableURL = URL(fileURLWithPath: CLI.binary)
        push.arguments = ["--root", a.root, "push", "--chunk-size", "\(2 << 20)", name]
        push.environment = ProcessInfo.processInfo.environment.merging(["DOCKER_CONFIG": a.config]) { _, new in new }
        let log = CLI.temporaryDirectory("push") + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        push.standardOutput = output
        push.standardError = output
        try push.run()
        // Killed once some chunks are in and more are to come.
        var chunks: Int64 = 0
        for _ in 0..<600 where chunks < 3 && push.isRunning {
            usleep(20_000)
            chunks = (try? cluster.count("upload_chunks")) ?? 0
        }
        #expect(chunks >= 3, "the push ended before it was under way: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let victim = cluster.replicas[0]
        kill(victim.process.processIdentifier, SIGKILL)
        push.waitUntilExit()
        let pushed = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(push.terminationStatus == 0, "\(pushed)")

        let digest = pushed.split(separator: "\n").last?.split(separator: " ").dropFirst(2).first.map(String.init) ?? "?"
        let b = Client()
        let pull = try b.strata(["pull", name])
        #expect(pull.status == 0 && pull.lines.contains("Digest: \(digest)"), "\(pull.stdout)\(pull.stderr)")
        #expect(try a.layers(name) == b.layers(name))
        #expect(try cluster.count("uploads") == 0 && cluster.count("upload_chunks") == 0)
        // The balancer met the dead replica and sent its requests elsewhere.
        let balancer = (try? String(contentsOfFile: cluster.balancerLog, encoding: .utf8)) ?? ""
        #expect(balancer.contains("127.0.0.1:\(victim.port)"), "\(balancer.suffix(2000))")
        for replica in cluster.replicas.dropFirst() { #expect(replica.stop() == 0) }
    }

    /// Collections, one replica at a time by the database's lock, while pushes go through all three.
    @Test func garbageCollectionRunsWhilePushesGoThroughAllThree() async throws {
        let cluster = try await ReplicatedRegistry()
        let stop = Flag()
        let collections = Counter()
        let config = cluster.config, root = cluster.replicas[1].root
        let collector = Thread {
            while !stop.value {
                let gc = try? CLI.run(CLI.binary, ["registry", "gc", "--config", config, "--root", root, "--grace", "10s"])
                if gc?.status == 0 { collections.add() } else { collections.fail(gc?.stderr ?? "did not run") }
            }
        }
        collector.start()
        var pushed: [(Client, String)] = []
        for i in 0..<4 {
            let client = Client()
            let name = "\(cluster.host)/gc/app\(i):1"
            try client.importBusybox(name)
            let push = try client.strata(["push", name])
            #expect(push.status == 0, "\(push.stderr)")
            pushed.append((client, name))
        }
        stop.value = true
        while collector.isExecuting { usleep(50_000) }
        #expect(collections.count >= 2 && collections.failures.isEmpty, "\(collections.failures)")
        for (client, name) in pushed {
            let other = Client()
            #expect(try other.strata(["pull", name]).status == 0)
            #expect(try other.layers(name) == client.layers(name))
        }
        for replica in cluster.replicas { #expect(replica.stop() == 0) }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var runs = 0
    private var failed: [String] = []
    var count: Int { lock.withLock { runs } }
    var failures: [String] { lock.withLock { failed } }
    func add() { lock.withLock { runs += 1 } }
    func fail(_ why: String) { lock.withLock { failed.append(why) } }
}
