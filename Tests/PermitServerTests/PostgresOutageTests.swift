import Foundation
import PermitHTTPSignature
import PermitSeal
import PermitTestSupport
import XCTest

/// `permit serve --database` when PostgreSQL gives it no connection (found by scripts/chaos,
/// pool-exhausted): the server's role at its connection limit and the server's own connections
/// gone. A signed request is then a 503 `store.busy` (problem+json) within the store's connection
/// wait: not a 401 `auth.unknownKey` because the key could not be looked up, and not a wait for
/// the pool's minute. Once connections are allowed again, the same key is served.
final class PostgresOutageTests: XCTestCase {
    var work: URL!
    var server: ServerProcess?
    var client: Client?

    override func setUpWithError() throws {
        try Build.requireBinaries()
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-pg-outage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try? await client?.shutdown()
        server?.stop()
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    func testNoConnectionToTheDatabaseIsA503StoreBusyNotA401() async throws {
        let pg = try TestPostgres.shared()
        // A role of its own (not a superuser, so that a connection limit applies to it).
        let role = "outage_\(getpid())", db = "outage_\(getpid())"
        try pg.psql(database: "postgres", "CREATE ROLE \(role) LOGIN")
        try pg.psql(database: "postgres", "CREATE DATABASE \(db) OWNER \(role)")
        let url = "postgres://\(role)@/\(db)?host=\(pg.socketDirectory)"
        let home = work.appendingPathComponent("data").path, firm = work.appendingPathComponent("firm.pem").path
        let env = ["PERMIT_NOW": Build.setUpNow]
        try runProcess(Build.permit, ["init", "--data-dir", home, "--database", url, "--authority", "330114",
                                      "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000"], environment: env)
        try runProcess(Build.permit, ["applicant", "add", "--data-dir", home, "--database", url, "--credit-code", "91330114MA24WY722X",
                                      "--name", "杭州钱塘物流有限公司", "--generate", firm, "--admin-key", home + "/admin-key.pem"], environment: env)
        server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home, "--database", url])
        let base = try XCTUnwrap(server?.url)
        client = Client(readTimeout: 60)
        let before = try await signedGet(base, key: firm)
        XCTAssertEqual(before.status, 200, String(decoding: before.body, as: UTF8.self))

        try pg.psql(database: "postgres", "ALTER ROLE \(role) CONNECTION LIMIT 0")
        try pg.psql(database: "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'")
        let nonces = try pg.psql(database: db, "SELECT COUNT(*) FROM requestNonce")
        let began = Date()
        let refused = try await signedGet(base, key: firm)
        let waited = Date().timeIntervalSince(began)
        XCTAssertEqual(refused.status, 503, String(decoding: refused.body, as: UTF8.self))
        XCTAssertEqual(refused.header("Content-Type"), "application/problem+json")
        let problem = try XCTUnwrap(try refused.json() as? [String: Any])
        XCTAssertEqual(problem["code"] as? String, "store.busy", "\(problem)")
        XCTAssertLessThan(waited, 20, "answered after the connection wait, not the pool's minute")
        XCTAssertEqual(try pg.psql(database: db, "SELECT COUNT(*) FROM requestNonce"), nonces, "nothing written")

        try pg.psql(database: "postgres", "ALTER ROLE \(role) CONNECTION LIMIT -1")
        var after = try await signedGet(base, key: firm)
        for _ in 0..<10 where after.status != 200 {  // the pool tries again after a back-off
            try await Task.sleep(nanoseconds: 500_000_000)
            after = try await signedGet(base, key: firm)
        }
        XCTAssertEqual(after.status, 200, String(decoding: after.body, as: UTF8.self))
    }

    /// A GET of the firm's applications, signed at the server's clock.
    func signedGet(_ base: String, key: String) async throws -> Reply {
        let target = base + "/v1/authorities/330114/applications?limit=5"
        var message = RequestMessage(method: "GET", targetURI: target)
        let created = Int64(ISO8601DateFormatter().date(from: Build.serverNow)!.timeIntervalSince1970)
        try RequestSignature.sign(&message, with: try PrivateKey.load(path: key), created: created)
        return try await XCTUnwrap(client).send(target, headers: message.headerFields.map { ($0.name, $0.value) })
    }
}
