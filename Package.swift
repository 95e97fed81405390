// swift-tools-version:6.1
import PackageDescription

// One job per module, dependencies pointing one way (see README, "Architecture").
let package = Package(
    name: "freight-permit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "permit", targets: ["permit"]),
        .library(name: "PermitVerify", targets: ["PermitVerify"]),
        .library(name: "PermitSeal", targets: ["PermitSeal"]),
        .library(name: "PermitModel", targets: ["PermitModel"]),
        .library(name: "PermitFoundation", targets: ["PermitFoundation"]),
        .library(name: "PermitHTTPSignature", targets: ["PermitHTTPSignature"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
    ],
    targets: [
        // System libraries (Debian -dev packages, installed by scripts/setup).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CZBar", pkgConfig: "zbar", providers: [.apt(["libzbar-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "pangocairo", providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // Code tables, routing rules and administrative divisions, bundled as defaults.
        .target(name: "PermitSchemas", path: "Schemas",
                exclude: ["README.md", "admin-divisions.ORIGIN.md", "permit-payload.cddl"],
                resources: [
                    .copy("admin-divisions.csv"), .copy("departments.json"), .copy("cargo-categories.json"),
                    .copy("routing.json"), .copy("permit.schema.json"), .copy("application.schema.json"),
                    .copy("trust-list.schema.json"), .copy("revocation-list.schema.json"),
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
        .target(name: "PermitAPI", dependencies: ["PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting"],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "PermitWorkflow", dependencies: ["PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting", "PermitStore"]),
        .target(name: "PermitVerify", dependencies: ["PermitFoundation", "PermitModel", "PermitSeal"]),
        .target(name: "PermitRender", dependencies: ["PermitAPI", "PermitModel", "PermitSeal", "CQREncode", "CZBar", "CCairo", "CJPEG", "CZlib"]),
        // RFC 9421 request signatures and RFC 9530 digests on a plain request value; no HTTP framework.
        .target(name: "PermitHTTPSignature", dependencies: [
            "PermitModel", "PermitSeal",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "permit", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting", "PermitWorkflow",
            "PermitVerify", "PermitRender",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: [
            // A member is visible only from a module this target imports: the CLI cannot reach
            // into the store, or the database library under it, through a type the workflow hands it.
            .enableUpcomingFeature("MemberImportVisibility"),
        ]),
        .executableTarget(name: "permit-bench", dependencies: [
            "PermitAPI", "PermitFoundation", "PermitModel", "PermitSeal", "PermitRouting", "PermitStore", "PermitWorkflow",
            "PermitVerify", "PermitRender", "PermitTestSupport", "PermitHTTPSignature",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),

        .target(name: "PermitTestSupport", dependencies: ["PermitAPI", "PermitModel", "PermitSeal", "PermitStore", "PermitWorkflow"],
                path: "Tests/PermitTestSupport"),
        .testTarget(name: "PermitFoundationTests", dependencies: ["PermitFoundation"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "PermitModelTests", dependencies: ["PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitSealTests", dependencies: ["PermitFoundation", "PermitSeal", "PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitRoutingTests", dependencies: ["PermitRouting", "PermitModel"]),
        .testTarget(name: "PermitWorkflowTests", dependencies: ["PermitAPI", "PermitFoundation", "PermitTestSupport", "PermitWorkflow", "PermitStore", "PermitSeal", "PermitModel", "PermitRouting", "PermitVerify"]),
        .testTarget(name: "PermitVerifyTests", dependencies: ["PermitVerify", "PermitSeal", "PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitHTTPSignatureTests", dependencies: ["PermitHTTPSignature", "PermitSeal"]),
        .testTarget(name: "PermitRenderTests", dependencies: ["PermitRender", "PermitModel", "PermitTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
