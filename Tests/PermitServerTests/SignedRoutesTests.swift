import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PermitAPI
import PermitHTTPSignature
import PermitModel
import PermitSeal
import XCTest

/// The workflow over HTTP: a server on a data directory, and every party working from a
/// directory of its own that holds only its own key, through `permit … --server URL`. Then the
/// refusals of service.md: each 401 and 403 case, with the store checked to hold nothing new.
final class SignedRoutesTests: XCTestCase {
    nonisolated(unsafe) static var work: URL?
    nonisolated(unsafe) static var server: ServerProcess?
    nonisolated(unsafe) static var setUpFailure: String?

    /// The clock of the server and of every client (the example applications are valid then).
    static let now = Build.setUpNow
    static var nowSeconds: Int64 { Int64(ISO8601DateFormatter().date(from: "2026-11-30T01:00:00Z")!.timeIntervalSince1970) }
    static let departments = ["TRANSPORT", "DEVREFORM", "INDUSTRY", "PUBLIC_SECURITY", "AGRICULTURE", "COMMERCE", "HEALTH",
                              "MARKET_REGULATION", "ENERGY", "POSTAL"]
    static let firms = ["91330114MA24WY722X", "91330206MA27652142"]
    static let authority = "330114"

    var work: URL { Self.work! }
    var home: URL { work.appendingPathComponent("data") }
    var base: String { Self.server!.url }
    var client: Client!

