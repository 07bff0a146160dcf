/// `[a-z]`, `[^0-9]`: ranges and single characters, optionally negated.
struct CharacterClass: Sendable, Equatable {
    var negated: Bool
    var ranges: [ClosedRange<UInt32>]

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(scalar.value) } != negated
    }

    /// Parses a class starting just after `[`, by Go's filepath.Match grammar (patternmatcher checks
    /// every pattern with it): `[` `^`? (end (`-` end)?)+ `]`, where an end is `\`-escaped or any
    /// character but `-` and `]`. Returns nil for a malformed class: `[]`, `[-]`, `[a-]`, `[a-b-c]`,
    /// no closing `]`, or a range running backwards (which patternmatcher's regexp refuses).
    static func parse(_ scalars: [Unicode.Scalar], from start: Int) -> (CharacterClass, next: Int)? {
        var index = start
        var negated = false
        if index < scalars.count, scalars[index] == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            if index < scalars.count, scalars[index] == "]", !ranges.isEmpty {
                return (CharacterClass(negated: negated, ranges: ranges), index + 1)
            }
            guard let (low, afterLow) = rangeEnd(scalars, at: index) else { return nil }
            index = afterLow
            var high = low
            if scalars[index] == "-" {
                guard let (end, afterHigh) = rangeEnd(scalars, at: index + 1) else { return nil }
                high = end
                index = afterHigh
            }
            guard low.value <= high.value else { return nil }
            ranges.append(low.value...high.value)
        }
    }

    /// Go's getEsc: one possibly escaped character, which the class must not end right after.
    private static func rangeEnd(_ scalars: [Unicode.Scalar], at start: Int) -> (Unicode.Scalar, next: Int)? {
        var index = start
        guard index < scalars.count, scalars[index] != "-", scalars[index] != "]" else { return nil }
        if scalars[index] == "\\" { index += 1 }
        guard index + 1 < scalars.count else { return nil }
        return (scalars[index], index + 1)
    }
}
