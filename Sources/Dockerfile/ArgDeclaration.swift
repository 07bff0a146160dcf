/// One `ARG name[=default]`; the default is kept as written and expanded at build time.
public struct ArgDeclaration: Sendable, Equatable, Codable {
    public var name: String
    public var defaultValue: String?

    public init(name: String, defaultValue: String? = nil) {
        self.name = name
        self.defaultValue = defaultValue
    }
}
