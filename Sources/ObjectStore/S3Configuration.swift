import Foundation
import ImageSpec

/// Where a bucket is and how to sign for it: from the registry's configuration file
/// (`storage: {driver: s3, …}`), with the usual `AWS_*` variables filling what it leaves out.
public struct S3Configuration: Sendable, Equatable {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:7480`; no path.
    public var endpoint: String
    public var region: String
    public var bucket: String
    /// Prepended to every key (`registry/`), so one bucket can hold several registries.
    public var prefix: String
    public var credentials: SigV4.Credentials
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key`: what Ceph, MinIO and a loopback
    /// endpoint need; AWS takes both.
    public var pathStyle: Bool
    /// Parts of a multipart upload: S3's minimum is 5 MiB (except the last), its maximum 10,000 parts.
    public var partSize: Int

    public static let minimumPartSize = 5 << 20

    public init(endpoint: String, region: String = "us-east-1", bucket: String, prefix: String = "",
                credentials: SigV4.Credentials, pathStyle: Bool = true, partSize: Int = 16 << 20) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.credentials = credentials
        self.pathStyle = pathStyle
        self.partSize = partSize
    }

    /// Settings by name (`endpoint`, `region`, `bucket`, `prefix`, `access-key`, `secret-key`,
    /// `session-token`, `path-style`, `part-size`), each missing one from the environment:
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`. `what` names the
    /// settings' place in errors.
    public init(settings: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment,
                what: String = "storage") throws {
        for key in settings.keys.sorted() where !Self.settingNames.contains(key) {
            throw StrataError(.invalidArgument, "\(what).\(key) is not a setting; the settings are \(Self.settingNames.joined(separator: ", "))")
        }
        func value(_ key: String, _ variables: [String]) -> String? {
            settings[key] ?? variables.lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        }
        guard let bucket = settings["bucket"], !bucket.isEmpty else {
            throw StrataError(.invalidArgument, "\(what).bucket is missing: name the bucket the registry keeps its blobs in")
        }
        if let problem = Self.bucketNameProblem(bucket) {
            throw StrataError(.invalidArgument, "invalid \(what).bucket \"\(bucket)\": \(problem)")
        }
        guard let access = value("access-key", ["AWS_ACCESS_KEY_ID"]), let secret = value("secret-key", ["AWS_SECRET_ACCESS_KEY"]) else {
            throw StrataError(.invalidArgument, "no S3 credentials: set \(what).access-key and \(what).secret-key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let region = value("region", ["AWS_REGION", "AWS_DEFAULT_REGION"]) ?? "us-east-1"
        let endpoint = value("endpoint", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) ?? "https://s3.\(region).amazonaws.com"
        guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
              url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil, url.password == nil else {
            throw StrataError(.invalidArgument, "invalid \(what).endpoint \"\(endpoint)\": expected http(s)://host[:port], with no path (and no credentials: they go in access-key and secret-key)")
        }
        var pathStyle = settings["endpoint"] != nil || environment["AWS_ENDPOINT_URL_S3"] != nil || environment["AWS_ENDPOINT_URL"] != nil
        if let text = settings["path-style"] {
            guard let flag = Bool(text) else { throw StrataError(.invalidArgument, "invalid \(what).path-style \"\(text)\": expected true or false") }
            pathStyle = flag
        }
        var partSize = 16 << 20
        if let text = settings["part-size"] {
            guard let size = Units.ramInBytes(text), size >= Int64(Self.minimumPartSize), size <= 5 << 30 else {
                throw StrataError(.invalidArgument, "invalid \(what).part-size \"\(text)\": expected a size from 5MiB to 5GiB (S3's limits on a part)")
            }
            partSize = Int(size)
        }
        var prefix = settings["prefix"] ?? ""
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        self.init(endpoint: endpoint, region: region, bucket: bucket, prefix: prefix,
                  // A session token belongs to the keys it came with: the environment's only with the environment's keys.
                  credentials: SigV4.Credentials(accessKey: access, secretKey: secret,
                                                 sessionToken: settings["session-token"] ?? (settings["access-key"] == nil ? environment["AWS_SESSION_TOKEN"] : nil)),
                  pathStyle: pathStyle, partSize: partSize)
    }

    public static let settingNames = ["endpoint", "region", "bucket", "prefix", "access-key", "secret-key", "session-token", "path-style", "part-size"]

    /// S3's rules for a bucket name, which are also what makes it safe in a host name and a path.
    public static func bucketNameProblem(_ name: String) -> String? {
        guard (3...63).contains(name.count) else { return "a bucket name has 3 to 63 characters" }
        guard name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }) else {
            return "a bucket name has only lower-case letters, digits, dots and hyphens"
        }
        guard let first = name.first, let last = name.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber else {
            return "a bucket name starts and ends with a letter or a digit"
        }
        return nil
    }
}
