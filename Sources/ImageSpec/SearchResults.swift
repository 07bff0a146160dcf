/// The answer of `GET /v1/search?q=&n=&page=`, in Docker Hub's shape, as `docker search` reads it.
/// The registry serves it and `strata search` reads it: one type for both.
public struct SearchResults: Codable, Sendable, Equatable {
    public struct Result: Codable, Sendable, Equatable {
        /// `busybox` for an official image (Docker's name for `library/busybox`), `user/repo` otherwise.
        public var name: String
        public var description: String
        public var starCount: Int
        public var isOfficial: Bool
        public var isAutomated: Bool

        public init(name: String, description: String, starCount: Int = 0, isOfficial: Bool, isAutomated: Bool = false) {
            self.name = name
            self.description = description
            self.starCount = starCount
            self.isOfficial = isOfficial
            self.isAutomated = isAutomated
        }

        enum CodingKeys: String, CodingKey {
            case name, description
            case starCount = "star_count"
            case isOfficial = "is_official"
            case isAutomated = "is_automated"
        }
    }

    public var numResults: Int
    public var numPages: Int
    public var page: Int
    public var pageSize: Int
    public var query: String
    public var results: [Result]

    public init(numResults: Int, numPages: Int, page: Int, pageSize: Int, query: String, results: [Result]) {
        self.numResults = numResults
        self.numPages = numPages
        self.page = page
        self.pageSize = pageSize
        self.query = query
        self.results = results
    }

    enum CodingKeys: String, CodingKey {
        case numResults = "num_results"
        case numPages = "num_pages"
        case page
        case pageSize = "page_size"
        case query, results
    }
}
