/// `[a-z]`, `[^0-9]`: ranges and single characters, optionally negated.
struct CharacterClass: Sendable, Equatable {
    var negated: Bool
    var ranges: [ClosedRange<UInt32>]

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(scalar.value) } != negated
    }

    /// Parses a class starting just after `[`; returns nil when there is no closing `]`.
    static func parse(_ scalars: [Unicode.Scalar], from start: Int) -> (CharacterClass, next: Int)? {
        var index = start
        var negated = false
        if index < scalars.count, scalars[index] == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while index < scalars.count, scalars[index] != "]" {
            var low = scalars[index]
            if low == "\\" {
                index += 1
                guard index < scalars.count else { return nil }
                low = scalars[index]
            }
            index += 1
            var high = low
            if index + 1 < scalars.count, scalars[index] == "-", scalars[index + 1] != "]" {
                index += 1
                high = scalars[index]
                if high == "\\" {
                    index += 1
                    guard index < scalars.count else { return nil }
                    high = scalars[index]
                }
                index += 1
                guard low.value <= high.value else { return nil }
            }
            ranges.append(low.value...high.value)
        }
        guard index < scalars.count, !ranges.isEmpty else { return nil }
        return (CharacterClass(negated: negated, ranges: ranges), index + 1)
    }
}
