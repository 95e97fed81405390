// swift-tools-version:6.1
// The libFuzzer targets: PermitFuzz over PermitText.decode and the whole Verifier, PermitFuzzHTTP
// over what the server reads from a request (signature headers, Content-Digest, JSON bodies,
// query parameters). Kept in its own package so that the sanitizer flags never touch the main
// build. Run them with scripts/fuzz (scripts/fuzz http for the second).
import PackageDescription

let package = Package(
    name: "permit-fuzz",
    dependencies: [
        .package(name: "freight-permit", path: ".."),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
    ],
    targets: [
        .executableTarget(
            name: "PermitFuzz",
            dependencies: [
                .product(name: "PermitVerify", package: "freight-permit"),
                .product(name: "PermitSeal", package: "freight-permit"),
                .product(name: "PermitModel", package: "freight-permit"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "PermitFuzzHTTP",
            dependencies: [
                .product(name: "PermitHTTPSignature", package: "freight-permit"),
                .product(name: "PermitAPI", package: "freight-permit"),
                .product(name: "PermitSeal", package: "freight-permit"),
                .product(name: "PermitModel", package: "freight-permit"),
                .product(name: "PermitFoundation", package: "freight-permit"),
                .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
