import Foundation
@testable import PermitStorePostgres
import PermitTestSupport
import XCTest

/// `--database URL` on the command line: `init` makes the schema and the authority in the
/// PostgreSQL database and the keys in the data directory, and the local verbs work on it.
extension CLITests {
    func testInitAndTheLocalVerbsRunOnAPostgreSQLDatabase() throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let run = try permit("init", "--database", url, "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(try run.json() as? [String: String])
        XCTAssertEqual(object["database"], url)
        XCTAssertFalse(FileManager.default.fileExists(atPath: home.appendingPathComponent("permit.sqlite").path), "no SQLite file")
        let db = TestPostgres.databaseName(of: url)
        XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT code FROM authority"), "330114")
        XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT count(*) FROM schemaMigration"), String(PostgresSchema.migrations.count))

        let firm = try permit("applicant", "add", "--database", url, "--credit-code", Self.firmA, "--name", "杭州钱塘物流有限公司",
                              "--generate", key("firmA.pem"), "--admin-key", admin)
        XCTAssertEqual(firm.status, 0, firm.stderr)
        let line = try XCTUnwrap(try exampleLines().first)
        let applied = try permit("apply", "--database", url, "--key", key("firmA.pem"), file("one.jsonl", line + "\n"), "--json")
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT count(*) FROM application"), "1")
        // Without --database the directory has no database of its own.
        XCTAssertEqual(try permit("list", "--json").status, 2)
        let verified = try permit("audit", "verify", "--database", url, "--json")
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)

        // The same deployment is not made twice; a URL that cannot be used is named.
        let again = try permit("init", "--database", url, "--data-dir", key("other"), "--authority", "330114", "--name", "x",
                               "--phone", "0571-86000000", "--json")
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stdout.contains("\"code\":\"init.exists\""), again.stdout)
        let bad = try permit("list", "--database", "postgres://permit:hunter2@db.internal/", "--json")
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stdout.contains("\"code\":\"database.url\""), bad.stdout + bad.stderr)
        XCTAssertFalse((bad.stdout + bad.stderr).contains("hunter2"), "the password is never printed")
    }
}
