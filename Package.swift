// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Strata",
    // Linux only: overlayfs, namespaces, openat2 and runc have no macOS equivalent, so no Apple
    // platform is claimed (Sources/Host refuses to compile elsewhere, with the reason).
    products: [
        .executable(name: "strata", targets: ["strata"]),
        .library(name: "ImageSpec", targets: ["ImageSpec"]),
        .library(name: "Archive", targets: ["Archive"]),
        .library(name: "ContentStore", targets: ["ContentStore"]),
        .library(name: "ImageStore", targets: ["ImageStore"]),
        .library(name: "Registry", targets: ["Registry"]),
        .library(name: "Transfer", targets: ["Transfer"]),
        .library(name: "Dockerfile", targets: ["Dockerfile"]),
        .library(name: "Builder", targets: ["Builder"]),
        // Strata as a Swift library: every use case behind `Engine`; the CLI is one front end over it.
        .library(name: "StrataEngine", targets: ["StrataEngine"]),
        // The registry half: an OCI distribution registry over its own storage.
        .library(name: "RegistryServer", targets: ["RegistryServer"]),
        // S3-compatible object storage: SigV4 signing and the operations the registry's blobs need.
        .library(name: "ObjectStore", targets: ["ObjectStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // 2.101.3: the HTTP/1 encoder sends no body on a HEAD reply (the registry's HEAD of a blob).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // The Hub: bcrypt for passwords (hummingbird-auth's, OpenBSD's C), JWTs for Docker's token auth.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        // Registry metadata shared by replicas: PostgreSQL's own Swift client, on SwiftNIO like the rest.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // The Hub's web page, rendered on the server.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // C libraries from Debian: ISA-L (fast gzip inflate/deflate) and zstd.
        .systemLibrary(name: "CCodecs", path: "Sources/CCodecs",
                       providers: [.apt(["libisal-dev", "libzstd-dev"])]),
        // Linux headers Swift's Glibc module leaves out (xattrs, mount).
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite",
                       providers: [.apt(["libsqlite3-dev"])]),

        .target(name: "ImageSpec", dependencies: ["CLinux", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Archive", dependencies: ["ImageSpec", "CCodecs", "CLinux"]),
        // The host's processes: every program Strata starts (runc, cp, credential helpers).
        .target(name: "Host", dependencies: ["ImageSpec", "CLinux", .product(name: "Logging", package: "swift-log")]),
        .target(name: "ContentStore", dependencies: ["ImageSpec"]),
        .target(name: "Metadata", dependencies: ["ImageSpec", "CSQLite", .product(name: "Logging", package: "swift-log")]),
        .target(name: "ImageStore", dependencies: ["ImageSpec", "Archive", "ContentStore", "Metadata"]),
        .target(name: "Snapshots", dependencies: ["ImageSpec", "Archive", "ContentStore", "ImageStore", "Host", "CLinux"]),
        .target(name: "Registry", dependencies: [
            "ImageSpec", "Host",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Transfer", dependencies: [
            "Metadata",
            "ImageSpec", "Archive", "ContentStore", "ImageStore", "Snapshots", "Registry",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "Runtime", dependencies: ["ImageSpec", "Archive", "ImageStore", "Metadata", "Snapshots", "Host", "CLinux",
                                               .product(name: "Logging", package: "swift-log")]),
        // The Dockerfile language, pure code: parser, word expansion, .dockerignore.
        .target(name: "Dockerfile", dependencies: ["ImageSpec"]),
        .target(name: "Builder", dependencies: [
            "Dockerfile", "ImageSpec", "Archive", "ImageStore", "Snapshots", "Runtime", "Registry", "CLinux",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // An S3 client over the registry client's HTTP stack; SigV4 over swift-crypto's HMAC.
        .target(name: "ObjectStore", dependencies: [
            "ImageSpec", "Registry",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The use cases, once: pull, push, copy, build, containers, save/load, inspect, image diff.
        .target(name: "StrataEngine", dependencies: [
            "ImageSpec", "Archive", "ContentStore", "ImageStore", "Snapshots", "Runtime", "Registry", "Transfer", "Builder", "Dockerfile",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // `strata registry serve`: the distribution spec over ContentStore's blobs and SQLite.
        // The registry's metadata in PostgreSQL, for replicas that share one database.
        .target(name: "PostgresMetadata", dependencies: [
            "ImageSpec", "Metadata",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "RegistryServer", dependencies: [
            "ImageSpec", "ContentStore", "Metadata", "PostgresMetadata", "Archive", "Registry", "ObjectStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Mustache", package: "swift-mustache"),
        ]),
        // Flags in, Docker's words out: every command parses, calls one Engine method, renders.
        .target(name: "StrataCLI", dependencies: [
            "StrataEngine", "RegistryServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "strata", dependencies: ["StrataCLI"]),
        // The fuzz targets (Fuzz/): libFuzzer's entry point under `make fuzz`; otherwise a replayer of
        // the committed corpora and of every crash once found, run by the tests.
        .executableTarget(name: "strata-fuzz", dependencies: [
                              "ImageSpec", "Archive", "Dockerfile", "Registry", "RegistryServer", "StrataCLI",
                              .product(name: "Hummingbird", package: "hummingbird"),
                              .product(name: "HTTPTypes", package: "swift-http-types"),
                              .product(name: "NIOCore", package: "swift-nio"),
                              .product(name: "Logging", package: "swift-log"),
                          ],
                          path: "Fuzz", exclude: ["Corpus", "README.md", "lsan.supp"]),
        // A Swift program that uses only the library: load an image, run a command, print its output.
        .executableTarget(name: "engine-example", dependencies: ["StrataEngine"], path: "examples/engine-example"),

        .testTarget(name: "ImageSpecTests", dependencies: ["ImageSpec"]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive"]),
        .testTarget(name: "ContentStoreTests", dependencies: ["ContentStore"]),
        // Root filesystems, layer tars and OCI layouts made at run time, for the store's and the engine's tests.
        .target(name: "StoreFixtures", dependencies: ["ImageSpec", "Archive", "ImageStore"], path: "Tests/StoreFixtures"),
        .testTarget(name: "ImageStoreTests", dependencies: ["ImageStore", "Archive", "StoreFixtures"]),
        .testTarget(name: "SnapshotsTests", dependencies: ["Snapshots", "Archive", "ImageStore", "CLinux"]),
        // An OCI distribution registry and a CONNECT proxy that run inside a test process, with
        // fault injection; shared by the tests of Registry, Transfer and the CLI.
        .target(name: "RegistryTestSupport", dependencies: [
            "ImageSpec", "Registry", "ObjectStore", "PostgresMetadata",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/RegistryTestSupport"),
        .testTarget(name: "RegistryTests", dependencies: [
            "Registry", "RegistryTestSupport", "ImageSpec",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "TransferTests", dependencies: [
            "Transfer", "Registry", "RegistryTestSupport", "ImageSpec", "Archive", "ImageStore",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "DockerfileTests", dependencies: ["Dockerfile", "ImageSpec"], resources: [.copy("Golden")]),
        .testTarget(name: "BuilderTests", dependencies: ["Builder", "ImageSpec"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Archive", "ImageSpec", "ImageStore", "Snapshots"]),
        .testTarget(name: "MetadataTests", dependencies: ["Metadata", "ImageSpec"]),
        .testTarget(name: "StrataEngineTests", dependencies: ["StrataEngine", "RegistryTestSupport", "StoreFixtures"]),
        .testTarget(name: "StrataCLITests", dependencies: ["StrataCLI", "ImageStore", "Registry", "RegistryTestSupport", "PostgresMetadata",
                                                    .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "ObjectStoreTests", dependencies: [
            "ObjectStore", "ImageSpec", "Registry", "RegistryTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
        ], resources: [.copy("Golden")]),
        .testTarget(name: "RegistryServerTests", dependencies: [
            "RegistryServer", "Registry", "ImageSpec", "ObjectStore", "RegistryTestSupport", "PostgresMetadata", "Metadata",
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
