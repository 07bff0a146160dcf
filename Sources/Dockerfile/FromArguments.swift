/// `FROM [--platform=P] IMAGE [AS NAME]`; image and platform are unexpanded (they may use meta ARGs).
public struct FromArguments: Sendable, Equatable, Codable {
    public var image: String
    public var platform: String?
    /// Lower-cased stage name.
    public var stageName: String?

    public init(image: String, platform: String? = nil, stageName: String? = nil) {
        self.image = image
        self.platform = platform
        self.stageName = stageName
    }
}
