import Foundation
import XCTest

/// A store that cannot be read while a signed request is authenticated: the registered keys are
/// out of reach, which is the store's refusal (503 `store.io`, worth a retry), never a 401 saying
/// the caller's key is not registered. `scripts/soak` found it: while PostgreSQL was down, a
/// registered firm was told `auth.unknownKey`. Here the key table is renamed away under the
/// running server (SQLite, through `sqlite3`), then back.
final class StoreOutageTests: XCTestCase {
    static let now = Build.setUpNow
    static let firm = "91330114MA24WY722X"

    func testKeysThatCannotBeReadAreA503NotAnUnknownKey() throws {
        try Build.requireBinaries()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-outage-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let home = dir.appendingPathComponent("data")
        let key = dir.appendingPathComponent("firm.pem").path
        func local(_ args: String...) throws {
            try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Self.now])
        }
        try local("init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000")
        try local("applicant", "add", "--credit-code", Self.firm, "--name", "企业", "--generate", key,
                  "--admin-key", home.appendingPathComponent("admin-key.pem").path)
        let server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home.path],
                                       environment: ["PERMIT_NOW": Self.now, "LOG_LEVEL": "info"])
        defer { server.stop() }
        func list() throws -> Run {
            try runProcess(Build.permit, ["list", "--key", key, "--server", server.url, "--json"],
                           environment: ["PERMIT_NOW": Self.now, "PERMIT_HOME": dir.appendingPathComponent("no-data-here").path],
                           check: false)
        }
        func sqlite(_ sql: String) throws {
            try runProcess(URL(fileURLWithPath: "/usr/bin/sqlite3"), [home.appendingPathComponent("permit.sqlite").path, sql])
        }
        XCTAssertEqual(try list().status, 0)

        try sqlite("ALTER TABLE partyKey RENAME TO partyKeyAway")
        let refused = try list()
        XCTAssertEqual(refused.status, 2, refused.text)
        XCTAssertTrue((refused.text + refused.stderr).contains("\"code\":\"store.io\""), refused.text + refused.stderr)
        XCTAssertFalse((refused.text + refused.stderr).contains("auth.unknownKey"), refused.text + refused.stderr)
        XCTAssertTrue(server.stderrText.contains("route=/v1/authorities/{code}/applications status=503"), server.stderrText)

        try sqlite("ALTER TABLE partyKeyAway RENAME TO partyKey")
        let again = try list()
        XCTAssertEqual(again.status, 0, again.text + again.stderr)
    }
}
