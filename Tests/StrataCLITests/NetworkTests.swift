import Foundation
import RegistryTestSupport
import Testing

/// The bridge network, Docker's default: an address per container, published ports reached
/// from the host on loopback and on the bridge, and nothing left after the container.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0
                             && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge")))
struct NetworkTests {
    let root = CLI.temporaryDirectory("network")

    func strata(_ args: [String]) throws -> CLI.Result { try CLI.run(CLI.binary, ["--root", root] + args) }

    func image() throws {
        let tree = try CLI.busyboxRootfs()
        try FileManager.default.createDirectory(atPath: "\(tree)/www", withIntermediateDirectories: true)
        try Data("served from a container\n".utf8).write(to: URL(fileURLWithPath: "\(tree)/www/index.html"))
        let r = try strata(["import", "-c", "EXPOSE 80", tree, "web:1"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// The host's network state a container may leave behind: its namespace (and the veth in it),
    /// its address lease, its port rules.
    func leftovers(_ id: String) throws -> [String] {
        let netns = try CLI.run("/usr/sbin/ip", ["netns", "list"]).stdout
        let rules = try CLI.run("/usr/sbin/iptables-save", []).stdout
        let leases = (try? FileManager.default.contentsOfDirectory(atPath: "/run/strata/cni/strata")) ?? []
        var found: [String] = []
        if netns.contains("strata-\(id.prefix(12))") { found.append("netns") }
        if rules.contains(id) { found.append("iptables rule") }
        for lease in leases where lease.hasPrefix("10.") {
            if let owner = try? String(contentsOfFile: "/run/strata/cni/strata/\(lease)", encoding: .utf8), owner.contains(id) { found.append("lease \(lease)") }
        }
        return found
    }

    func fetch(_ url: String) throws -> CLI.Result {
        try CLI.run("/usr/bin/curl", ["-s", "-m", "5", "--retry", "20", "--retry-connrefused", "--retry-delay", "0", url])
    }

    @Test func aPublishedPortIsServedOnLoopbackAndTheBridge() throws {
        try image()
        let port = 20_000 + Int.random(in: 0..<10_000)
        let run = try strata(["run", "-d", "--name", "web", "-p", "127.0.0.1:\(port):80", "web:1", "sh", "-c", "httpd -f -p 80 -h /www"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? strata(["rm", "-f", "web"]) }
        #expect(try fetch("http://127.0.0.1:\(port)/index.html").stdout == "served from a container\n")
        let address = try strata(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(address.hasPrefix("10.77."), "\(address)")
        #expect(try fetch("http://\(address)/index.html").stdout == "served from a container\n")
        #expect(try strata(["port", "web"]).stdout == "80/tcp -> 127.0.0.1:\(port)\n")
        #expect(try strata(["ps"]).stdout.contains("127.0.0.1:\(port)->80/tcp"))
        // The container's own names and the bridge's gateway.
        let inside = try strata(["exec", "web", "sh", "-c", "tail -1 /etc/hosts; ip route | grep default"])
        #expect(inside.stdout.hasPrefix("\(address)\t\(id.prefix(12))\ndefault via 10.77.0.1"), "\(inside.stdout) \(inside.stderr)")

        // The same host port again is refused, and makes nothing.
        let again = try strata(["run", "--rm", "-p", "127.0.0.1:\(port):80", "web:1", "true"])
        #expect(again.status == 125 && again.stderr.contains("port is already allocated"), "\(again.stderr)")

        #expect(try strata(["rm", "-f", "web"]).status == 0)
        #expect(try leftovers(id) == [])
        #expect(try CLI.run("/usr/bin/curl", ["-s", "-m", "2", "http://127.0.0.1:\(port)/"]).status != 0)
    }

    @Test func dashBigPPicksAFreePortAndEachRunGetsItsOwnAddress() throws {
        try image()
        let run = try strata(["run", "-d", "--name", "any", "-P", "web:1", "sh", "-c", "httpd -f -p 80 -h /www"])
        #expect(run.status == 0, "\(run.stderr)")
        defer { _ = try? strata(["rm", "-f", "any"]) }
        let line = try strata(["port", "any", "80"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("0.0.0.0:"), "\(line)")
        #expect(try fetch("http://127.0.0.1:\(line.split(separator: ":").last!)/index.html").stdout == "served from a container\n")
        let a = try strata(["run", "--rm", "web:1", "sh", "-c", "ip -4 -o addr show eth0"]).stdout
        #expect(a.contains("inet 10.77."), "\(a)")
        // Out to the bridge's gateway (the host) and back: the container's route works.
        #expect(try strata(["run", "--rm", "web:1", "sh", "-c", "ping -c1 -W2 10.77.0.1 >/dev/null && echo reached"]).stdout == "reached\n")
    }

    /// Out through the host with its address (the network's MASQUERADE rule): a peer in a
    /// namespace of the test's own, with no route back to the bridge's subnet, sees the host's
    /// address on its link and answers it.
    @Test(.enabled(if: CLI.which("python3") != nil))
    func outboundTrafficLeavesWithTheHostsAddress() throws {
        try image()
        let outside = "strata-test-out", hostEnd = "strata-tout0"
        func ip(_ args: [String]) throws { _ = try CLI.run("/usr/sbin/ip", args) }
        try ip(["netns", "delete", outside])
        try ip(["netns", "add", outside])
        defer { _ = try? ip(["netns", "delete", outside]); _ = try? ip(["link", "delete", hostEnd]) }
        try ip(["link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", outside])
        try ip(["addr", "add", "10.231.0.1/30", "dev", hostEnd])
        try ip(["link", "set", hostEnd, "up"])
        try ip(["netns", "exec", outside, "ip", "addr", "add", "10.231.0.2/30", "dev", "eth0"])
        try ip(["netns", "exec", outside, "ip", "link", "set", "eth0", "up"])
        // The peer tells each caller the address it came from.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", outside, "python3", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.231.0.2", 9000)); s.listen()
            while True:
                c, a = s.accept(); c.sendall((a[0] + "\\n").encode()); c.close()
            """]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the test process may pass on an ignored SIGTERM.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let seen = try strata(["run", "--rm", "web:1", "sh", "-c",
                               "for i in $(seq 50); do nc -w 2 10.231.0.2 9000 </dev/null | grep . && break; sleep 0.1; done"])
        #expect(seen.stdout == "10.231.0.1\n", "\(seen.stdout) \(seen.stderr)")
    }

    /// Two containers on one network of the user's reach each other by name; a network with a
    /// container on it stays; nothing of it is left after.
    @Test func containersOnAUserNetworkReachEachOtherByName() throws {
        try image()
        let created = try strata(["network", "create", "backend"])
        #expect(created.status == 0 && created.stdout.count == 65, "\(created.stderr)")
        #expect(try strata(["network", "create", "backend"]).stderr.contains("network with name backend already exists"))
        #expect(try strata(["network", "create", "--label", "=x", "labelled"]).stderr.contains("invalid label '=x': empty name"))
        let ls = try strata(["network", "ls"]).stdout.split(separator: "\n").map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
        #expect(ls == ["ID NAME DRIVER SCOPE", "bridge bridge local", "host host local", "none null local", "backend bridge local"], "\(ls)")
        let subnet = try strata(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "backend"]).stdout
        #expect(subnet.hasPrefix("10.") && subnet.hasSuffix(".0.0/16\n") && subnet != "10.77.0.0/16\n", "\(subnet)")

        #expect(try strata(["run", "-d", "--name", "db", "--network", "backend", "web:1", "sh", "-c", "httpd -f -p 80 -h /www"]).status == 0)
        defer { _ = try? strata(["rm", "-f", "db", "app", "cache"]) }
        let app = try strata(["run", "--name", "app", "--network", "backend", "--add-host", "registry.local:10.1.2.3", "--dns", "10.9.9.9",
                              "web:1", "sh", "-c",
                              // db's address as /etc/hosts names it, through nc (the static busybox's wget and name lookups
                              // go through glibc's NSS, which a static binary cannot load), until db's httpd listens.
                              "db=$(awk '$2 == \"db\" {print $1}' /etc/hosts); for i in $(seq 100); do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $db 80 | tail -1 | grep . && break; sleep 0.1; done; grep registry.local /etc/hosts; cat /etc/resolv.conf"])
        #expect(app.stdout == "served from a container\n10.1.2.3\tregistry.local\nnameserver 10.9.9.9\n", "\(app.stdout) \(app.stderr)")
        // And back: a running container learns of one that starts after it, and of its going.
        #expect(try strata(["run", "-d", "--name", "cache", "--network", "backend", "web:1", "sleep", "300"]).status == 0)
        #expect(try strata(["exec", "db", "sh", "-c", "grep -c '\tcache ' /etc/hosts"]).stdout == "1\n")
        #expect(try strata(["rm", "-f", "cache"]).status == 0)
        #expect(try strata(["exec", "db", "sh", "-c", "grep -c '\tcache ' /etc/hosts"]).stdout == "0\n")
        let busy = try strata(["network", "rm", "backend"])
        #expect(busy.status != 0 && busy.stderr.contains("has active endpoints"), "\(busy.stderr)")
        #expect(try strata(["rm", "-f", "db", "app"]).status == 0)
        #expect(try strata(["network", "rm", "backend"]).stdout == "backend\n")
        let bridge = "strata-\(created.stdout.prefix(8))"
        #expect(try CLI.run("/usr/sbin/ip", ["link", "show", bridge]).status != 0, "the network's bridge \(bridge) is gone")
        let missing = try strata(["run", "--rm", "--network", "backend", "web:1", "true"])
        #expect(missing.status == 125 && missing.stderr.contains("network backend not found"), "\(missing.stderr)")
    }

    @Test func badPortsAreRefused() throws {
        try image()
        let cases: [(args: [String], message: String)] = [
            (["-p", "99999:80"], "Invalid hostPort: 99999"),
            (["-p", "80/sctp"], "Invalid proto: sctp"),
            (["-p", "300.1.1.1:80:80"], "Invalid ip address: 300.1.1.1"),
            (["-p", "8000-8001:80-81"], "port ranges are not published yet"),
            (["--network", "host", "-p", "8080:80"], "published ports need the bridge network"),
            (["--add-host", "nocolon"], "for \"--add-host\" flag"),
            (["--dns", "not-an-ip"], "is not an IPv4 address"),
        ]
        for c in cases {
            let r = try strata(["run", "--rm"] + c.args + ["web:1", "true"])
            #expect(r.status == 125 && r.stderr.contains(c.message), "\(c.args): \(r.status) \(r.stderr)")
        }
        #expect(try strata(["ps", "-a", "-q"]).stdout == "")
    }
}
