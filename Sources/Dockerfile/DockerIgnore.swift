import ImageSpec

/// The rules of a `.dockerignore` file, applied as Docker does (moby/patternmatcher):
/// the last matching pattern wins, `!` re-includes, and a pattern matching a directory covers everything in it.
public struct DockerIgnore: Sendable, Equatable {
    public let patterns: [DockerIgnorePattern]

    /// Parses `.dockerignore` text. Throws `.invalidDockerfile` naming the line of a malformed pattern.
    public init(parsing text: String) throws {
        var patterns: [DockerIgnorePattern] = []
        var lineNumber = 0
        // Split on scalars: Swift's Character "\r\n" would never equal "\n".
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = String(String.UnicodeScalarView(rawLine.last == "\r" ? rawLine.dropLast() : rawLine))
            if lineNumber == 1, line.unicodeScalars.first == "\u{FEFF}" {
                line = String(String.UnicodeScalarView(line.unicodeScalars.dropFirst()))
            }
            // Comments are recognised before trimming: only a `#` in the first column starts one.
            if line.hasPrefix("#") { continue }
            var pattern = line.trimmingSpace()
            if pattern.isEmpty { continue }
            let isException = pattern.hasPrefix("!")
            if isException { pattern = String(pattern.dropFirst()).trimmingSpace() }
            if !pattern.isEmpty {
                pattern = PathCleaning.clean(pattern)
                if pattern.count > 1, pattern.hasPrefix("/") { pattern.removeFirst() }
            }
            if isException, pattern.isEmpty {
                throw StrataError(
                    .invalidDockerfile, "dockerignore parse error on line \(lineNumber): illegal exclusion pattern: \"!\"")
            }
            do {
                patterns.append(try DockerIgnorePattern(pattern, isException: isException))
            } catch {
                throw StrataError(
                    .invalidDockerfile, "dockerignore parse error on line \(lineNumber): \(error.message): \(pattern)")
            }
        }
        self.patterns = patterns
    }

    /// Whether the file or directory at `relativePath` (relative to the context root) is left out of the context.
    public func excludes(_ relativePath: String) -> Bool {
        let path = Self.normalize(relativePath)
        let parentComponents = path.split(separator: "/").dropLast().map(String.init)
        var parents: [String] = []
        for component in parentComponents {
            parents.append(parents.last.map { $0 + "/" + component } ?? component)
        }
        var excluded = false
        for pattern in patterns where pattern.isException == excluded {
            // Only patterns that could flip the current answer are worth testing.
            if pattern.matches(path) || parents.contains(where: pattern.matches) {
                excluded = !pattern.isException
            }
        }
        return excluded
    }

    /// Whether an exception pattern might re-include something inside `directory`; when false, a walker
    /// can skip an excluded directory without reading it.
    public func mayReincludeFiles(inDirectory directory: String) -> Bool {
        let path = Self.normalize(directory)
        return patterns.contains { $0.isException && $0.mayMatchInside(path) }
    }

    /// True when the directory is excluded and nothing inside it can be re-included.
    public func canSkipDirectory(_ directory: String) -> Bool {
        excludes(directory) && !mayReincludeFiles(inDirectory: directory)
    }

    private static func normalize(_ path: String) -> String {
        var cleaned = PathCleaning.clean(path)
        while cleaned.hasPrefix("/") { cleaned.removeFirst() }
        return cleaned
    }
}
