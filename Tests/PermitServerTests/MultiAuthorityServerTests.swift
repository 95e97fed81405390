import Foundation
import PermitTestSupport
import XCTest

/// One `permit serve` hosting two authorities of one data directory (`permit init` and `permit
/// authority add`): both served under their codes, each with its own keys, serials and
/// revocation list, one trust list for both; a key of one authority is unknown at the other.
final class MultiAuthorityServerTests: XCTestCase {
    var work: URL!
    var home: URL { work.appendingPathComponent("data") }
    var server: ServerProcess?
    var client: Client!
    static let codes = ["330114", "330106"]

    override func setUp() async throws {
        try Build.requireBinaries()
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-multi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        client = Client()
    }

    override func tearDown() async throws {
        server?.stop()
        try await client?.shutdown()
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    @discardableResult
    func local(_ args: [String], check: Bool = true) throws -> Run {
        try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Build.setUpNow], check: check)
    }

    /// `permit ARGS --server URL` from the work directory, with no data directory to fall back on.
    @discardableResult
    func remote(_ args: [String], check: Bool = true) throws -> Run {
        try runProcess(Build.permit, args + ["--server", server!.url], environment: [
            "PERMIT_NOW": Build.setUpNow, "PERMIT_HOME": work.appendingPathComponent("no-data-here").path,
        ], directory: work, check: check)
    }

    func key(_ name: String) -> String { work.appendingPathComponent(name).path }

    /// An authority added while the server runs (`permit authority add` beside it) is served
    /// from the first request that names it, without a restart, and listed.
    func testAnAuthorityAddedWhileTheServerRunsIsServed() async throws {
        try local(["init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000"])
        server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home.path], environment: ["PERMIT_NOW": Build.setUpNow])
        let listedBefore = try await client.send(server!.url + "/v1/authorities")
        let before = try XCTUnwrap(try listedBefore.json() as? [[String: Any]])
        XCTAssertEqual(before.map { $0["code"] as? String }, ["330114"])

        let added = try XCTUnwrap(try JSONSerialization.jsonObject(with: try local(["authority", "add", "--code", "330106", "--name", "杭州市西湖区交通运输局",
                                                                                    "--phone", "0571-87000000", "--json"]).stdout) as? [String: String])
        try local(["applicant", "add", "--authority", "330106", "--credit-code", "91330114MA24WY722X", "--name", "杭州钱塘物流有限公司",
                   "--generate", key("firm-330106.pem"), "--admin-key", try XCTUnwrap(added["adminKey"])])
        let line = try XCTUnwrap(try String(contentsOf: Build.root.appendingPathComponent("examples/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n").first)
        try (line + "\n").write(to: work.appendingPathComponent("one.jsonl"), atomically: true, encoding: .utf8)
        let applied = try remote(["apply", "--authority", "330106", "--key", key("firm-330106.pem"), "one.jsonl", "--json"], check: false)
        XCTAssertEqual(applied.status, 0, applied.text + applied.stderr)
        XCTAssertTrue(applied.text.contains("A000001"), applied.text)

        let listedAfter = try await client.send(server!.url + "/v1/authorities")
        let after = try XCTUnwrap(try listedAfter.json() as? [[String: Any]])
        XCTAssertEqual(after.map { $0["code"] as? String }, Self.codes)
        // A code the deployment does not hold stays 404.
        let unknown = try await client.send(server!.url + "/v1/authorities/110101/revocations.cose")
        try assertProblem(unknown, 404, "authority.unknown")
    }

    /// `/readyz` reads every hosted authority's store, and names the one it cannot read: here
    /// an added authority's schema on PostgreSQL, its application table renamed away and back.
    func testReadinessReadsEveryAuthoritysStore() async throws {
        let pg = try TestPostgres.shared()
        let url = try pg.createDatabase()
        try local(["init", "--database", url, "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000"])
        try local(["authority", "add", "--database", url, "--code", "330106", "--name", "杭州市西湖区交通运输局", "--phone", "0571-87000000"])
        server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home.path, "--database", url],
                                   environment: ["PERMIT_NOW": Build.setUpNow])
        let ready = try await client.send(server!.url + "/readyz")
        XCTAssertEqual(ready.status, 200, ready.text)

        let db = TestPostgres.databaseName(of: url)
        try pg.psql(database: db, "ALTER TABLE a330106.application RENAME TO application_away")
        let broken = try await client.send(server!.url + "/readyz")
        try assertProblem(broken, 503, "store.unavailable")
        XCTAssertTrue(broken.text.contains("330106"), broken.text)
        XCTAssertFalse(broken.text.contains("330114"), broken.text)

        try pg.psql(database: db, "ALTER TABLE a330106.application_away RENAME TO application")
        let again = try await client.send(server!.url + "/readyz")
        XCTAssertEqual(again.status, 200, again.text)
    }

    func testOneServerServesTwoAuthoritiesEachWithItsOwnKeys() async throws {
        try local(["init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000"])
        let added = try XCTUnwrap(try JSONSerialization.jsonObject(with: try local(["authority", "add", "--code", "330106", "--name", "杭州市西湖区交通运输局",
                                                                                    "--phone", "0571-87000000", "--json"]).stdout) as? [String: String])
        let admins = ["330114": home.appendingPathComponent("admin-key.pem").path, "330106": try XCTUnwrap(added["adminKey"])]
        let line = try XCTUnwrap(try String(contentsOf: Build.root.appendingPathComponent("examples/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n").first)
        try (line + "\n").write(to: work.appendingPathComponent("one.jsonl"), atomically: true, encoding: .utf8)
        for code in Self.codes {
            try local(["approver", "add", "--authority", code, "--department", "HEALTH", "--name", "审批人", "--generate", key("HEALTH-\(code).pem"),
                       "--admin-key", admins[code]!])
            try local(["applicant", "add", "--authority", code, "--credit-code", "91330114MA24WY722X", "--name", "杭州钱塘物流有限公司",
                       "--generate", key("firm-\(code).pem"), "--admin-key", admins[code]!])
        }
        server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home.path], environment: ["PERMIT_NOW": Build.setUpNow])

        let hostedReply = try await client.send(server!.url + "/v1/authorities")
        let hosted = try XCTUnwrap(try hostedReply.json() as? [[String: Any]])
        XCTAssertEqual(hosted.map { $0["code"] as? String }, Self.codes)
        let listed = try remote(["authority", "list", "--json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: listed.stdout) as? [[String: Any]])?.map { $0["code"] as? String }, Self.codes)

        // The same firm and reference with both authorities; each authority's serials start at 1.
        var payloads: [String] = []
        for code in Self.codes {
            let applied = try remote(["apply", "--authority", code, "--key", key("firm-\(code).pem"), "one.jsonl", "--json"], check: false)
            XCTAssertEqual(applied.status, 0, applied.text + applied.stderr)
            let approved = try remote(["approve", "--authority", code, "--department", "HEALTH", "--key", key("HEALTH-\(code).pem"), "A000001", "--json"],
                                      check: false)
            XCTAssertEqual(approved.status, 0, approved.text + approved.stderr)
            XCTAssertTrue(approved.text.contains("\"permitNumber\":\"\(code)000001\""), approved.text)
            let exported = try remote(["export", code + "000001", "--authority", code, "--key", key("firm-\(code).pem"), "--format", "payload"], check: false)
            XCTAssertEqual(exported.status, 0, exported.stderr)
            payloads.append(exported.text.trimmingCharacters(in: .newlines))
        }

        // Two authorities and no --authority: exit 2, naming both codes.
        let unnamed = try remote(["list", "--key", key("firm-330114.pem"), "--json"], check: false)
        XCTAssertEqual(unnamed.status, 2)
        XCTAssertTrue(unnamed.text.contains("authority.choose") && unnamed.text.contains("330106"), unnamed.text + unnamed.stderr)

        // A code the server does not host: refused by its first request (404), naming the hosted codes.
        let elsewhere = try remote(["list", "--authority", "110101", "--key", key("firm-330114.pem"), "--json"], check: false)
        XCTAssertEqual(elsewhere.status, 2, elsewhere.text)
        XCTAssertTrue(elsewhere.text.contains("authority.unknown") && elsewhere.text.contains("330106"), elsewhere.text + elsewhere.stderr)

        // A key of authority 330106 at authority 330114: unknown there (401), nothing read or written.
        for (option, file) in [("--key", key("firm-330106.pem")), ("--admin-key", admins["330106"]!)] {
            let crossed = try remote(["list", "--authority", "330114", option, file, "--json"], check: false)
            XCTAssertEqual(crossed.status, 2, crossed.text)
            XCTAssertTrue(crossed.text.contains("auth.unknownKey"), crossed.text + crossed.stderr)
        }
        let blacklist = try remote(["blacklist", "add", "--authority", "330114", "--plate", "浙A12345", "--reason", "x",
                                    "--admin-key", admins["330106"]!, "--json"], check: false)
        XCTAssertEqual(blacklist.status, 2, blacklist.text)
        XCTAssertTrue(blacklist.text.contains("auth.unknownKey"), blacklist.text + blacklist.stderr)

        // One trust list for both, pulled and verified against the root; both permits verify.
        let root = home.appendingPathComponent("root.pub.pem").path
        let pulled = try remote(["trust", "pull", "--root", root, "-o", key("trust.cose"), "--json"], check: false)
        XCTAssertEqual(pulled.status, 0, pulled.text + pulled.stderr)
        let keys = (try JSONSerialization.jsonObject(with: pulled.stdout) as? [String: Any])?["keys"]
        XCTAssertEqual((keys as? [Any])?.count ?? (keys as? Int), 2, pulled.text)
        for payload in payloads {
            let verified = try runProcess(Build.permit, ["verify", payload, "--trust", key("trust.cose"), "--root", root, "--at", "2026-12-20", "--json"],
                                          directory: work, check: false)
            XCTAssertEqual(verified.status, 0, verified.text + verified.stderr)
        }

        // Each authority's revocation list under its own code.
        let reply1 = try await client.send(server!.url + "/v1/authorities/110101/revocations.cose")
        try assertProblem(reply1, 404, "authority.unknown")
        let reply2 = try await client.send(server!.url + "/v1/authorities/330106/revocations.cose")
        try assertProblem(reply2, 404, "revocations.none")
        let published = try remote(["revocations", "export", "--authority", "330106", "--admin-key", admins["330106"]!, "-o", key("r.cose"), "--json"],
                                   check: false)
        XCTAssertEqual(published.status, 0, published.text + published.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: home.appendingPathComponent("authorities/330106/revocations.cose").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: home.appendingPathComponent("revocations.cose").path))
        let list = try await client.send(server!.url + "/v1/authorities/330106/revocations.cose")
        XCTAssertEqual(list.status, 200)
        let reply3 = try await client.send(server!.url + "/v1/authorities/330114/revocations.cose")
        try assertProblem(reply3, 404, "revocations.none")
    }

    func assertProblem(_ reply: Reply, _ status: Int, _ code: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(reply.status, status, reply.text, file: file, line: line)
        XCTAssertEqual((try? reply.json() as? [String: Any])?["code"] as? String, code, reply.text, file: file, line: line)
    }
}
