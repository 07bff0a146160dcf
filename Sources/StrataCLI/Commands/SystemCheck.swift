import ArgumentParser
import Foundation
import ContentStore
import StrataEngine

/// `strata system check`: the store checked end to end, in plain words; exit 0 clean, 1 repaired,
/// 2 damage left (fsck's convention).
struct SystemCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the store: blobs against their digests, records against their blobs, snapshots, containers and leftovers.",
        discussion: "Exit status: 0 clean, 1 damage found and repaired, 2 damage left. Leftovers of killed processes are listed and removed by --repair, but do not make a store unclean.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Remove leftovers, set damaged blobs aside (the next pull or load fetches them again), remove snapshots that can be unpacked again.")
    var repair = false
    @Flag(help: "Also unpack every layer afresh and compare it with its stored snapshot.") var deep = false
    @Option(help: "Output: text (default) or json.") var format: String?

    func run() async throws {
        guard format == nil || format == "json" || format == "text" else {
            throw StrataError(.invalidArgument, "invalid --format \"\(format!)\": text or json")
        }
        let report = try global.engine().checkStore(.init(repair: repair, deep: deep))
        emit(format == "json" ? try Self.json(report) : Self.text(report))
        if report.outcome != .clean { throw ExitCode(report.outcome.exitCode) }
    }

    static func text(_ report: StoreCheckReport) -> String {
        let c = report.checked
        let summary = "Checked \(counted(c.blobs, "blob")), \(counted(c.images, "image")), \(counted(c.snapshots, "snapshot")) and "
            + "\(counted(c.containers, "container")) in \(report.root)" + (report.deep ? ", each snapshot against its layer" : "") + "."
        return render(report, summary: summary, subject: "store", repairCommand: "strata system check --repair")
    }

    static func counted(_ n: Int, _ noun: String, plural: String? = nil) -> String { "\(n) \(n == 1 ? noun : plural ?? noun + "s")" }

    /// The findings, damage first, each with what was or can be done; then the verdict. Shared by
    /// `system check` and `registry check`.
    static func render(_ report: StoreCheckReport, summary: String, subject: String, repairCommand: String) -> String {
        var out = summary + "\n"
        for f in report.findings.sorted(by: { ($0.kind.isDamage ? 0 : 1, $0.kind.rawValue) < ($1.kind.isDamage ? 0 : 1, $1.kind.rawValue) }) {
            out += "\(f.kind.isDamage ? "damaged " : "leftover") \(f.kind.rawValue) \(f.subject): \(f.problem)\n"
            out += "         \(f.repaired ? "repaired: " : "→ ")\(f.action)\n"
        }
        let damage = report.findings.filter(\.kind.isDamage)
        let leftovers = report.findings.count - damage.count
        switch report.outcome {
        case .clean:
            out += leftovers == 0 ? "The \(subject) is clean.\n"
                : "The \(subject) is clean; \(leftovers) leftover\(leftovers == 1 ? "" : "s") of killed processes \(report.repair ? "removed" : "can be removed with --repair").\n"
        case .repaired:
            out += "The \(subject) was damaged and is repaired: \(damage.count) problem\(damage.count == 1 ? "" : "s") dealt with.\n"
        case .damaged:
            let left = damage.filter { !$0.repaired }
            out += "The \(subject) is damaged: \(left.count) problem\(left.count == 1 ? "" : "s") left"
                + (!report.repair && left.contains(where: \.repairable) ? "; run `\(repairCommand)`.\n" : "; see what each one needs above.\n")
        }
        return out
    }

    static func json(_ report: StoreCheckReport) throws -> String {
        let c = report.checked
        return try json(report, checked: ["Blobs": c.blobs, "Images": c.images, "Snapshots": c.snapshots, "Containers": c.containers])
    }

    static func json(_ report: StoreCheckReport, checked: [String: Int]) throws -> String {
        let findings: [JSONValue] = report.findings.map { f in
            .object(["Kind": .string(f.kind.rawValue), "Damage": .bool(f.kind.isDamage), "Subject": .string(f.subject),
                     "Problem": .string(f.problem), "Action": .string(f.action), "Repaired": .bool(f.repaired), "Repairable": .bool(f.repairable)])
        }
        let document = JSONValue.object([
            "Root": .string(report.root), "Outcome": .string(report.outcome.rawValue), "Repair": .bool(report.repair), "Deep": .bool(report.deep),
            "Checked": .object(checked.mapValues { .int(Int64($0)) }),
            "Findings": .array(findings),
        ])
        return try GoTemplate("{{json .}}").render(document) + "\n"
    }
}
