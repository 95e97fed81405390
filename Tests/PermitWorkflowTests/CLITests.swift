import Foundation
import XCTest
import PermitTestSupport

/// The `permit` binary run as a subprocess, the way firms, approvers and scripts use it: exit
/// codes, JSON shapes, and that refused requests write nothing. Needs `swift build` first (the
/// test run builds it too); each test gets its own data directory and a fixed PERMIT_NOW.
final class CLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/debug/permit")
    static let examples = root.appendingPathComponent("examples/applications.jsonl")

    /// The first example line is firm 91330114MA24WY722X's epidemic-prevention load (HEALTH);
    /// the second is firm 91330206MA27652142's.
    static let firmA = "91330114MA24WY722X"
    static let firmB = "91330206MA27652142"

    var work: URL!
    var home: URL { work.appendingPathComponent("data") }
    var admin: String { home.appendingPathComponent("admin-key.pem").path }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
        func jsonLines() throws -> [[String: Any]] {
            try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw SetUpFailure("build the CLI first: swift build (looked for \(Self.binary.path))")
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    @discardableResult
    func permit(_ arguments: String..., stdin: String? = nil) throws -> Run { try permitArray(arguments, stdin: stdin) }

    @discardableResult
    func permitArray(_ arguments: [String], stdin: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_HOME"] = home.path
        env["PERMIT_NOW"] = "2026-11-30T09:00:00+08:00"
        env["LANG"] = "C.UTF-8"
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes before waiting, so a large output cannot block the child.
        var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    func exampleLines() throws -> [String] {
        try String(contentsOf: Self.examples, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = work.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func key(_ name: String) -> String { work.appendingPathComponent(name).path }

    /// An initialised directory with firm A registered and, if asked, approvers.
    func setUpAuthority(approvers: [String] = []) throws {
        XCTAssertEqual(try permit("init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000", "--json").status, 0)
        let firm = try permit("applicant", "add", "--credit-code", Self.firmA, "--name", "杭州钱塘物流有限公司",
                              "--generate", key("firmA.pem"), "--admin-key", admin)
        XCTAssertEqual(firm.status, 0, firm.stderr)
        for d in approvers {
            let r = try permit("approver", "add", "--department", d, "--name", "审批人", "--generate", key("\(d).pem"), "--admin-key", admin)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
    }

    func testInitJSONHasExactlyThePathsAndNoSecrets() throws {
        let run = try permit("init", "--authority", "330114", "--name", "钱塘区交通运输局", "--phone", "0571-86000000", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(try run.json() as? [String: String])
        XCTAssertEqual(Set(object.keys), ["dataDirectory", "database", "issuerKey", "adminKey", "rootKey", "trustList"])
        XCTAssertFalse(run.stdout.contains("PRIVATE"))
        for key in ["issuerKey", "adminKey", "rootKey"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: try XCTUnwrap(object[key]))
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600, key)
        }
        // A second init on the same directory is refused and says why.
        let again = try permit("init", "--authority", "330114", "--name", "x", "--phone", "0571-86000000", "--json")
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stdout.contains("\"code\":\"init.exists\""), again.stdout)
    }

    func testApproverAddNeedsTheAdminKey() throws {
        XCTAssertEqual(try permit("init", "--authority", "330114", "--name", "钱塘", "--phone", "0571-86000000").status, 0)
        let missing = try permit("approver", "add", "--department", "HEALTH", "--name", "张卫", "--generate", key("h.pem"))
        XCTAssertEqual(missing.status, 2)
        XCTAssertEqual(try permit("keys", "generate", "--out", key("other.pem")).status, 0)
        let wrong = try permit("approver", "add", "--department", "HEALTH", "--name", "张卫", "--generate", key("h.pem"),
                               "--admin-key", key("other.pem"), "--json")
        XCTAssertEqual(wrong.status, 2)
        let error = try XCTUnwrap((try wrong.jsonLines().first?["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(error["code"] as? String, "auth.notAdmin")
        XCTAssertEqual(error["field"] as? String, "adminKey")
        XCTAssertNotNil(error["rule"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: key("h.pem")), "a refused registration leaves no key file")
        XCTAssertEqual(try permit("approver", "list", "--json").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[]")
        let right = try permit("approver", "add", "--department", "HEALTH", "--name", "张卫", "--generate", key("h.pem"), "--admin-key", admin, "--json")
        XCTAssertEqual(right.status, 0, right.stderr)
        XCTAssertEqual((try right.jsonLines().first?["party"]) as? String, "HEALTH")
    }

    func testApplyRefusesAnotherFirmsItemAndKeepsTheValidOne() throws {
        try setUpAuthority()
        let lines = try exampleLines()
        let path = try file("mixed.jsonl", lines[0] + "\n" + lines[1] + "\n")
        let run = try permit("apply", "--key", key("firmA.pem"), path, "--json")
        XCTAssertEqual(run.status, 1)
        let results = try run.jsonLines()
        XCTAssertEqual(results.map { $0["index"] as? Int }, [0, 1])
        XCTAssertNotNil(results[0]["id"])
        XCTAssertNil(results[0]["errors"])
        XCTAssertEqual(results[0]["departments"] as? [String], ["HEALTH"])
        let error = try XCTUnwrap((results[1]["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(error["code"] as? String, "applicant.creditCodeMismatch")
        XCTAssertEqual(error["value"] as? String, Self.firmB)
        let listed = try XCTUnwrap(try permit("list", "--json").json() as? [[String: Any]])
        XCTAssertEqual(listed.map { $0["creditCode"] as? String }, [Self.firmA])
    }

    func testApproveWithAnotherDepartmentsKeyWritesNothing() throws {
        try setUpAuthority(approvers: ["HEALTH", "POSTAL"])
        let path = try file("one.jsonl", try exampleLines()[0] + "\n")
        XCTAssertEqual(try permit("apply", "--key", key("firmA.pem"), path).status, 0)
        let before = try permit("list", "--json").stdout
        let run = try permit("approve", "--department", "HEALTH", "--key", key("POSTAL.pem"), "A000001", "--json")
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stdout.contains("\"code\":\"auth.notApprover\""), run.stdout)
        XCTAssertEqual(try permit("list", "--json").stdout, before)
        XCTAssertEqual(try permit("show", "A000001", "--json").stdout.contains("\"decisions\":[]"), true)
    }

    func testHappyPathToAnIssuedPermitAndItsPayload() throws {
        try setUpAuthority(approvers: ["HEALTH"])
        let path = try file("one.jsonl", try exampleLines()[0] + "\n")
        let applied = try permit("apply", "--key", key("firmA.pem"), path)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("→ A000001 [HEALTH]"), applied.stdout)
        let queue = try XCTUnwrap(try permit("queue", "--department", "HEALTH", "--json").json() as? [[String: Any]])
        XCTAssertEqual(queue.map { $0["id"] as? String }, ["A000001"])

        let approved = try permit("approve", "--department", "HEALTH", "--key", key("HEALTH.pem"), "--all", "--json")
        XCTAssertEqual(approved.status, 0, approved.stderr)
        let result = try XCTUnwrap(try approved.jsonLines().first)
        XCTAssertEqual(result["state"] as? String, "issued")
        XCTAssertEqual(result["permitNumber"] as? String, "330114000001")
        XCTAssertNotNil(result["issueMicros"] as? Int)

        let byNumber = try permit("export", "330114000001", "--format", "payload")
        XCTAssertEqual(byNumber.status, 0, byNumber.stderr)
        XCTAssertTrue(byNumber.stdout.hasPrefix("FP1:"), byNumber.stdout)
        XCTAssertEqual(try permit("export", "A000001", "--format", "payload").stdout, byNumber.stdout)

        let shown = try XCTUnwrap(try permit("show", "A000001", "--json").json() as? [String: Any])
        XCTAssertEqual(shown["state"] as? String, "issued")
        XCTAssertEqual((shown["permit"] as? [String: Any])?["number"] as? String, "330114000001")
        let crew = try XCTUnwrap(shown["crew"] as? [[String: Any]])
        XCTAssertTrue(crew.allSatisfy { ($0["idNumber"] as? String)?.contains("********") == true }, "ID numbers are masked")
        // Approving again is refused for that item: exit 1, nothing else changes.
        XCTAssertEqual(try permit("approve", "--department", "HEALTH", "--key", key("HEALTH.pem"), "A000001").status, 1)
    }

    func testIdentifiersFromACRLFFileAndStandardInput() throws {
        try setUpAuthority(approvers: ["AGRICULTURE"])
        let lines = try exampleLines().filter { $0.contains(Self.firmA) && $0.contains("\"farm-produce\"") && !$0.contains("dangerous") }
        let path = try file("two.jsonl", lines.prefix(2).joined(separator: "\n") + "\n")
        XCTAssertEqual(try permit("apply", "--key", key("firmA.pem"), path).status, 0)
        let ids = try file("ids.txt", "A000001\r\n\r\n")
        let fromFile = try permit("approve", "--department", "AGRICULTURE", "--key", key("AGRICULTURE.pem"), "--from", ids, "--json")
        XCTAssertEqual(fromFile.status, 0, fromFile.stdout)
        XCTAssertEqual(try fromFile.jsonLines().map { $0["input"] as? String }, ["A000001"])
        let fromStdin = try permit("approve", "--department", "AGRICULTURE", "--key", key("AGRICULTURE.pem"), "-", "--json", stdin: "A000002\r\n")
        XCTAssertEqual(fromStdin.status, 0, fromStdin.stdout)
        XCTAssertEqual(try fromStdin.jsonLines().first?["state"] as? String, "issued")
    }

    func testDryRunWritesNothing() throws {
        try setUpAuthority()
        let path = try file("one.jsonl", try exampleLines()[0] + "\n")
        let run = try permit("apply", "--key", key("firmA.pem"), path, "--dry-run", "--json")
        XCTAssertEqual(run.status, 0, run.stderr)
        let result = try XCTUnwrap(try run.jsonLines().first)
        XCTAssertEqual(result["state"] as? String, "valid")
        XCTAssertNil(result["id"])
        XCTAssertEqual(try permit("list", "--json").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[]")
    }

    func testCancelByTheFirmThenNotAgain() throws {
        try setUpAuthority()
        let path = try file("one.jsonl", try exampleLines()[0] + "\n")
        XCTAssertEqual(try permit("apply", "--key", key("firmA.pem"), path).status, 0)
        XCTAssertEqual(try permit("cancel", "A000001", "--key", key("firmA.pem"), "--reason", "truck broke down").status, 0)
        let again = try permit("cancel", "A000001", "--key", key("firmA.pem"), "--json")
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stdout.contains("application.notPending"), again.stdout)
        let listed = try XCTUnwrap(try permit("list", "--state", "cancelled", "--json").json() as? [[String: Any]])
        XCTAssertEqual(listed.count, 1)
    }

    func testUsageErrorsExit2() throws {
        try setUpAuthority()
        XCTAssertEqual(try permit("list", "--bogus").status, 2)
        XCTAssertEqual(try permit("apply").status, 2)
        XCTAssertEqual(try permit("approve", "--department", "HEALTH", "--key", key("firmA.pem")).status, 2, "no applications given")
        XCTAssertEqual(try permit("export", "A000001", "--format", "nope").status, 2)
        XCTAssertEqual(try permit("queue", "--department", "NOPE").status, 2)
        XCTAssertEqual(try permit("list", "--state", "done").status, 2)
        XCTAssertEqual(try permit("apply", "--key", key("missing.pem"), "-", stdin: "").status, 2)
        XCTAssertEqual(try permit("--help").status, 0)
    }
}
