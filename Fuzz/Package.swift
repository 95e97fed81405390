// swift-tools-version:6.1
// The libFuzzer target over PermitText.decode and the whole Verifier. Kept in its own package so
// that the sanitizer flags never touch the main build. Run it with scripts/fuzz.
import PackageDescription

let package = Package(
    name: "permit-fuzz",
    dependencies: [.package(name: "freight-permit", path: "..")],
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
    ],
    swiftLanguageModes: [.v5]
)
