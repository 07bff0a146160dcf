// Trimming with Go's unicode.IsSpace, on scalars so "\r\n" is never treated as one character.
extension String {
    func trimmingLeadingSpace() -> String {
        String(String.UnicodeScalarView(unicodeScalars.drop(while: ArgumentSplitter.isSpace)))
    }

    func trimmingSpace() -> String {
        let scalars = Array(unicodeScalars)
        guard let first = scalars.firstIndex(where: { !ArgumentSplitter.isSpace($0) }),
              let last = scalars.lastIndex(where: { !ArgumentSplitter.isSpace($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
