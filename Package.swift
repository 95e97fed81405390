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

        .target(name: "PermitModel", dependencies: ["PermitSchemas"]),
        .target(name: "PermitSeal", dependencies: [
            "PermitModel", "CZlib",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "PermitRouting", dependencies: ["PermitModel", "PermitSchemas",
            .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "PermitStore", dependencies: [
            "PermitModel", "PermitSeal",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "PermitWorkflow", dependencies: ["PermitModel", "PermitSeal", "PermitRouting", "PermitStore"]),
        .target(name: "PermitVerify", dependencies: ["PermitModel", "PermitSeal"]),
        // RFC 9421 request signatures and RFC 9530 digests on a plain request value; no HTTP framework.
        .target(name: "PermitHTTPSignature", dependencies: [
            "PermitModel", "PermitSeal",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "PermitRender", dependencies: ["PermitModel", "CQREncode", "CZBar", "CCairo", "CJPEG", "CZlib"]),
        .executableTarget(name: "permit", dependencies: [
            "PermitModel", "PermitSeal", "PermitRouting", "PermitStore", "PermitWorkflow",
            "PermitVerify", "PermitRender",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "permit-bench", dependencies: [
            "PermitModel", "PermitSeal", "PermitRouting", "PermitStore", "PermitWorkflow",
            "PermitVerify", "PermitRender", "PermitTestSupport", "PermitHTTPSignature",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),

        .target(name: "PermitTestSupport", dependencies: ["PermitSeal"], path: "Tests/PermitTestSupport"),
        .testTarget(name: "PermitModelTests", dependencies: ["PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitSealTests", dependencies: ["PermitSeal", "PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitRoutingTests", dependencies: ["PermitRouting", "PermitModel"]),
        .testTarget(name: "PermitWorkflowTests", dependencies: ["PermitWorkflow", "PermitStore", "PermitSeal", "PermitModel", "PermitRouting", "PermitVerify"]),
        .testTarget(name: "PermitVerifyTests", dependencies: ["PermitVerify", "PermitSeal", "PermitModel", "PermitTestSupport"]),
        .testTarget(name: "PermitHTTPSignatureTests", dependencies: ["PermitHTTPSignature", "PermitSeal"]),
        .testTarget(name: "PermitRenderTests", dependencies: ["PermitRender", "PermitModel", "PermitTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
