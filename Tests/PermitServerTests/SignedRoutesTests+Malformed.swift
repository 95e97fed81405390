import Foundation
import NIOCore
import NIOHTTP1
import PermitAPI
import PermitModel
import PermitSeal
import XCTest

/// Bodies a registered firm or approver signs correctly but that are malformed: each gets a 4xx
/// problem+json, so the checks run past authentication, and the server stays up. And two
/// machines deciding the same application at once: one decision is recorded.
extension SignedRoutesTests {
    func testSignedButMalformedBodiesAre4xxNeverA5xx() async throws {
        let firm = try PrivateKey.load(path: work.appendingPathComponent("firm-\(Self.firms[0])/key.pem").path)
        let path = "/v1/authorities/\(Self.authority)/applications"
        let json = "application/json"
        let before = try await storeState()

        // (what, body, content type, the status it must get)
        var cases: [(String, [UInt8], String, Int)] = [
            ("not JSON", Array("{\"items\": [".utf8), json, 400),
            ("the wrong shape", Array(#"{"items": 5}"#.utf8), json, 400),
            ("invalid UTF-8", [0x7B, 0x22, 0x69, 0x74, 0x65, 0x6D, 0x73, 0x22, 0x3A, 0x5B, 0x22, 0xFF, 0xFE, 0x22, 0x5D, 0x7D], json, 400),
            ("nested a million deep", Array(String(repeating: "[", count: 1_000_000).utf8), json, 400),
            ("duplicate keys", Array(#"{"items": [], "items": []}"#.utf8), json, 400),
            ("a NUL byte", Array("{\"items\": [], \u{0}}".utf8), json, 400),
            ("a huge string", Array((#"{"items": [], "dryRun": ""# + String(repeating: "x", count: 4 << 20) + #""}"#).utf8), json, 400),
            ("the wrong content type", Array(#"{"items": []}"#.utf8), "text/csv", 415),
            ("an item whose submission is not COSE", Array(#"{"items": [{"index": 0, "submission": "AAAA"}]}"#.utf8), json, 400),
        ]
        // A submission signed by the firm over bytes that are not an application.
        let junk = COSESign1.sign(payload: Array("not an application".utf8), with: firm).encoded()
        cases.append(("a signed submission that is not a submission",
                      Array(try WireJSON.encode(Wire.ApplyRequest(items: [SubmissionItem(index: 0, reference: "JUNK-1", application: nil, problems: nil,
                                                                                         submission: Data(junk))], dryRun: false))), json, 200))
        for (name, body, type, status) in cases {
            let reply = try await send("POST", path, body: body, contentType: type, key: firm)
            XCTAssertEqual(reply.status, status, "\(name): \(reply.text.prefix(300))")
            if reply.status != 200 {
                XCTAssertEqual(reply.header("Content-Type"), "application/problem+json", name)
                let object = try XCTUnwrap(try reply.json() as? [String: Any], name)
                XCTAssertNotNil(object["code"] as? String, name)
            } else {
                // A batch answers per item: the item is refused with its reason.
                let items = try XCTUnwrap(try reply.json() as? [[String: Any]], name)
                XCTAssertEqual(items.count, 1, name)
                XCTAssertNotNil(items.first?["errors"], "\(name): \(reply.text)")
            }
        }
        // Over the limit: 413 before the body is read.
        let big = try await send("POST", path, body: Array(repeating: UInt8(ascii: " "), count: (8 << 20) + 1), contentType: json, key: firm)
        XCTAssertEqual(big.status, 413, big.text)
        let health = try await client.send(base + "/healthz")
        XCTAssertEqual(health.status, 200)
        let after = try await storeState()
        XCTAssertEqual(after.events, before.events, "a malformed request wrote to the audit trail")
    }

    func testTwoMachinesDecidingTheSameApplicationRecordOneDecision() async throws {
        // One application for HEALTH alone (the first example line of the first firm routes there).
        let source = try String(contentsOf: work.appendingPathComponent("firm-\(Self.firms[0])/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0].replacingOccurrences(of: "\"QT-", with: "\"RACE-")
        try (source + "\n").write(to: work.appendingPathComponent("firm-\(Self.firms[0])/race.jsonl"), atomically: true, encoding: .utf8)
        let applied = try jsonLines(try remote("firm-\(Self.firms[0])", ["apply", "--key", "key.pem", "race.jsonl", "--json"]))
        let id = try XCTUnwrap(applied.first?["id"] as? String, "\(applied)")
        let departments = try XCTUnwrap(applied.first?["departments"] as? [String])
        let d = departments[0]

        // Two copies of the approver's directory: two machines with the same key.
        for machine in ["one", "two"] {
            let dir = work.appendingPathComponent("dept-\(d)-\(machine)")
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("key.pem"))
            try FileManager.default.copyItem(at: work.appendingPathComponent("dept-\(d)/key.pem"), to: dir.appendingPathComponent("key.pem"))
        }
        let base = self.base
        async let first = Task.detached { try Self.remoteIn("dept-\(d)-one", ["approve", "--department", d, "--key", "key.pem", id, "--json"], base: base) }.value
        async let second = Task.detached { try Self.remoteIn("dept-\(d)-two", ["approve", "--department", d, "--key", "key.pem", id, "--json"], base: base) }.value
        let runs = try await [first, second]
        let outcomes = runs.map { $0.status }.sorted()
        XCTAssertEqual(outcomes, [0, 1], runs.map { $0.text + $0.stderr }.joined(separator: "\n"))
        let refused = try XCTUnwrap(runs.first { $0.status == 1 })
        XCTAssertTrue(refused.text.contains("decision.alreadyDecided") || refused.text.contains("application.notPending"), refused.text)

        let admin = try PrivateKey.load(path: home.appendingPathComponent("admin-key.pem").path)
        let history = try await send("GET", "/v1/authorities/\(Self.authority)/applications/\(id)", key: admin)
        let decisions = try XCTUnwrap((try history.json() as? [String: Any])?["decisions"] as? [[String: Any]])
        XCTAssertEqual(decisions.filter { $0["department"] as? String == d }.count, 1, history.text)
    }

    /// `remote` for a detached task: the server URL passed in, nothing read from the test case.
    static func remoteIn(_ party: String, _ args: [String], base: String) throws -> Run {
        let dir = work!.appendingPathComponent(party)
        return try runProcess(Build.permit, args + ["--server", base], environment: [
            "PERMIT_NOW": now, "PERMIT_HOME": dir.appendingPathComponent("no-data-here").path,
        ], directory: dir, check: false)
    }
}

/// The same verbs, locally on the data directory and over the server, give the same output.
extension SignedRoutesTests {
    func testVerbsGiveTheSameOutputLocallyAndOverTheServer() throws {
        let admin = home.appendingPathComponent("admin-key.pem").path
        // Something to show: one application of the second firm, under its own reference.
        let line = try String(contentsOf: work.appendingPathComponent("firm-\(Self.firms[1])/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0].replacingOccurrences(of: "\"reference\":\"", with: "\"reference\":\"SAME-")
        try (line + "\n").write(to: work.appendingPathComponent("firm-\(Self.firms[1])/same.jsonl"), atomically: true, encoding: .utf8)
        let applied = try jsonLines(try remote("firm-\(Self.firms[1])", ["apply", "--key", "key.pem", "same.jsonl", "--json"]))
        let id = try XCTUnwrap(applied.first?["id"] as? String, "\(applied)")

        let verbs: [[String]] = [
            ["list", "--all", "--json"], ["list", "--limit", "2"], ["show", id], ["show", id, "--json"],
            ["queue", "--department", "HEALTH", "--json"], ["report", "--json"], ["audit", "log", "--limit", "5", "--json"],
            ["revocations", "list", "--json"], ["blacklist", "list"], ["approver", "list", "--json"], ["applicant", "list"],
            ["show", "A999999"],
        ]
        for verb in verbs {
            let local = try runProcess(Build.permit, verb, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Self.now], check: false)
            let remote = try runProcess(Build.permit, verb + ["--admin-key", admin, "--server", base], environment: ["PERMIT_NOW": Self.now], check: false)
            XCTAssertEqual(remote.status, local.status, "\(verb): \(remote.stderr)")
            XCTAssertEqual(remote.text, local.text, "\(verb)")
            XCTAssertEqual(remote.stderr.replacingOccurrences(of: " --admin-key \(admin) --server \(base)", with: ""), local.stderr, "\(verb)")
        }
        // A refusal: an approver's key for another department, the same message and exit code.
        let wrong = work.appendingPathComponent("dept-HEALTH/key.pem").path
        let args = ["approve", "--department", "TRANSPORT", "--key", wrong, id]
        let local = try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Self.now], check: false)
        let remote = try runProcess(Build.permit, args + ["--server", base], environment: ["PERMIT_NOW": Self.now], check: false)
        XCTAssertEqual(local.status, 2)
        XCTAssertEqual(remote.status, local.status)
        XCTAssertEqual(remote.stderr, local.stderr)
    }
}
