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
