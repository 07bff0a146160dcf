/// HEALTHCHECK in the shape of the image config's `Healthcheck`, so the builder can copy it over.
public struct Healthcheck: Sendable, Equatable, Codable {
    /// `["NONE"]`, `["CMD", args...]` (exec form) or `["CMD-SHELL", command]` (shell form).
    public var test: [String]
    /// Durations in nanoseconds, as the image config stores them; nil when not given.
    public var interval: Int64?
    public var timeout: Int64?
    public var startPeriod: Int64?
    public var startInterval: Int64?
    public var retries: Int?

    public init(
        test: [String], interval: Int64? = nil, timeout: Int64? = nil,
        startPeriod: Int64? = nil, startInterval: Int64? = nil, retries: Int? = nil
    ) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.retries = retries
    }

    public var isDisabled: Bool { test == ["NONE"] }
}
