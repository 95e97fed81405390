import Foundation
import XCTest
import PermitTestSupport

/// The lifecycle verbs through the binary: revoke → revocations export → verify says revoked;
/// audit verify's exit codes and JSON after tampering; blacklist refusals; report; backup.
extension CLITests {
    func issueFirstExample() throws -> String {
        try setUpAuthority(approvers: ["HEALTH"])
        let path = try file("one.jsonl", try exampleLines()[0] + "\n")
        XCTAssertEqual(try permit("apply", "--key", key("firmA.pem"), path).status, 0)
        let approve = try permit("approve", "--department", "HEALTH", "--key", key("HEALTH.pem"), "--all", "--json")
        XCTAssertEqual(approve.status, 0, approve.stderr)
        return try XCTUnwrap(try approve.jsonLines().first?["permitNumber"] as? String)
    }

    func testRevokeExportAndTheCheckpointSaysRevoked() throws {
        let number = try issueFirstExample()
        let payload = try permit("export", number, "--format", "payload").stdout.trimmingCharacters(in: .newlines)
        let validFrom = try XCTUnwrap((try permit("show", number, "--json").json() as? [String: Any])?["validFrom"] as? String)
        let at = validFrom + "T10:00:00+08:00"
        XCTAssertEqual(try permit("verify", payload, "--at", at).status, 0)
        let refused = try permit("revoke", number, "--reason", "超载运输", "--admin-key", key("firmA.pem"), "--json")
        XCTAssertEqual(refused.status, 2)
        let revoke = try permit("revoke", number, "--reason", "超载运输", "--admin-key", admin, "--json")
        XCTAssertEqual(revoke.status, 0, revoke.stderr)
        XCTAssertEqual(try revoke.jsonLines().first?["reason"] as? String, "超载运输")
        XCTAssertEqual(try permit("revoke", number, "--reason", "again", "--admin-key", admin).status, 1)
        let export = try permit("revocations", "export", "--valid-days", "30", "--json")
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertEqual(try export.jsonLines().first?["entries"] as? Int, 1)
        XCTAssertEqual(try permit("revocations", "export", "--json").jsonLines().first?["sequence"] as? Int, 2)
        // verify reads DATA/revocations.cose by default.
        let verdict = try permit("verify", payload, "--at", at, "--json")
        XCTAssertEqual(verdict.status, 1)
        XCTAssertEqual(try verdict.jsonLines().first?["reason"] as? String, "revoked", verdict.stdout)
        let revokedRows = try XCTUnwrap(try permit("list", "--state", "revoked", "--json").json() as? [[String: Any]])
        XCTAssertEqual(revokedRows.count, 1)
        XCTAssertEqual(revokedRows.first?["permitState"] as? String, "revoked")
        XCTAssertEqual(revokedRows.first?["state"] as? String, "issued")
        let shown = try XCTUnwrap((try permit("show", number, "--json").json() as? [String: Any])?["permit"] as? [String: Any])
        XCTAssertEqual(shown["state"] as? String, "revoked")
        XCTAssertEqual(shown["revocationReason"] as? String, "超载运输")
        XCTAssertEqual((try permit("list", "--state", "active", "--json").json() as? [Any])?.count, 0)
        XCTAssertEqual(try permit("list", "--state", "bogus").status, 2)
    }

    func testAuditVerifyExitsOneAndNamesTheRowAfterTampering() throws {
        let number = try issueFirstExample()
        XCTAssertEqual(try permit("audit", "checkpoint", "-o", key("cp.cose")).status, 0)
        let clean = try permit("audit", "verify", "--checkpoint", key("cp.cose"), "--json")
        XCTAssertEqual(clean.status, 0, clean.stdout)
        XCTAssertEqual(try clean.jsonLines().first?["ok"] as? Bool, true)
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [home.appendingPathComponent("permit.sqlite").path, "UPDATE permit SET signatureHash = '00000000000000000000000000000000'"]
        try sqlite.run()
        sqlite.waitUntilExit()
        let bad = try permit("audit", "verify", "--json")
        XCTAssertEqual(bad.status, 1)
        let finding = try XCTUnwrap((try bad.jsonLines().first?["findings"] as? [[String: Any]])?.first)
        XCTAssertEqual(finding["table"] as? String, "permit")
        XCTAssertEqual(finding["id"] as? String, number)
        XCTAssertTrue(try permit("audit", "verify").stdout.contains("[permit \(number)]"))
        XCTAssertGreaterThan((try permit("audit", "log", "--subject", number, "--json").json() as? [Any])?.count ?? 0, 2)
    }

    func testBlacklistRefusesTheFirmReportAndBackup() throws {
        _ = try issueFirstExample()
        let add = try permit("blacklist", "add", "--credit-code", Self.firmA, "--reason", "伪造证明", "--revoke-active", "--admin-key", admin, "--json")
        XCTAssertEqual(add.status, 0, add.stderr)
        XCTAssertEqual((try add.jsonLines().first?["revoked"] as? [String])?.count, 1)
        XCTAssertEqual(try permit("blacklist", "add", "--plate", "浙A1", "--credit-code", Self.firmA, "--reason", "x", "--admin-key", admin).status, 2)
        let path = try file("two.jsonl", try exampleLines()[7] + "\n")
        let apply = try permit("apply", "--key", key("firmA.pem"), path, "--json")
        XCTAssertEqual(apply.status, 1)
        let error = try XCTUnwrap((try apply.jsonLines().first?["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(error["code"] as? String, "blacklist.creditCode")
        XCTAssertEqual(error["field"] as? String, "applicant.creditCode")
        let list = try XCTUnwrap(try permit("blacklist", "list", "--json").json() as? [[String: Any]])
        XCTAssertEqual(list.first?["reason"] as? String, "伪造证明")
        let id = try XCTUnwrap(list.first?["id"] as? Int)
        XCTAssertEqual(try permit("blacklist", "remove", String(id), "--reason", "appeal", "--admin-key", admin).status, 0)
        XCTAssertEqual(try permit("blacklist", "remove", String(id), "--reason", "appeal", "--admin-key", admin).status, 1)

        let report = try XCTUnwrap(try permit("report", "--json").json() as? [String: Any])
        XCTAssertEqual(report["permits"] as? Int, 1)
        XCTAssertTrue(try permit("report").stdout.contains("HEALTH"))
        XCTAssertEqual(try permit("backup", "-o", key("backup.sqlite")).status, 0)
        XCTAssertEqual(try permit("backup", "-o", key("backup.sqlite")).status, 2, "a backup never overwrites")
    }
}
