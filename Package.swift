// swift-tools-version:6.1
import PackageDescription

// One job per module, dependencies pointing one way (see README, "Architecture").
let package = Package(
    name: "freight-permit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "permit", targets: ["permit"]),
        .executable(name: "permit-server", targets: ["permit-server"]),
        .library(name: "PermitVerify", targets: ["PermitVerify"]),
        .library(name: "PermitSeal", targets: ["PermitSeal"]),
        .library(name: "PermitModel", targets: ["PermitModel"]),
        .library(name: "PermitFoundation", targets: ["PermitFoundation"]),
        .library(name: "PermitHTTPSignature", targets: ["PermitHTTPSignature"]),
        // For the fuzz target over request decoding (Fuzz/, PermitFuzzHTTP).
        .library(name: "PermitAPI", targets: ["PermitAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
        // The HTTP server (`permit serve`, linked into permit-server only) and, for its tests, a client.
        // Hummingbird's default traits pull in swift-configuration, which nothing here reads.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The PostgreSQL store (`--database postgres://…`), for a deployment that several server instances share.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // System libraries (Debian -dev packages, installed by scripts/setup).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CZBar", pkgConfig: "zbar", providers: [.apt(["libzbar-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "pangocairo", providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // Code tables, routing rules and administrative divisions, bundled as defaults; and the HTTP
        // API's OpenAPI document, compiled in as bytes for the server to serve.
        .target(name: "PermitSchemas", path: "Schemas",
                exclude: ["README.md", "admin-divisions.ORIGIN.md", "permit-payload.cddl"],
                resources: [
                    .copy("admin-divisions.csv"), .copy("departments.json"), .copy("cargo-categories.json"),
                    .copy("routing.json"), .copy("permit.schema.json"), .copy("application.schema.json"),
                    .copy("trust-list.schema.json"), .copy("revocation-list.schema.json"),
                    .embedInCode("openapi.yaml"),
                ]),

        // Hex, RFC 3339 and SHA-256: the general helpers below the seal and the store.
        .target(name: "PermitFoundation", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "PermitModel", dependencies: ["PermitSchemas"]),
        .target(name: "PermitSeal", dependencies: [
            "PermitFoundation", "PermitModel", "CZlib",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        .target(name: "PermitRouting", dependencies: ["PermitModel", "PermitSchemas",
            .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "PermitStore", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // PostgreSQL through postgres-nio: the same store protocols and schema, for several server instances.
        .target(name: "PermitStorePostgres", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitStore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "PermitAPI", dependencies: ["PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting"],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "PermitWorkflow", dependencies: ["PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting", "PermitStore",
                                                  "PermitStorePostgres"]),
        .target(name: "PermitVerify", dependencies: ["PermitFoundation", "PermitModel", "PermitSeal"]),
        .target(name: "PermitRender", dependencies: ["PermitAPI", "PermitModel", "PermitSeal", "CQREncode", "CZBar", "CCairo", "CJPEG", "CZlib"]),
        // RFC 9421 request signatures and RFC 9530 digests on a plain request value; no HTTP framework.
        .target(name: "PermitHTTPSignature", dependencies: [
            "PermitModel", "PermitSeal",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        // PermitService over HTTP (AsyncHTTPClient), each request signed with the caller's key.
        .target(name: "PermitClient", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitHTTPSignature",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "permit", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting", "PermitWorkflow",
            "PermitVerify", "PermitRender", "PermitClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: [
            // A member is visible only from a module this target imports: the CLI cannot reach
            // into the store, or the database library under it, through a type the workflow hands it.
            .enableUpcomingFeature("MemberImportVisibility"),
        ]),
        // The checkpoint page (Web/verify), compiled into the server as bytes; the folder stays where it is.
        .target(name: "PermitWebPage", path: "Web", exclude: ["verify/README.md"], sources: ["PermitWebPage.swift"],
                resources: [
                    .embedInCode("verify/index.html"), .embedInCode("verify/style.css"), .embedInCode("verify/sw.js"),
                    .embedInCode("verify/manifest.webmanifest"), .embedInCode("verify/icon.svg"),
                    .embedInCode("verify/js/app.js"), .embedInCode("verify/js/codec.js"), .embedInCode("verify/js/i18n.js"),
                    .embedInCode("verify/js/store.js"), .embedInCode("verify/js/verifier.js"),
                ],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        // The HTTP server: routes decode, call PermitService or the verifier, encode. Its own module and
        // executable, so that the checkpoint's `permit verify` never loads the server stack.
        .target(name: "PermitServer", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitSchemas", "PermitSeal", "PermitVerify", "PermitRender",
            "PermitWebPage", "PermitHTTPSignature",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "permit-server", dependencies: [
            "PermitServer", "PermitAPI", "PermitWorkflow",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "permit-bench", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting", "PermitStore", "PermitWorkflow",
            "PermitVerify", "PermitRender", "PermitTestSupport", "PermitHTTPSignature", "PermitClient", "PermitStorePostgres",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),

        .target(name: "PermitTestSupport", dependencies: ["PermitAPI", "PermitModel", "PermitSeal", "PermitStore", "PermitWorkflow"],
                path: "Tests/PermitTestSupport"),
        .testTarget(name: "PermitFoundationTests", dependencies: ["PermitFoundation"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "PermitModelTests", dependencies: ["PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitSealTests", dependencies: ["PermitFoundation", "PermitSeal", "PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitRoutingTests", dependencies: ["PermitRouting", "PermitModel"]),
        .testTarget(name: "PermitWorkflowTests", dependencies: ["PermitAPI", "PermitFoundation", "PermitTestSupport", "PermitWorkflow", "PermitStore",
                                                          "PermitStorePostgres", "PermitSeal", "PermitModel", "PermitRouting", "PermitVerify",
                                                          .product(name: "PostgresNIO", package: "postgres-nio"),
                                                          .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "PermitVerifyTests", dependencies: ["PermitVerify", "PermitSeal", "PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitHTTPSignatureTests", dependencies: ["PermitHTTPSignature", "PermitSeal"]),
        .testTarget(name: "PermitServerTests", dependencies: [
            "PermitAPI", "PermitHTTPSignature", "PermitModel", "PermitSeal", "PermitTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "PermitRenderTests", dependencies: ["PermitRender", "PermitModel", "PermitTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
