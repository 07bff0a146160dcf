import ArgumentParser
import Foundation
import StrataEngine

/// How progress is shown: `auto` draws bars on a terminal and plain lines otherwise.
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, plain, tty
    /// One JSON object per line, in the Docker Engine API's progress-message shape
    /// (`{"status":…,"id":…,"progressDetail":{"current":…,"total":…}}`), for programs to read.
    case json
}

/// Per-layer progress in Docker's words. On a terminal: one live line per layer, redrawn in
/// place, with bars; otherwise plain lines, one per change, as `docker pull` prints into a pipe;
/// or Docker API JSON messages, one per line.
final class TransferProgress: @unchecked Sendable {
    enum Mode { case pull, push, copy }

    let mode: Mode
    let live: Bool
    let json: Bool
    let quiet: Bool
    private let lock = NSLock()
    private var ids: [String] = []
    private var order: [Int] = []
    private var lines: [Int: String] = [:]
    private var announced: Set<Int> = []
    private var drawn = 0
    private var lastDraw = Date.distantPast
    /// Printed before the first other output: an error before anything moved prints alone, as Docker's does.
    private var header: (status: String, id: String?)?

    private let fd: Int32

    init(mode: Mode, style: ProgressStyle = .auto, quiet: Bool, toStandardError: Bool = false) {
        self.mode = mode
        self.quiet = quiet
        fd = toStandardError ? 2 : 1
        json = style == .json
        live = !quiet && (style == .tty || (style == .auto && isatty(fd) != 0))
    }

    private func emit(_ text: String) {
        (fd == 2 ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
    }

    /// A line outside the layer list (Digest:, Status:); `id` prefixes it as `ID: status`.
    func line(_ status: String, id: String? = nil) {
        guard !quiet else { return }
        lock.withLock {
            flushHeader()
            finishLive()
            message(status, id: id)
        }
    }

    /// The first line, held back until something else is printed.
    func setHeader(_ status: String, id: String? = nil) {
        lock.withLock { header = (status, id) }
    }

    private func flushHeader() {
        if let header { message(header.status, id: header.id) }
        header = nil
    }

    /// One message: a plain line, or a Docker API JSON message.
    private func message(_ status: String, id: String?, current: Int64? = nil, total: Int64? = nil, bar: String? = nil) {
        guard json else {
            emit((id.map { "\($0): " } ?? "") + status + "\n")
            return
        }
        var fields: [(String, OrderedJSON)] = [("status", .string(status))]
        if let current {
            var detail: [(String, OrderedJSON)] = [("current", .int(current))]
            if let total { detail.append(("total", .int(total))) }
            fields.append(("progressDetail", .object(detail)))
        } else if id != nil {
            fields.append(("progressDetail", .object([])))
        }
        if let bar { fields.append(("progress", .string(bar))) }
        if let id { fields.append(("id", .string(id))) }
        emit(OrderedJSON.object(fields).compact() + "\n")
    }

    func handle(_ event: TransferEvent) {
        guard !quiet else { return }
        lock.withLock {
            flushHeader()
            switch event {
            case .plan(let layers, let diffIDs):
                // A pull names layers by blob digest; a push by diff ID, top layer first — as Docker does.
                ids = mode == .pull ? layers.map { $0.digest.encoded.prefix(12).description }
                                    : diffIDs.map { $0.encoded.prefix(12).description }
                order = mode == .pull ? Array(layers.indices) : Array(layers.indices.reversed())
                if mode != .pull { for i in order { set(i, "Preparing") } }
            case .layer(let i, let state):
                guard i < ids.count else { return }
                update(i, state)
            }
            if live { redraw() }
        }
    }

    private func update(_ i: Int, _ state: LayerState) {
        switch (mode, state) {
        case (.pull, .present): set(i, "Already exists")
        case (.push, .present): set(i, "Layer already exists")
        case (.copy, .present): set(i, "Already exists")
        case (.copy, .waiting): set(i, "Waiting")
        case (.copy, .started): if live { set(i, "Copying") }
        case (.copy, .verifying), (.copy, .transferred): break
        case (.copy, .complete): set(i, "Copied")
        case (.pull, .waiting):
            set(i, "Pulling fs layer")
            set(i, "Waiting")
        case (.push, .waiting): set(i, "Waiting")
        case (.pull, .started): if !announced.contains(i) { set(i, "Pulling fs layer") }
        case (.push, .started): if live { set(i, "Pushing") }
        case (_, .progress(let done, let total)):
            let verb = mode == .pull ? "Downloading" : mode == .push ? "Pushing" : "Copying"
            if live { set(i, "\(verb) \(Self.bar(done, total))", plain: false) }
            if json { message(verb, id: ids[i], current: done, total: total, bar: Self.bar(done, total)) }
        case (.pull, .verifying): set(i, "Verifying Checksum")
        case (.pull, .transferred): set(i, "Download complete")
        case (.push, .verifying), (.push, .transferred): break
        case (_, .mounted(let from)): set(i, "Mounted from \(from)")
        case (.pull, .complete): set(i, "Pull complete")
        case (.push, .complete): set(i, "Pushed")
        }
    }

    /// Records a layer's status; without a terminal, prints it as a line.
    private func set(_ i: Int, _ status: String, plain: Bool = true) {
        announced.insert(i)
        lines[i] = status
        if !live, plain { message(status, id: ids[i]) }
    }

    /// `[=====>      ]  12.3MB/45.6MB`, as Docker's progress bars.
    static func bar(_ done: Int64, _ total: Int64) -> String {
        guard total > 0 else { return Units.humanSize(done) }
        let width = 50
        let filled = Int(Double(width) * min(1, Double(done) / Double(total)))
        let arrow = filled < width ? String(repeating: "=", count: max(0, filled - 1)) + ">" + String(repeating: " ", count: width - filled)
                                   : String(repeating: "=", count: width)
        return "[\(arrow)]  \(Units.humanSize(done))/\(Units.humanSize(total))"
    }

    private func redraw(force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) > 0.1 || lines.values.allSatisfy({ !$0.contains("[") }) else { return }
        lastDraw = now
        var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        let shown = order.filter { lines[$0] != nil }
        for i in shown { out += "\u{1B}[2K\(ids[i]): \(lines[i] ?? "")\n" }
        drawn = shown.count
        emit(out)
    }

    /// Leaves the live block as it stands, so following lines print below it.
    private func finishLive() {
        guard live, drawn > 0 || !lines.isEmpty else { return }
        redraw(force: true)
        drawn = 0
        lines.removeAll()
        order.removeAll()
    }
}
