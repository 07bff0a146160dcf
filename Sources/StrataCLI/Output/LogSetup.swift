import Foundation
import Logging
import StrataEngine

/// swift-log for the CLI: one line per message on stderr, at the level `--log-level`, `--debug`
/// or `STRATA_LOG` asks for (warning by default). Library code logs through `Logger(label:)`.
enum LogSetup {
    private static let once = NSLock()
    nonisolated(unsafe) private static var done = false

    static func bootstrap(level requested: String?) throws {
        let name = (requested ?? ProcessInfo.processInfo.environment["STRATA_LOG"]).flatMap { $0.isEmpty ? nil : $0.lowercased() } ?? "warning"
        guard let level = Logger.Level(rawValue: name == "warn" ? "warning" : name) else {
            throw StrataError(.invalidArgument,
                "invalid log level \"\(name)\": trace, debug, info, notice, warning, error or critical")
        }
        once.withLock {
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
