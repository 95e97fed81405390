import Foundation
import PermitTestSupport
import XCTest
import PermitSeal
@testable import PermitVerify

/// `permit verify` and `permit trust` run as a subprocess: exit codes and the JSON Lines shape.
final class CLITests: XCTestCase {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        func json() throws -> [[String: Any]] {
            try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
    }

    /// The `permit` binary built beside the test bundle (`.build/debug`).
    /// On Linux the test bundle's URL is that folder itself; on macOS it is the .xctest inside it.
    static var permitBinary: URL {
        let bundle = Bundle(for: CLITests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("permit"), bundle.deletingLastPathComponent().appendingPathComponent("permit")]
            + (Bundle.main.executableURL.map { [$0.deletingLastPathComponent().appendingPathComponent("permit")] } ?? [])
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    var dir: URL!
    let world = World()
    var payloads: [String] = []

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.permitBinary.path) else {
            XCTFail("no permit binary at \(Self.permitBinary.path); build the package (swift build) before the CLI tests")
            throw CocoaError(.fileNoSuchFile)
        }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-verify-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try world.root.save(path: path("root.pem"))
        try world.root.publicKey.pem.write(toFile: path("root.pub.pem"), atomically: true, encoding: .utf8)
        try Data(world.qiantangList.signed(by: world.root)).write(to: url("trust-list.cose"))
        let sealer = PermitSealer(key: world.qiantang)
        let revoked = try sealer.seal(sampleClaims(number: "330114000003"))
        payloads = [try sealer.seal(sampleClaims()).text,
                    try PermitSealer(key: .generate(.edDSA)).seal(sampleClaims()).text,
                    revoked.text,
                    "HC1:NCFOXN%TS3DH"]
        let revocations = RevocationList(authority: "330114", sequence: 1, issuedAt: T.listIssued, nextUpdate: T.listNext,
                                         revoked: [.init(hash: revoked.revocationHash, revokedAt: T.listIssued, reason: "test")])
        try Data(revocations.signed(by: world.qiantang)).write(to: url("revocations.cose"))
        try (payloads.joined(separator: "\r\n") + "\r\n").write(to: url("payloads.txt"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func url(_ name: String) -> URL { dir.appendingPathComponent(name) }
    func path(_ name: String) -> String { url(name).path }

    func permit(_ arguments: [String], stdin: String? = nil, home: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = Self.permitBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_HOME"] = home ?? path("no-such-home")
        env["LANG"] = "en_US.UTF-8"
        process.environment = env
        process.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    var trustFlags: [String] { ["--trust", path("trust-list.cose"), "--root", path("root.pub.pem"), "--at", "2025-12-10"] }

    func testValidPayloadExitsZeroWithOneLine() throws {
        let run = try permit(["verify", payloads[0]] + trustFlags + ["--lang", "en"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 1)
        XCTAssertTrue(run.stdout.hasPrefix("✅ PASS"), run.stdout)
        XCTAssertTrue(run.stdout.contains("浙A12345"))
        XCTAssertTrue(run.stdout.contains("2025-12-06 to 2025-12-19"))
        XCTAssertTrue(run.stdout.contains("Medical supplies"), run.stdout)
        XCTAssertTrue(run.stdout.contains("0571-86000000"))
        let zh = try permit(["verify", payloads[0]] + trustFlags + ["--lang", "zh"])
        XCTAssertTrue(zh.stdout.hasPrefix("✅ 准予通行"), zh.stdout)
        XCTAssertTrue(zh.stdout.contains("刘建国、王小明"))
        XCTAssertTrue(zh.stdout.contains("杭州市钱塘区交通运输局"))
    }

    func testBatchJSONLinesAndExitOne() throws {
        let run = try permit(["verify", "--file", path("payloads.txt"), "--json", "--revocations", path("revocations.cose")] + trustFlags)
        XCTAssertEqual(run.status, 1, run.stderr)
        let objects = try run.json()
        XCTAssertEqual(objects.map { $0["index"] as? Int }, [0, 1, 2, 3], "CRLF lines are split")
        guard objects.count == 4 else { return }
        XCTAssertEqual(objects.map { $0["outcome"] as? String }, ["valid", "invalid", "invalid", "invalid"])
        XCTAssertEqual(objects.map { $0["reason"] as? String }, [nil, "unknownKey", "revoked", "unknownPrefix"])
        XCTAssertEqual(objects.map { $0["stage"] as? String }, [nil, "keyLookup", "revocation", "prefix"])
        XCTAssertEqual(objects[0]["number"] as? String, "330114000001")
        XCTAssertEqual((objects[0]["validity"] as? [String: Any])?["until"] as? String, "2025-12-19")
        XCTAssertEqual((objects[0]["issuer"] as? [String: Any])?["phone"] as? String, "0571-86000000")
        XCTAssertEqual(((objects[0]["permit"] as? [String: Any])?["vehicle"] as? [String: Any])?["plate"] as? String, "浙A12345")
        XCTAssertNil(objects[1]["permit"], "an unverified payload's claims are never shown")
        XCTAssertNotNil(objects[1]["detail"])
        XCTAssertEqual((objects[0]["warnings"] as? [Any])?.count, 0)
    }

    /// Correctly signed permits whose exp, nbf or iat is 2^63 − 1, 2^63, 2^64 − 1 or 0 (any uint is
    /// allowed), in one batch: every line is printed with the contract's verdict; none stops the batch.
    func testHugeAndZeroClaimTimesInOneBatch() throws {
        typealias L = ClaimTimeLimitTests
        var bigMap = sampleClaims(number: "330114000099")
        bigMap.permit.vehicle.plateColor = L.max64
        bigMap.permit.crew[0].role = L.max64
        bigMap.permit.cargo.categories = [L.max64]
        bigMap.permit.cargo.weightKg = L.max64
        bigMap.permit.origin.county = L.max64
        bigMap.permit.via = [L.max64]
        bigMap.permit.approvedBy = [L.max64]
        bigMap.permit.trips = L.max64
        let cases: [(claims: PermitClaims, reason: String?, stage: String?)] = [
            (L.claims(exp: L.max63), nil, nil),                                                         // 0
            (L.claims(exp: L.two63), nil, nil),
            (L.claims(exp: L.max64), nil, nil),
            (L.claims(exp: 0), "claimsMalformed", "claims"),
            (L.claims(nbf: 0), nil, nil),
            (L.claims(exp: L.two63, nbf: L.max63), "notYetValid", "validityWindow"),                     // 5
            (L.claims(exp: L.max64, nbf: L.two63), "notYetValid", "validityWindow"),
            (L.claims(exp: L.max64, nbf: L.max64), "claimsMalformed", "claims"),
            (L.claims(iat: L.max63), "keyNotValidAtIssuance", "keyValidity"),
            (L.claims(iat: L.two63), "keyNotValidAtIssuance", "keyValidity"),
            (L.claims(iat: L.max64), "keyNotValidAtIssuance", "keyValidity"),                            // 10
            (L.claims(iat: 0), "keyNotValidAtIssuance", "keyValidity"),
            (L.claims(exp: L.max64, nbf: L.two63, iat: L.max63), "keyNotValidAtIssuance", "keyValidity"),
            (bigMap, nil, nil),
            (sampleClaims(), nil, nil),
        ]
        let sealer = PermitSealer(key: world.qiantang)
        let texts = try cases.map { try sealer.seal($0.claims).text }
        try (texts.joined(separator: "\n") + "\n").write(to: url("times.txt"), atomically: true, encoding: .utf8)

        let run = try permit(["verify", "--json", "--file", path("times.txt")] + trustFlags)
        XCTAssertEqual(run.status, 1, "some payload invalid, none unreadable: " + run.stderr)
        XCTAssertEqual(run.lines.count, cases.count, "every payload gets its line: " + run.stderr)
        let objects = try run.json()
        XCTAssertEqual(objects.map { $0["index"] as? Int }, Array(0..<cases.count))
        XCTAssertEqual(objects.map { $0["outcome"] as? String }, cases.map { $0.reason == nil ? "valid" : "invalid" })
        XCTAssertEqual(objects.map { $0["reason"] as? String }, cases.map(\.reason))
        XCTAssertEqual(objects.map { $0["stage"] as? String }, cases.map(\.stage))
        guard objects.count == cases.count else { return }
        func validity(_ i: Int) -> [String: String] { objects[i]["validity"] as? [String: String] ?? [:] }
        // A time whose date lies outside years 1–9999 is written as the claim's own number.
        XCTAssertEqual(validity(0), ["from": "2025-12-06", "until": "9223372036854775807", "notBefore": "2025-12-05T16:00:00Z",
                                     "expiresAt": "9223372036854775807", "issuedAt": "2025-12-05T02:00:00Z"])
        XCTAssertEqual(validity(2)["until"], "18446744073709551615")
        XCTAssertEqual(validity(2)["expiresAt"], "18446744073709551615")
        XCTAssertEqual(validity(4)["from"], "1970-01-01")
        XCTAssertEqual(validity(4)["notBefore"], "1970-01-01T00:00:00Z")
        XCTAssertEqual(validity(6)["from"], "9223372036854775808")
        XCTAssertEqual(validity(6)["notBefore"], "9223372036854775808")
        XCTAssertEqual(validity(9)["issuedAt"], "9223372036854775808")
        XCTAssertEqual(validity(11)["issuedAt"], "1970-01-01T00:00:00Z")
        XCTAssertNil(objects[3]["validity"], "malformed claims are not shown")
        XCTAssertTrue(run.lines[13].contains("\"trips\":18446744073709551615"), run.lines[13])
        XCTAssertEqual(objects[14]["number"] as? String, "330114000001")

        // The officer's lines: the same values, every line printed.
        let human = try permit(["verify", "--file", path("times.txt"), "--lang", "en"] + trustFlags)
        XCTAssertEqual(human.status, 1, human.stderr)
        XCTAssertEqual(human.lines.count, cases.count, human.stderr)
        for (i, line) in human.lines.enumerated() { XCTAssertTrue(line.hasPrefix("[\(i + 1)] "), line) }
        if human.lines.count == cases.count {
            XCTAssertTrue(human.lines[2].hasPrefix("[3] ✅ PASS"), human.lines[2])
            XCTAssertTrue(human.lines[2].contains("valid 2025-12-06 to 18446744073709551615 (UTC+8)"), human.lines[2])
            XCTAssertTrue(human.lines[6].contains("valid 9223372036854775808 to 18446744073709551615 (UTC+8)"), human.lines[6])
        }

        // Only the valid ones: exit 0.
        let valid = zip(cases, texts).filter { $0.0.reason == nil }.map(\.1)
        try (valid.joined(separator: "\n") + "\n").write(to: url("valid-times.txt"), atomically: true, encoding: .utf8)
        let allValid = try permit(["verify", "--json", "--file", path("valid-times.txt")] + trustFlags)
        XCTAssertEqual(allValid.status, 0, allValid.stderr)
        XCTAssertEqual(try allValid.json().map { $0["outcome"] as? String }, Array(repeating: "valid", count: valid.count))
    }

    func testStandardInputAndDataDirectoryDefaults() throws {
        // The data directory's trust list, root and revocations.cose are used without flags.
        let run = try permit(["verify", "-", "--json", "--at", "2025-12-10"], stdin: payloads.joined(separator: "\n") + "\n", home: dir.path)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(try run.json().map { $0["reason"] as? String }, [nil, "unknownKey", "revoked", "unknownPrefix"])
        let one = try permit(["verify", "-", "--at", "2025-12-10", "--plate", "浙A·12345"], stdin: payloads[0] + "\n", home: dir.path)
        XCTAssertEqual(one.status, 0, one.stdout + one.stderr)
        let plate = try permit(["verify", "-", "--at", "2025-12-10", "--plate", "沪B00000", "--json"], stdin: payloads[0], home: dir.path)
        XCTAssertEqual(plate.status, 1)
        XCTAssertEqual(try plate.json().first?["reason"] as? String, "plateMismatch")
        let expired = try permit(["verify", payloads[0], "--at", "2025-12-20", "--json"], home: dir.path)
        XCTAssertEqual(expired.status, 1)
        XCTAssertEqual(try expired.json().first?["reason"] as? String, "expired")
        let stale = try permit(["verify", payloads[0], "--at", "2026-01-05T12:00:00+08:00", "--skew", "0", "--json"], home: dir.path)
        XCTAssertEqual(try stale.json().first?["reason"] as? String, "expired")
        XCTAssertEqual((try stale.json().first?["warnings"] as? [[String: Any]])?.compactMap { $0["code"] as? String },
                       ["trustListStale", "revocationListStale"])
    }

    func testCouldNotCheckExitsTwo() throws {
        // No trust list.
        let none = try permit(["verify", payloads[0], "--json"])
        XCTAssertEqual(none.status, 2)
        XCTAssertEqual(((try none.json().first?["errors"] as? [[String: Any]])?.first)?["code"] as? String, "verify.noTrustList")
        // An altered trust list.
        var bytes = try Data(contentsOf: url("trust-list.cose"))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: url("altered.cose"))
        let altered = try permit(["verify", payloads[0], "--trust", path("altered.cose"), "--root", path("root.pub.pem")])
        XCTAssertEqual(altered.status, 2)
        XCTAssertTrue(altered.stderr.contains("not usable"), altered.stderr)
        // Signed by another key than the pinned root.
        try Data(world.qiantangList.signed(by: world.suzhou)).write(to: url("other.cose"))
        XCTAssertEqual(try permit(["verify", payloads[0], "--trust", path("other.cose"), "--root", path("root.pub.pem")]).status, 2)
        // Unsigned: the bare JSON.
        try JSONEncoder().encode(world.qiantangList).write(to: url("unsigned.cose"))
        XCTAssertEqual(try permit(["verify", payloads[0], "--trust", path("unsigned.cose"), "--root", path("root.pub.pem")]).status, 2)
        // A revocation list signed by a stranger.
        let forged = RevocationList(authority: "330114", sequence: 9, issuedAt: T.listIssued, nextUpdate: T.listNext, revoked: [])
        try Data(forged.signed(by: .generate(.edDSA))).write(to: url("forged.cose"))
        XCTAssertEqual(try permit(["verify", payloads[0], "--revocations", path("forged.cose")] + trustFlags).status, 2)
        // An image with no readable code (or, until the scanner is merged, none readable at all).
        try Data("not an image".utf8).write(to: url("photo.png"))
        let image = try permit(["verify", "--image", path("photo.png"), "--json"] + trustFlags)
        XCTAssertEqual(image.status, 2)
        XCTAssertEqual(try image.json().first?["outcome"] as? String, "error")
        XCTAssertEqual(try image.json().first?["reason"] as? String, "unreadable")
        // Usage errors.
        XCTAssertEqual(try permit(["verify", payloads[0], "--at", "yesterday"] + trustFlags.prefix(4)).status, 2)
        XCTAssertEqual(try permit(["verify", payloads[0], "--skew", "-5"] + trustFlags).status, 2)
    }

    func testTrustMergeAndShow() throws {
        try world.suzhou.publicKey.pem.write(toFile: path("suzhou-root.pub.pem"), atomically: true, encoding: .utf8)
        let suzhouRoot = PrivateKey.generate(.edDSA)
        try suzhouRoot.publicKey.pem.write(toFile: path("suzhou-root.pub.pem"), atomically: true, encoding: .utf8)
        try Data(world.suzhouList.signed(by: suzhouRoot)).write(to: url("suzhou.cose"))
        let national = PrivateKey.generate(.edDSA)
        try national.save(path: path("national.pem"))
        try national.publicKey.pem.write(toFile: path("national.pub.pem"), atomically: true, encoding: .utf8)

        // Each list against its own root; the wrong pairing is refused.
        let wrong = try permit(["trust", "merge", path("trust-list.cose"), path("suzhou.cose"), "--list-root", path("root.pub.pem"),
                                "--root-key", path("national.pem"), "-o", path("national.cose")])
        XCTAssertEqual(wrong.status, 2, wrong.stdout)
        let merge = try permit(["trust", "merge", path("trust-list.cose"), path("suzhou.cose"),
                                "--list-root", path("root.pub.pem"), "--list-root", path("suzhou-root.pub.pem"),
                                "--root-key", path("national.pem"), "-o", path("national.cose"), "--json"])
        XCTAssertEqual(merge.status, 0, merge.stderr)
        let summary = try merge.json().first!
        XCTAssertEqual(summary["sequence"] as? Int, 8)
        XCTAssertEqual(summary["keys"] as? Int, 2)
        XCTAssertEqual(summary["authorities"] as? Int, 2)

        let suzhouPermit = try PermitSealer(key: world.suzhou).seal(sampleClaims(number: "320508000042")).text
        XCTAssertEqual(try permit(["verify", suzhouPermit] + trustFlags).status, 1, "not trusted by Qiantang's own list")
        let ok = try permit(["verify", suzhouPermit, "--trust", path("national.cose"), "--root", path("national.pub.pem"), "--at", "2025-12-10", "--lang", "en"])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("Gusu District Transport Bureau"), ok.stdout)

        let show = try permit(["trust", "show", path("national.cose"), "--root", path("national.pub.pem"), "--json", "--at", "2025-12-10"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let report = try show.json().first!
        XCTAssertEqual(report["signature"] as? String, "verified")
        XCTAssertEqual(report["stale"] as? Bool, false)
        XCTAssertEqual((report["keys"] as? [[String: Any]])?.compactMap { $0["authority"] as? String }, ["330114", "320508"])
        XCTAssertEqual((report["keys"] as? [[String: Any]])?.compactMap { $0["state"] as? String }, ["signing", "signing"])
        let human = try permit(["trust", "show", path("national.cose"), "--lang", "en"])
        XCTAssertEqual(human.status, 0)
        XCTAssertTrue(human.stdout.contains("not checked"), human.stdout)
        let bad = try permit(["trust", "show", path("national.cose"), "--root", path("root.pub.pem")])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stdout.contains("does NOT verify"), bad.stdout)
        // --trust-inputs accepts without roots, and --sequence is honoured.
        let trusted = try permit(["trust", "merge", path("trust-list.cose"), path("suzhou.cose"), "--trust-inputs", "--sequence", "40",
                                  "--root-key", path("national.pem"), "-o", path("national2.cose"), "--json"])
        XCTAssertEqual(trusted.status, 0, trusted.stderr)
        XCTAssertEqual(try trusted.json().first?["sequence"] as? Int, 40)
        XCTAssertEqual(try permit(["trust", "merge", path("trust-list.cose"), "--root-key", path("national.pem"), "-o", path("x.cose")]).status, 2,
                       "neither --list-root nor --trust-inputs is a usage error")
    }
}
