import Foundation
import PermitTestSupport
import XCTest

/// `permit authority add` and `list`, and `--authority` on the local verbs: two authorities in
/// one data directory (and in one PostgreSQL database), through the binary.
extension CLITests {
    func testTwoAuthoritiesInOneDataDirectory() throws {
        try twoAuthorities(database: nil)
    }

    func testTwoAuthoritiesInOnePostgreSQLDatabase() throws {
        try twoAuthorities(database: try XCTUnwrap(try StoreKind.postgres.newDatabase()))
    }

    private func twoAuthorities(database: String?) throws {
        let db = database.map { ["--database", $0] } ?? []
        func run(_ args: [String]) throws -> Run {
            let process = args + db
            return try permitArray(process)
        }
        let made = try run(["init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000", "--json"])
        XCTAssertEqual(made.status, 0, made.stdout + made.stderr)
        let added = try run(["authority", "add", "--code", "330106", "--name", "杭州市西湖区交通运输局", "--phone", "0571-87000000", "--json"])
        XCTAssertEqual(added.status, 0, added.stdout + added.stderr)
        let result = try XCTUnwrap(try added.json() as? [String: String])
        let second = home.appendingPathComponent("authorities/330106")
        XCTAssertEqual(result["authority"], "330106")
        XCTAssertEqual(result["adminKey"], second.appendingPathComponent("admin-key.pem").path)
        XCTAssertEqual(result["issuerKey"], second.appendingPathComponent("issuer-key.pem").path)
        XCTAssertEqual(result["dataDirectory"], second.path)
        XCTAssertEqual(result["rootKey"], home.appendingPathComponent("root-key.pem").path)
        XCTAssertEqual(result["trustList"], home.appendingPathComponent("trust-list.cose").path)
        XCTAssertNotNil(result["database"])
        if let database {
            XCTAssertEqual(try TestPostgres.shared().psql(database: TestPostgres.databaseName(of: database), "SELECT code FROM a330106.authority"), "330106")
        }
        // Again is refused, exit 2.
        let again = try run(["authority", "add", "--code", "330106", "--name", "x", "--phone", "0571-87000000", "--json"])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stdout.contains("\"code\":\"authority.exists\""), again.stdout)

        let listed = try XCTUnwrap(try run(["authority", "list", "--json"]).json() as? [[String: Any]])
        XCTAssertEqual(listed.map { $0["code"] as? String }, ["330114", "330106"])
        XCTAssertEqual(listed[1]["dataDirectory"] as? String, second.path)

        // Two authorities and no --authority: exit 2, naming both.
        let unnamed = try run(["list", "--json"])
        XCTAssertEqual(unnamed.status, 2)
        XCTAssertTrue(unnamed.stdout.contains("\"code\":\"authority.choose\""), unnamed.stdout + unnamed.stderr)
        XCTAssertTrue(unnamed.stdout.contains("330114") && unnamed.stdout.contains("330106"), unnamed.stdout)
        let unknown = try run(["list", "--authority", "110101", "--json"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stdout.contains("\"code\":\"authority.unknown\""), unknown.stdout)

        // The same firm and the same application (the same reference) with each authority.
        let line = try XCTUnwrap(try exampleLines().first)
        let one = try file("one.jsonl", line + "\n")
        var payloads: [String] = []
        for (code, adminKey) in [("330114", admin), ("330106", result["adminKey"]!)] {
            let firm = try run(["applicant", "add", "--authority", code, "--credit-code", Self.firmA, "--name", "杭州钱塘物流有限公司",
                                "--generate", key("firm-\(code).pem"), "--admin-key", adminKey])
            XCTAssertEqual(firm.status, 0, firm.stdout + firm.stderr)
            let approver = try run(["approver", "add", "--authority", code, "--department", "HEALTH", "--name", "审批人",
                                    "--generate", key("HEALTH-\(code).pem"), "--admin-key", adminKey])
            XCTAssertEqual(approver.status, 0, approver.stdout + approver.stderr)
            let applied = try run(["apply", "--authority", code, "--key", key("firm-\(code).pem"), one, "--json"])
            XCTAssertEqual(applied.status, 0, applied.stdout + applied.stderr)
            XCTAssertEqual(try applied.jsonLines().first?["id"] as? String, "A000001")
            let approved = try run(["approve", "--authority", code, "--department", "HEALTH", "--key", key("HEALTH-\(code).pem"), "A000001", "--json"])
            XCTAssertEqual(approved.status, 0, approved.stdout + approved.stderr)
            XCTAssertEqual(try approved.jsonLines().first?["permitNumber"] as? String, code + "000001", "each authority's serials start at 1")
            let exported = try run(["export", code + "000001", "--authority", code, "--format", "payload"])
            XCTAssertEqual(exported.status, 0, exported.stderr)
            payloads.append(exported.stdout.trimmingCharacters(in: .newlines))
        }
        // A firm key of one authority is not registered at the other: refused whole, exit 2.
        let crossed = try run(["apply", "--authority", "330106", "--key", key("firm-330114.pem"), one, "--json"])
        XCTAssertEqual(crossed.status, 2, crossed.stdout + crossed.stderr)
        XCTAssertTrue(crossed.stdout.contains("\"code\":\"auth.notApplicant\""), crossed.stdout)
        // Both permits verify against the deployment's one trust list (DATA/trust-list.cose, DATA/root.pub.pem).
        for payload in payloads {
            let verified = try permitArray(["verify", payload, "--at", "2026-12-20", "--json"])
            XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
        }
        let trust = try XCTUnwrap(try run(["trust", "export", "--json"]).json() as? [String: Any])
        XCTAssertEqual((trust["keys"] as? [String])?.count, 2)
        XCTAssertEqual(try run(["audit", "verify", "--authority", "330106", "--json"]).status, 0)
        XCTAssertEqual(try run(["audit", "verify", "--authority", "330114", "--json"]).status, 0)
    }
}
