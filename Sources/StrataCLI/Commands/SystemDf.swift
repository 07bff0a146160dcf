import ArgumentParser
import Foundation
import StrataEngine

/// `strata system df`: disk usage counted by unique layer.
struct SystemDf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "df", abstract: "Show disk usage.")

    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Show detailed information on space usage.") var verbose = false
    @Option(help: "Output: table (default), json, or a Go template.") var format: String?

    func run() async throws {
        let engine = try global.engine()
        let store = try engine.store
        let usage = try engine.diskUsage()
        let local = try engine.containerUsage()
        let now = Date()
        func reclaimable(_ bytes: Int64, of total: Int64) -> String {
            let pct = total > 0 ? Int((Double(bytes) * 100 / Double(total)).rounded(.down)) : 0
            return total > 0 ? "\(Units.humanSize(bytes, precision: 4)) (\(pct)%)" : Units.humanSize(bytes, precision: 4)
        }
        if verbose {
            var out = "Images space usage:\n\n"
            var table = Table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"])
            let sorted = usage.images.sorted { ($0.image.created ?? $0.image.added) > ($1.image.created ?? $1.image.added) }
            for u in sorted {
                let tags = try store.tags(of: u.image.id)
                let names = tags.isEmpty ? [("<none>", "<none>")] : tags.map { ($0.familiarName, $0.tag ?? "<none>") }
                for (repo, tag) in names {
                    table.append([repo, tag, u.image.id.short, Units.ago(u.image.created, now: now), Units.humanSize(u.size),
                                  Units.humanSize(u.sharedSize, precision: 4), Units.humanSize(u.uniqueSize, precision: 4),
                                  String(u.containers)])
                }
            }
            out += table.render()
            out += "\nContainers space usage:\n\n"
            var containers = Table(["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"])
            for (c, size) in local.containers {
                let volumes = (c.spec.volumes ?? []).filter { $0.kind == .volume }.count
                containers.append([c.shortID, c.imageName, c.quotedCommand(), String(volumes), Units.humanSize(size),
                                   Units.ago(c.created, now: now), c.status(now: now), c.name])
            }
            out += containers.render()
            out += "\nLocal Volumes space usage:\n\n"
            var volumes = Table(["VOLUME NAME", "LINKS", "SIZE"])
            for (v, links, size) in local.volumes { volumes.append([v.name, String(links), Units.humanSize(size, precision: 4)]) }
            out += volumes.render()
            out += "\nBuild cache usage: 0B\n\n"
            out += Table(["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"]).render()
            emit(out)
            return
        }
        let containerSize = local.containers.reduce(0) { $0 + $1.size }
        let stoppedSize = local.containers.filter { $0.container.state != .running }.reduce(0) { $0 + $1.size }
        let volumeSize = local.volumes.reduce(0) { $0 + $1.size }
        let unusedVolumeSize = local.volumes.filter { $0.links == 0 }.reduce(0) { $0 + $1.size }
        // Docker's summary sizes have four significant digits (`units.HumanSize`), its tables three.
        let rows: [[String]] = [
            ["Images", String(usage.images.count), String(usage.activeImages), Units.humanSize(usage.totalSize, precision: 4),
             reclaimable(usage.reclaimable, of: usage.totalSize)],
            ["Containers", String(local.containers.count), String(local.containers.filter { $0.container.state == .running }.count),
             Units.humanSize(containerSize, precision: 4), reclaimable(stoppedSize, of: containerSize)],
            ["Local Volumes", String(local.volumes.count), String(local.volumes.filter { $0.links > 0 }.count),
             Units.humanSize(volumeSize, precision: 4), reclaimable(unusedVolumeSize, of: volumeSize)],
            ["Build Cache", "0", "0", "0B", "0B"],
        ]
        let json = rows.map { r -> JSONValue in
            .object(["Type": .string(r[0]), "TotalCount": .string(r[1]), "Active": .string(r[2]),
                     "Size": .string(r[3]), "Reclaimable": .string(r[4])])
        }
        let headers = ["Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"]
        emit(try OutputFormat(format).render(json, headers: headers) {
            var table = Table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"])
            for r in rows { table.append(r) }
            return table.render()
        })
    }
}
