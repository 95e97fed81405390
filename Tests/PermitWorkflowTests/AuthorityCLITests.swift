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

/// Two `permit serve` instances on one PostgreSQL database and one data directory, each hosting
/// both authorities: a rotation through one instance is what the other seals with next.
final class TwoInstancesCLITests: XCTestCase {
    var work: URL!
    var home: URL { work.appendingPathComponent("data") }
    var servers: [Process] = []

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: CLITests.binary.path) else {
            throw SetUpFailure("build the CLI first: swift build (looked for \(CLITests.binary.path))")
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-two-instances-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for s in servers where s.isRunning { s.terminate(); s.waitUntilExit() }
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    func key(_ name: String) -> String { work.appendingPathComponent(name).path }

    @discardableResult
    func permit(_ arguments: [String]) throws -> CLITests.Run {
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_HOME"] = home.path
        env["PERMIT_NOW"] = "2026-11-30T09:00:00+08:00"
        env["LANG"] = "C.UTF-8"
        env.removeValue(forKey: "PERMIT_SERVER")
        env.removeValue(forKey: "PERMIT_DATABASE")
        process.environment = env
        let out = work.appendingPathComponent("out-\(UUID().uuidString)"), err = work.appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return CLITests.Run(status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Starts `permit serve` on a free port; its URL from the line it prints when ready.
    func serve(database: String) throws -> String {
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", home.path, "--database", database]
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_NOW"] = "2026-11-30T09:00:00+08:00"
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        servers.append(process)
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line += byte
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening on ") else { throw SetUpFailure("permit serve printed \(text.debugDescription)") }
        return String(text.dropFirst("listening on ".count))
    }

    func testARotationThroughOneInstanceIsSealedWithByTheOther() throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        XCTAssertEqual(try permit(["init", "--database", url, "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000"]).status, 0)
        let added = try permit(["authority", "add", "--database", url, "--code", "330106", "--name", "杭州市西湖区交通运输局", "--phone", "0571-87000000", "--json"])
        XCTAssertEqual(added.status, 0, added.stdout + added.stderr)
        let admins = ["330114": home.appendingPathComponent("admin-key.pem").path,
                      "330106": try XCTUnwrap((try added.json() as? [String: String])?["adminKey"])]
        let line = try XCTUnwrap(try String(contentsOf: CLITests.examples, encoding: .utf8).split(separator: "\n").first.map(String.init))
        for code in ["330114", "330106"] {
            XCTAssertEqual(try permit(["approver", "add", "--database", url, "--authority", code, "--department", "HEALTH", "--name", "审批人",
                                       "--generate", key("HEALTH-\(code).pem"), "--admin-key", admins[code]!]).status, 0)
            XCTAssertEqual(try permit(["applicant", "add", "--database", url, "--authority", code, "--credit-code", CLITests.firmA, "--name", "杭州钱塘物流有限公司",
                                       "--generate", key("firm-\(code).pem"), "--admin-key", admins[code]!]).status, 0)
        }
        let first = try serve(database: url), second = try serve(database: url)

        /// Applies the example under `reference` with `code` through `server`, approves it, and
        /// gives the kid that sealed the permit, as `permit verify` reads it.
        func issue(_ code: String, _ reference: String, through server: String) throws -> String {
            let file = key("\(reference).jsonl")
            try (line.replacingOccurrences(of: "QT-2026-000001", with: reference) + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let applied = try permit(["apply", "--server", server, "--authority", code, "--key", key("firm-\(code).pem"), file, "--json"])
            XCTAssertEqual(applied.status, 0, applied.stdout + applied.stderr)
            let id = try XCTUnwrap(try applied.jsonLines().first?["id"] as? String, applied.stdout)
            let approved = try permit(["approve", "--server", server, "--authority", code, "--department", "HEALTH", "--key", key("HEALTH-\(code).pem"),
                                       id, "--json"])
            XCTAssertEqual(approved.status, 0, approved.stdout + approved.stderr)
            let number = try XCTUnwrap(try approved.jsonLines().first?["permitNumber"] as? String, approved.stdout)
            let exported = try permit(["export", number, "--server", server, "--authority", code, "--key", key("firm-\(code).pem"), "--format", "payload"])
            XCTAssertEqual(exported.status, 0, exported.stderr)
            let verified = try permit(["verify", exported.stdout.trimmingCharacters(in: .newlines), "--at", "2026-12-20", "--json"])
            XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any])
            XCTAssertEqual((object["issuer"] as? [String: Any])?["authority"] as? String, code)
            return try XCTUnwrap((object["issuer"] as? [String: Any])?["kid"] as? String)
        }

        // Each instance seals for both authorities (and keeps its sealers).
        let before = try issue("330114", "MULTI-1", through: second)
        XCTAssertEqual(try issue("330106", "MULTI-2", through: second), try PrivateKeyKid.of(admins["330106"]!.replacingOccurrences(of: "admin-key", with: "issuer-key")))
        XCTAssertEqual(try issue("330114", "MULTI-3", through: first), before)

        // Rotated through the first instance; the second seals with the new key from its next permit on.
        let rotated = try permit(["keys", "rotate", "--server", first, "--authority", "330114", "--admin-key", admins["330114"]!, "--json"])
        XCTAssertEqual(rotated.status, 0, rotated.stdout + rotated.stderr)
        let rotation = try XCTUnwrap(try rotated.json() as? [String: Any])
        XCTAssertEqual(rotation["retiredKid"] as? String, before)
        let newKid = try XCTUnwrap(rotation["newKid"] as? String)
        XCTAssertEqual(try issue("330114", "MULTI-4", through: second), newKid, "the second instance sealed with the retired key")
        XCTAssertEqual(try issue("330114", "MULTI-5", through: first), newKid)
        // The other authority's key is untouched, and the trust list (re-signed by the root) lists all three.
        let trust = try XCTUnwrap(try permit(["trust", "export", "--database", url, "-o", key("trust.cose"), "--json"]).json() as? [String: Any])
        XCTAssertEqual((trust["keys"] as? [String])?.count, 3)
    }
}

/// The kid of a key file, as `permit keys show` would print it.
enum PrivateKeyKid {
    static func of(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = ["keys", "show", path, "--json"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (object?["kid"] as? String) ?? ""
    }
}
