import ImageSpec
import Testing
@testable import ObjectStore

/// The `storage` settings of the registry's configuration, the `AWS_*` variables under them, and what a wrong one says.
struct S3ConfigurationTests {
    static let keys = ["access-key": "AK", "secret-key": "SK"]

    @Test func settingsWinOverTheEnvironment() throws {
        let c = try S3Configuration(settings: ["bucket": "blobs", "endpoint": "http://127.0.0.1:7480/", "prefix": "hub", "region": "default",
                                               "part-size": "8MiB"].merging(Self.keys) { a, _ in a },
                                    environment: ["AWS_ACCESS_KEY_ID": "env", "AWS_REGION": "eu-west-1"])
        #expect(c.endpoint == "http://127.0.0.1:7480" && c.region == "default" && c.prefix == "hub/" && c.partSize == 8 << 20)
        #expect(c.credentials == SigV4.Credentials(accessKey: "AK", secretKey: "SK"))
        #expect(c.pathStyle)
    }

    @Test func theEnvironmentFillsWhatIsLeftOut() throws {
        let c = try S3Configuration(settings: ["bucket": "blobs"],
                                    environment: ["AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "T",
                                                  "AWS_DEFAULT_REGION": "eu-west-1"])
        #expect(c.endpoint == "https://s3.eu-west-1.amazonaws.com" && !c.pathStyle && c.credentials.sessionToken == "T")
        let custom = try S3Configuration(settings: ["bucket": "blobs"],
                                         environment: ["AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_ENDPOINT_URL": "http://minio:9000"])
        #expect(custom.endpoint == "http://minio:9000" && custom.pathStyle && custom.region == "us-east-1")
        // A session token goes with the environment's keys, never with keys from the file.
        let mixed = try S3Configuration(settings: ["bucket": "blobs"].merging(Self.keys) { a, _ in a }, environment: ["AWS_SESSION_TOKEN": "T"])
        #expect(mixed.credentials.sessionToken == nil)
        #expect(!"\(mixed.credentials)".contains("SK"))
    }

    @Test(arguments: [
        (["endpoint": "http://x"], "storage.bucket is missing: name the bucket the registry keeps its blobs in"),
        (["bucket": "Blobs"], "invalid storage.bucket \"Blobs\": a bucket name has only lower-case letters, digits, dots and hyphens"),
        (["bucket": "ab"], "invalid storage.bucket \"ab\": a bucket name has 3 to 63 characters"),
        (["bucket": "blobs", "endpoint": "ftp://x"], "invalid storage.endpoint \"ftp://x\": expected http(s)://host[:port], with no path (and no credentials: they go in access-key and secret-key)"),
        (["bucket": "blobs", "endpoint": "http://x/path"], "invalid storage.endpoint \"http://x/path\": expected http(s)://host[:port], with no path (and no credentials: they go in access-key and secret-key)"),
        (["bucket": "blobs", "endpoint": "http://k:s@x"], "invalid storage.endpoint \"http://k:s@x\": expected http(s)://host[:port], with no path (and no credentials: they go in access-key and secret-key)"),
        (["bucket": "blobs", "part-size": "1MiB"], "invalid storage.part-size \"1MiB\": expected a size from 5MiB to 5GiB (S3's limits on a part)"),
        (["bucket": "blobs", "path-style": "yes"], "invalid storage.path-style \"yes\": expected true or false"),
        (["bucket": "blobs", "secret": "x"], "storage.secret is not a setting; the settings are endpoint, region, bucket, prefix, access-key, secret-key, session-token, path-style, part-size"),
    ])
    func badSettingsAreNamed(_ settings: [String: String], _ message: String) {
        #expect(throws: StrataError(.invalidArgument, message)) {
            try S3Configuration(settings: settings.merging(Self.keys) { a, _ in a }, environment: [:])
        }
    }

    @Test func missingCredentialsSayWhereToPutThem() {
        #expect(throws: StrataError(.invalidArgument, "no S3 credentials: set storage.access-key and storage.secret-key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")) {
            try S3Configuration(settings: ["bucket": "blobs"], environment: [:])
        }
    }

    @Test(arguments: [("<Error><Code>NoSuchKey</Code><Message>a &amp; b &lt;c&gt; &#65;&#x42;</Message></Error>", "Code", "NoSuchKey"),
                      ("<Error><Code>NoSuchKey</Code><Message>a &amp; b &lt;c&gt; &#65;&#x42;</Message></Error>", "Message", "a & b <c> AB"),
                      ("<R><Key>a &amp b</Key></R>", "Key", "a &amp b")])
    func xmlValues(_ document: String, _ name: String, _ value: String) {
        #expect(S3XML.value(name, in: document) == value)
    }
}