    override func setUp() async throws {
        try Build.requireBinaries()
        if Self.work == nil && Self.setUpFailure == nil {
            do {
                try Self.makeDeployment()
                Self.server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", Self.work!.appendingPathComponent("data").path],
                                                environment: ["PERMIT_NOW": Self.now])
            } catch {
                Self.setUpFailure = "\(error)"
            }
        }
        if let failure = Self.setUpFailure { throw HarnessFailure("set-up failed: \(failure)") }
        client = Client()
    }

    override func tearDown() async throws {
        try await client?.shutdown()
    }

    override class func tearDown() {
        server?.stop()
        server = nil
        if let work { try? FileManager.default.removeItem(at: work) }
        work = nil
        super.tearDown()
    }

    /// The authority's data directory (on the server's machine), and one directory per party
    /// holding only its key: `firm-CODE/key.pem`, `dept-CODE/key.pem`.
    static func makeDeployment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-signed-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        work = dir
        let home = dir.appendingPathComponent("data")
        func local(_ args: String...) throws {
            try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": now])
        }
        let admin = home.appendingPathComponent("admin-key.pem").path
        try local("init", "--authority", authority, "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000")
        for d in departments {
            let party = dir.appendingPathComponent("dept-\(d)")
            try FileManager.default.createDirectory(at: party, withIntermediateDirectories: true)
            try local("approver", "add", "--department", d, "--name", "审批人 \(d)", "--generate", party.appendingPathComponent("key.pem").path,
                      "--admin-key", admin)
        }
        let lines = try String(contentsOf: Build.root.appendingPathComponent("examples/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        for code in firms {
            let party = dir.appendingPathComponent("firm-\(code)")
            try FileManager.default.createDirectory(at: party, withIntermediateDirectories: true)
            try local("applicant", "add", "--credit-code", code, "--name", "企业 \(code)", "--generate", party.appendingPathComponent("key.pem").path,
                      "--admin-key", admin)
            let mine = lines.filter { $0.contains("\"\(code)\"") }.prefix(12)
            try (mine.joined(separator: "\n") + "\n").write(to: party.appendingPathComponent("applications.jsonl"), atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("checkpoint"), withIntermediateDirectories: true)
    }

    /// `permit ARGS --server URL` run in `party`'s directory, with no data directory to fall back on.
    @discardableResult
    func remote(_ party: String, _ args: [String], check: Bool = true) throws -> Run {
        let dir = work.appendingPathComponent(party)
        return try runProcess(Build.permit, args + ["--server", base], environment: [
            "PERMIT_NOW": Self.now, "PERMIT_HOME": dir.appendingPathComponent("no-data-here").path,
        ], directory: dir, check: check)
    }

    func jsonLines(_ run: Run) throws -> [[String: Any]] {
        try run.text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    // MARK: the whole flow

    func testTwoFirmsTenDepartmentsAndACheckpointEachOnItsOwnMachine() async throws {
        var accepted: [String: Int] = [:]
        for code in Self.firms {
            let run = try remote("firm-\(code)", ["apply", "--key", "key.pem", "applications.jsonl", "--json"], check: false)
            XCTAssertTrue([0, 1].contains(run.status), run.stderr)
            let results = try jsonLines(run)
            XCTAssertEqual(results.count, 12, run.stderr)
            accepted[code] = results.filter { $0["state"] as? String == "pending" }.count
            XCTAssertGreaterThan(accepted[code]!, 0, run.text)
        }
        // Applying again is idempotent: the references name the stored applications.
        let again = try jsonLines(try remote("firm-\(Self.firms[0])", ["apply", "--key", "key.pem", "applications.jsonl", "--json"], check: false))
        XCTAssertEqual(again.filter { $0["state"] as? String == "pending" }.count, accepted[Self.firms[0]])

        for d in Self.departments {
            let run = try remote("dept-\(d)", ["approve", "--department", d, "--key", "key.pem", "--all", "--json"], check: false)
            XCTAssertEqual(run.status, 0, "\(d): \(run.stderr)")
        }

        // Each firm sees its own applications, all issued now, and none of the other firm's.
        var numbers: [String] = [], everyNumber: [String] = []
        for code in Self.firms {
            let all = try XCTUnwrap(try JSONSerialization.jsonObject(with: try remote("firm-\(code)", ["list", "--key", "key.pem", "--all", "--json"]).stdout)
                as? [[String: Any]])
            XCTAssertTrue(all.allSatisfy { $0["creditCode"] as? String == code })
            everyNumber += all.compactMap { $0["permitNumber"] as? String }
            // (Another test of this class may have added an application under a reference of its own.)
            let list = all.filter { ($0["reference"] as? String)?.hasPrefix("FORBID-") == false }
            XCTAssertEqual(list.count, accepted[code])
            XCTAssertTrue(list.allSatisfy { $0["state"] as? String == "issued" }, "\(list.map { $0["state"] ?? "-" })")
            numbers += list.compactMap { $0["permitNumber"] as? String }
        }
        XCTAssertEqual(numbers.count, accepted.values.reduce(0, +))
        XCTAssertEqual(Set(everyNumber.map { String($0.suffix(6)) }), Set((1...everyNumber.count).map { String(format: "%06d", $0) }), "gap-free serials")

        // The checkpoint: the published trust list and the pinned root, then offline verification.
        let payload = try remote("firm-\(Self.firms[1])", ["export", numbers.last!, "--format", "payload", "--key", "key.pem"]).text
        let checkpoint = work.appendingPathComponent("checkpoint")
        let trust = try await client.send(base + "/v1/trust-list.cose")
        XCTAssertEqual(trust.status, 200)
        try Data(trust.body).write(to: checkpoint.appendingPathComponent("trust-list.cose"))
        try FileManager.default.copyItem(at: home.appendingPathComponent("root.pub.pem"), to: checkpoint.appendingPathComponent("root.pub.pem"))
        try payload.write(to: checkpoint.appendingPathComponent("payload.txt"), atomically: true, encoding: .utf8)
        let verdict = try runProcess(Build.permit, ["verify", "--file", "payload.txt", "--trust", "trust-list.cose", "--root", "root.pub.pem",
                                                    "--at", "2026-12-20", "--json"],
                                     environment: ["PERMIT_HOME": checkpoint.appendingPathComponent("none").path], directory: checkpoint)
        XCTAssertTrue(verdict.text.contains("\"outcome\":\"valid\""), verdict.text)

        // The admin's audit over the server holds every signed request to its key.
        let audit = try runProcess(Build.permit, ["audit", "verify", "--admin-key", home.appendingPathComponent("admin-key.pem").path, "--server", base],
                                   environment: ["PERMIT_NOW": Self.now])
        XCTAssertTrue(audit.text.contains("audit OK"), audit.text)
    }

    func testReadVerbsOverTheServerNeedAKey() throws {
        let run = try remote("firm-\(Self.firms[0])", ["list"], check: false)
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("--key FILE") && run.stderr.contains("--admin-key FILE"), run.stderr)
    }

    func testAnUnreachableServerIsExitTwo() throws {
        let run = try runProcess(Build.permit, ["list", "--key", "key.pem", "--server", "http://127.0.0.1:9"],
                                 environment: ["PERMIT_NOW": Self.now], directory: work.appendingPathComponent("firm-\(Self.firms[0])"), check: false)
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("cannot reach the permit server http://127.0.0.1:9"), run.stderr)
    }

    // MARK: 401

    /// An admin request registering a new firm: what would be written if it were accepted.
    func registration(_ code: String) throws -> (body: [UInt8], admin: PrivateKey) {
        let admin = try PrivateKey.load(path: home.appendingPathComponent("admin-key.pem").path)
        let firm = PrivateKey.generate(.edDSA)
        let signer = PartySigner(key: admin, clock: FixedClock(Date(timeIntervalSince1970: TimeInterval(Self.nowSeconds))))
        return (signer.action(.applicantAdd, .init(party: code, name: "新企业", publicKey: Data(firm.publicKey.spki).base64EncodedString()),
                              authority: Self.authority), admin)
    }

    /// A request signed as a client signs it, then handed to `tamper` before it is sent.
    func send(_ method: String, _ path: String, body: [UInt8] = [], contentType: String? = nil, key: PrivateKey,
              created: Int64? = nil, lifetime: Int64 = 300, tamper: (inout [(String, String)], inout [UInt8]) -> Void = { _, _ in }) async throws -> Reply {
        var message = RequestMessage(method: method, targetURI: base + path, headerFields: contentType.map { [("Content-Type", $0)] } ?? [], body: body)
        try RequestSignature.sign(&message, with: key, created: created ?? Self.nowSeconds, lifetime: lifetime)
        var headers = message.headerFields.map { ($0.name, $0.value) }
        var sent = body
        tamper(&headers, &sent)
        return try await client.send(base + path, method: HTTPMethod(rawValue: method), headers: headers, body: sent.isEmpty ? nil : sent)
    }

    /// What the store holds that a refused request could have changed: the audit trail's length
    /// and the registered firms, read as the admin.
    func storeState() async throws -> (events: Int, firms: Int) {
        let admin = try PrivateKey.load(path: home.appendingPathComponent("admin-key.pem").path)
        let events = try await send("GET", "/v1/authorities/\(Self.authority)/audit/events?limit=1000", key: admin)
        let parties = try await send("GET", "/v1/authorities/\(Self.authority)/parties?kind=applicant&removed=true", key: admin)
        XCTAssertEqual(events.status, 200, events.text)
        XCTAssertEqual(parties.status, 200, parties.text)
        let eventCount = ((try events.json() as? [String: Any])?["items"] as? [Any])?.count ?? -1
        let firmCount = (try parties.json() as? [Any])?.count ?? -1
        return (eventCount, firmCount)
    }

    func assertProblem(_ reply: Reply, _ status: Int, _ code: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(reply.status, status, reply.text, file: file, line: line)
        XCTAssertEqual(reply.header("Content-Type"), "application/problem+json", file: file, line: line)
        let object = try XCTUnwrap(try reply.json() as? [String: Any], file: file, line: line)
        XCTAssertEqual(object["code"] as? String, code, reply.text, file: file, line: line)
        XCTAssertEqual(object["status"] as? Int, status, file: file, line: line)
    }

    func testEachUnauthenticatedRequestIs401AndWritesNothing() async throws {
        let path = "/v1/authorities/\(Self.authority)/parties"
        let cose = "application/cose"
        let before = try await storeState()

        let (body, admin) = try registration("91330100MA0000001F")
        // No signature at all.
        try assertProblem(try await client.send(base + path, method: .POST, headers: [("Content-Type", cose)], body: body), 401, "auth.missing")
        // A signature that does not verify: one byte of it changed.
        try assertProblem(try await send("POST", path, body: body, contentType: cose, key: admin) { headers, _ in
            let i = headers.firstIndex { $0.0 == "Signature" }!
            var value = Array(headers[i].1)
            value[12] = value[12] == "A" ? "B" : "A"
            headers[i].1 = String(value)
        }, 401, "auth.badSignature")
        // A key the server never registered.
        try assertProblem(try await send("POST", path, body: body, contentType: cose, key: PrivateKey.generate(.edDSA)), 401, "auth.unknownKey")
        // `created` two minutes ahead of the server's clock (60 s allowed).
        try assertProblem(try await send("POST", path, body: body, contentType: cose, key: admin, created: Self.nowSeconds + 120), 401, "auth.future")
        // A signature whose `expires` has passed.
        try assertProblem(try await send("POST", path, body: body, contentType: cose, key: admin, created: Self.nowSeconds - 400), 401, "auth.expired")
        // A body that is not the one signed (its digest no longer matches).
        let (other, _) = try registration("91330100MA0000002J")
        try assertProblem(try await send("POST", path, body: body, contentType: cose, key: admin) { _, sent in sent = other }, 401, "auth.digest")
        let after = try await storeState()
        XCTAssertEqual(after.firms, before.firms, "a refused request registered a firm")
        XCTAssertEqual(after.events, before.events, "a refused request wrote to the audit trail")

        // A removed key: registered, then removed, then used.
        let removedDir = work.appendingPathComponent("removed-firm")
        try FileManager.default.createDirectory(at: removedDir, withIntermediateDirectories: true)
        let removedKey = removedDir.appendingPathComponent("key.pem").path
        try runProcess(Build.permit, ["applicant", "add", "--credit-code", "91330100MA0000003M", "--name", "将注销", "--generate", removedKey,
                                      "--admin-key", home.appendingPathComponent("admin-key.pem").path, "--server", base], environment: ["PERMIT_NOW": Self.now])
        try runProcess(Build.permit, ["applicant", "remove", "--key", removedKey, "--reason", "测试", "--admin-key", home.appendingPathComponent("admin-key.pem").path,
                                      "--server", base], environment: ["PERMIT_NOW": Self.now])
        let beforeRemoved = try await storeState()
        try assertProblem(try await send("GET", "/v1/authorities/\(Self.authority)/applications", key: try PrivateKey.load(path: removedKey)), 401, "auth.unknownKey")

        // A replayed nonce: the same signed request a second time.
        var captured: ([(String, String)], [UInt8]) = ([], [])
        let (fresh, _) = try registration("91330100MA0000004Q")
        let first = try await send("POST", path, body: fresh, contentType: cose, key: admin) { headers, sent in captured = (headers, sent) }
        XCTAssertEqual(first.status, 200, first.text)
        let afterFirst = try await storeState()
        XCTAssertEqual(afterFirst.firms, beforeRemoved.firms + 1)
        try assertProblem(try await client.send(base + path, method: .POST, headers: captured.0, body: captured.1), 401, "auth.replayed")
        let afterReplay = try await storeState()
        XCTAssertEqual(afterReplay.firms, afterFirst.firms)
        XCTAssertEqual(afterReplay.events, afterFirst.events)
    }

    // MARK: 403

    func testAnotherFirmAnotherDepartmentOrANonAdminIs403AndWritesNothing() async throws {
        let firmA = try PrivateKey.load(path: work.appendingPathComponent("firm-\(Self.firms[0])/key.pem").path)
        let firmB = try PrivateKey.load(path: work.appendingPathComponent("firm-\(Self.firms[1])/key.pem").path)
        let health = try PrivateKey.load(path: work.appendingPathComponent("dept-HEALTH/key.pem").path)
        // One of firm A's applications, pending: its first line under a reference of its own.
        let line = try String(contentsOf: work.appendingPathComponent("firm-\(Self.firms[0])/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0].replacingOccurrences(of: "\"QT-", with: "\"FORBID-")
        try (line + "\n").write(to: work.appendingPathComponent("firm-\(Self.firms[0])/one.jsonl"), atomically: true, encoding: .utf8)
        let applied = try jsonLines(try remote("firm-\(Self.firms[0])", ["apply", "--key", "key.pem", "one.jsonl", "--json"]))
        let id = try XCTUnwrap(applied.first?["id"] as? String, "\(applied)")
        let prefix = "/v1/authorities/\(Self.authority)"
        let before = try await storeState()

        // Another firm reads it, or cancels it.
        try assertProblem(try await send("GET", "\(prefix)/applications/\(id)", key: firmB), 403, "auth.forbidden")
        let clock = FixedClock(Date(timeIntervalSince1970: TimeInterval(Self.nowSeconds)))
        let cancel = PartySigner(key: firmB, clock: clock).action(.cancel, .init(reason: "不是我的", application: id), authority: Self.authority)
        let refused = try await send("POST", "\(prefix)/cancellations", body: cancel, contentType: "application/cose", key: firmB)
        XCTAssertEqual(refused.status, 403, refused.text)
        // A firm may not send what another firm signed, even over its own signature.
        let signedByA = PartySigner(key: firmA, clock: clock).action(.cancel, .init(reason: "x", application: id), authority: Self.authority)
        try assertProblem(try await send("POST", "\(prefix)/cancellations", body: signedByA, contentType: "application/cose", key: firmB), 403, "auth.notSigner")
        // Another department's queue and decisions.
        try assertProblem(try await send("GET", "\(prefix)/departments/TRANSPORT/queue", key: health), 403, "auth.forbidden")
        let decide = try WireJSON.encode(Wire.DecideRequest(items: []))
        try assertProblem(try await send("POST", "\(prefix)/departments/TRANSPORT/decisions", body: Array(decide), contentType: "application/json", key: health),
                          403, "auth.forbidden")
        // A firm's key on an admin verb.
        let (registration, _) = try registration("91330100MA00000098")
        try assertProblem(try await send("POST", "\(prefix)/parties", body: registration, contentType: "application/cose", key: firmA), 403, "auth.role")
        try assertProblem(try await send("GET", "\(prefix)/audit/events", key: health), 403, "auth.role")

        let after = try await storeState()
        XCTAssertEqual(after.events, before.events, "a forbidden request wrote to the audit trail")
        XCTAssertEqual(after.firms, before.firms)
        let state = try await send("GET", "\(prefix)/applications/\(id)", key: firmA)
        XCTAssertEqual(((try state.json() as? [String: Any])?["application"] as? [String: Any])?["state"] as? String, "pending", state.text)
    }

    func testThePythonPackageSignsRequestsTheServerAccepts() throws {
        let python = Build.root.appendingPathComponent(".venv/bin/python")
        let keyFile = work.appendingPathComponent("firm-\(Self.firms[0])/key.pem").path
        let run = try runProcess(python, [Build.root.appendingPathComponent("scripts/httpsig-check.py").path, "send", "GET",
                                          base + "/v1/authorities/\(Self.authority)/applications?limit=2", keyFile, String(Self.nowSeconds)])
        let reply = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])
        XCTAssertEqual(reply["status"] as? Int, 200, run.text)
        // And a body, covered by Content-Digest: an approver's decision targets.
        let ids = work.appendingPathComponent("ids.json")
        try Data(#"{"identifiers":["A000001"]}"#.utf8).write(to: ids)
        let post = try runProcess(python, [Build.root.appendingPathComponent("scripts/httpsig-check.py").path, "send", "POST",
                                           base + "/v1/authorities/\(Self.authority)/decision-targets",
                                           work.appendingPathComponent("dept-HEALTH/key.pem").path, String(Self.nowSeconds), ids.path, "application/json"])
        let posted = try XCTUnwrap(try JSONSerialization.jsonObject(with: post.stdout) as? [String: Any])
        XCTAssertEqual(posted["status"] as? Int, 200, post.text)
        // The same request signed by a key the server does not know is refused.
        let stranger = work.appendingPathComponent("stranger.pem")
        try PrivateKey.generate(.edDSA).save(path: stranger.path)
        let refused = try runProcess(python, [Build.root.appendingPathComponent("scripts/httpsig-check.py").path, "send", "GET",
                                              base + "/v1/authorities/\(Self.authority)/applications", stranger.path, String(Self.nowSeconds)])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: refused.stdout) as? [String: Any])?["status"] as? Int, 401, refused.text)
    }
}
