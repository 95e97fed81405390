import Foundation
import XCTest

/// The CLI over the service layer: several permits revoked by one signed request, listings in
/// pages, refusals in Chinese, and a CLI target that cannot reach the store.
extension CLITests {
    /// Five applications of firm A's first example load, each on its own plate, all approved.
    private func issueFive() throws -> [String] {
        try setUpAuthority(approvers: ["HEALTH"])
        let line = try exampleLines()[0]
        let fleet = (1...5).map { n in
            line.replacingOccurrences(of: "QT-2026-000001", with: "QT-PAGE-\(n)").replacingOccurrences(of: "浙K5835R", with: "浙K5835\(n)")
        }.joined(separator: "\n") + "\n"
        XCTAssertEqual(try permit("apply", "--key", key("firmA.pem"), try file("five.jsonl", fleet)).status, 0)
        let approved = try permit("approve", "--department", "HEALTH", "--key", key("HEALTH.pem"), "--all", "--json").jsonLines()
        return approved.compactMap { $0["permitNumber"] as? String }
    }

    func testRevokeTakesSeveralNumbersInOneSignedRequest() throws {
        let numbers = try issueFive()
        XCTAssertEqual(numbers.count, 5)
        let run = try permit("revoke", numbers[0], numbers[1], "999999999999", "--reason", "路线关闭", "--admin-key", admin, "--json")
        XCTAssertEqual(run.status, 1, run.stderr)
        let lines = try run.jsonLines()
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines.compactMap { $0["number"] as? String }, [numbers[0], numbers[1]])
        XCTAssertEqual(((lines[2]["errors"] as? [[String: Any]])?.first?["code"]) as? String, "permit.notFound")
        // --from FILE, and the ones already revoked are reported, not revoked twice.
        let list = try file("numbers.txt", numbers.joined(separator: "\n") + "\n")
        let again = try permit("revoke", "--from", list, "--reason", "第二批", "--admin-key", admin, "--json").jsonLines()
        XCTAssertEqual(again.filter { $0["errors"] == nil }.count, 3)
        XCTAssertEqual(again.compactMap { (($0["errors"] as? [[String: Any]])?.first?["code"]) as? String }, ["permit.alreadyRevoked", "permit.alreadyRevoked"])
        let revocations = try XCTUnwrap(try permit("revocations", "list", "--json").json() as? [[String: Any]])
        XCTAssertEqual(revocations.count, 5)
        XCTAssertEqual(try permit("audit", "verify").status, 0)
    }

    func testListingsPageWithACursorOnStandardError() throws {
        _ = try issueFive()
        let first = try permit("list", "--limit", "2", "--json")
        let rows = try XCTUnwrap(try first.json() as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["id"] as? String }, ["A000001", "A000002"])
        let cursor = try XCTUnwrap(first.stderr.split(separator: "\n").first { $0.hasPrefix("next: ") }).dropFirst(6)
        let second = try XCTUnwrap(try permit("list", "--limit", "2", "--after", String(cursor), "--json").json() as? [[String: Any]])
        XCTAssertEqual(second.compactMap { $0["id"] as? String }, ["A000003", "A000004"])
        let all = try XCTUnwrap(try permit("list", "--all", "--json").json() as? [[String: Any]])
        XCTAssertEqual(all.count, 5)
        XCTAssertFalse(try permit("list", "--all", "--json").stderr.contains("next:"))
        let bad = try permit("list", "--after", "not-a-cursor", "--json")
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stdout.contains("page.cursor"), bad.stdout)
        XCTAssertEqual(try permit("list", "--limit", "0").status, 2)
    }

    func testRefusalsSpeakChineseWithLangZh() throws {
        try setUpAuthority(approvers: ["HEALTH", "POSTAL"])
        let path = try file("one.jsonl", try exampleLines()[0] + "\n")
        XCTAssertEqual(try permit("apply", "--key", key("firmA.pem"), path).status, 0)
        let zh = try permit("approve", "--department", "HEALTH", "--key", key("POSTAL.pem"), "A000001", "--lang", "zh")
        XCTAssertEqual(zh.status, 2)
        XCTAssertTrue(zh.stderr.contains("不是该部门已登记的审批人密钥"), zh.stderr)
        let en = try permit("approve", "--department", "HEALTH", "--key", key("POSTAL.pem"), "A000001", "--lang", "en")
        XCTAssertTrue(en.stderr.contains("is not a registered approver of HEALTH"), en.stderr)
    }

    /// The CLI reaches the workflow only through `PermitService`: its target neither depends on
    /// nor imports the store or GRDB, and it compiles with MemberImportVisibility, so no store
    /// member is reachable through a type the workflow hands it. (GRDB is still linked into the
    /// binary, through the local service's workflow.)
    func testThePermitTargetDoesNotReachTheStore() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let start = try XCTUnwrap(manifest.range(of: ".executableTarget(name: \"permit\""))
        let end = try XCTUnwrap(manifest.range(of: ".executableTarget(name: \"permit-bench\""))
        let target = String(manifest[start.lowerBound..<end.lowerBound])
        XCTAssertFalse(target.contains("\"PermitStore\""), target)
        XCTAssertFalse(target.contains("GRDB"), target)
        XCTAssertTrue(target.contains("MemberImportVisibility"), target)
        let sources = Self.root.appendingPathComponent("Sources/permit")
        for name in try FileManager.default.contentsOfDirectory(atPath: sources.path) where name.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(name), encoding: .utf8)
            XCTAssertFalse(text.contains("import PermitStore"), name)
            XCTAssertFalse(text.contains("import GRDB"), name)
        }
    }
}
