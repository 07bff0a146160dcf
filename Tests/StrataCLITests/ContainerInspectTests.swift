import Foundation
import RegistryTestSupport
import Testing

/// `inspect` of a container: Docker's keys, and what the container was made with.
@Suite(.blocking, .serialized, .enabled(if: CLI.which("runc") != nil && getuid() == 0))
struct ContainerInspectTests {
    let root = CLI.temporaryDirectory("container-inspect")

    func strata(_ args: [String]) throws -> CLI.Result { try CLI.run(CLI.binary, ["--root", root] + args) }

    @Test func dockersKeysAndWhatTheContainerWasMadeWith() throws {
        #expect(try strata(["import", "-c", "CMD [\"sh\"]", "-c", "LABEL tier=web", try CLI.busyboxRootfs(), "box:1"]).status == 0)
        let host = CLI.temporaryDirectory("inspect-bind")
        #expect(try strata(["run", "--name", "web", "-e", "A=1", "-m", "64m", "--cap-add", "NET_ADMIN", "--read-only",
                            "-v", "data:/data", "-v", "\(host):/mnt:ro", "--tmpfs", "/run:size=1m", "box:1", "sh", "-c", "exit 3"]).status == 3)
        let r = try strata(["container", "inspect", "web"])
        #expect(r.status == 0, "\(r.stderr)")
        let all = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        let c = try #require(all?.first)
        // Docker's top-level keys, in its order.
        let keys = ["Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath",
                    "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs",
                    "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings"]
        #expect(Set(c.keys) == Set(keys))
        let order = keys.compactMap { r.stdout.range(of: "\n        \"\($0)\":")?.lowerBound }
        #expect(order.count == keys.count && order == order.sorted(), "keys in Docker's order")
        #expect(c["Name"] as? String == "/web" && c["Path"] as? String == "sh" && c["Args"] as? [String] == ["-c", "exit 3"])
        let state = try #require(c["State"] as? [String: Any])
        #expect(state["Status"] as? String == "exited" && state["ExitCode"] as? Int == 3 && state["Running"] as? Bool == false)
        let hostConfig = try #require(c["HostConfig"] as? [String: Any])
        #expect(hostConfig["Memory"] as? Int == 64 << 20 && hostConfig["ReadonlyRootfs"] as? Bool == true)
        #expect(hostConfig["CapAdd"] as? [String] == ["CAP_NET_ADMIN"])
        #expect(hostConfig["Binds"] as? [String] == ["data:/data", "\(host):/mnt:ro"])
        #expect(hostConfig["Tmpfs"] as? [String: String] == ["/run": "size=1m"])
        let mounts = try #require(c["Mounts"] as? [[String: Any]])
        #expect(mounts.map { $0["Type"] as? String } == ["volume", "bind"])
        #expect(mounts[0]["Name"] as? String == "data" && mounts[1]["RW"] as? Bool == false)
        let config = try #require(c["Config"] as? [String: Any])
        #expect(config["Cmd"] as? [String] == ["sh", "-c", "exit 3"] && config["Image"] as? String == "box:1")
        #expect(config["Labels"] as? [String: String] == ["tier": "web"] && (config["Env"] as? [String])?.contains("A=1") == true)

        // Templates, `inspect` finding containers before images, and the errors.
        #expect(try strata(["inspect", "-f", "{{.State.Status}} {{.HostConfig.NetworkMode}}", "web"]).stdout == "exited bridge\n")
        #expect(try strata(["inspect", "--type", "image", "-f", "{{.Id}}", "box:1"]).stdout.hasPrefix("sha256:"))
        let missing = try strata(["container", "inspect", "web", "ghost"])
        #expect(missing.status != 0 && missing.stderr.contains("No such container: ghost"), "\(missing.stderr)")
        #expect(try strata(["inspect", "--type", "volume", "web"]).status != 0)
    }
}
