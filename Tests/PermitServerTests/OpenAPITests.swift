import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// The OpenAPI document (`Schemas/openapi.yaml`) and the server held to it: the bytes served at
/// `GET /v1/openapi.yaml` are the file's, and schemathesis (`scripts/api-check.py`, pinned in
/// scripts/setup) runs every operation of the document against `permit serve` with every signed
/// request made by a registered key, and finds no 5xx and no response that the document does not
/// describe (status, content type, headers, body schema).
///
/// The data directory is made with the CLI at the machine's clock (the server's token buckets
/// refill with the clock, so a fixed PERMIT_NOW would empty them): a firm, an approver for each
/// of the ten departments, applications pending, issued, revoked, rejected, cancelled and
/// amended, a blacklist entry, a published revocation list and an audit checkpoint.
final class OpenAPITests: XCTestCase {
    nonisolated(unsafe) static var work: URL?
    nonisolated(unsafe) static var server: ServerProcess?
    nonisolated(unsafe) static var setUpFailure: String?

    static let departments = ["TRANSPORT", "DEVREFORM", "INDUSTRY", "PUBLIC_SECURITY", "AGRICULTURE", "COMMERCE", "HEALTH",
                              "MARKET_REGULATION", "ENERGY", "POSTAL"]
    /// Test cases per operation and phase; with the seed, what the run draws (about a minute here).
    static let maxExamples = ProcessInfo.processInfo.environment["API_CHECK_MAX_EXAMPLES"] ?? "20"
    static let seed = ProcessInfo.processInfo.environment["API_CHECK_SEED"] ?? "1"

    var base: String { Self.server!.url }
    var keys: URL { Self.work!.appendingPathComponent("keys") }
    var client: Client!

    override func setUp() async throws {
        try Build.requireBinaries()
        if Self.work == nil && Self.setUpFailure == nil {
            do {
                try Self.makeDataDirectory()
                // An empty PERMIT_NOW: the server runs on the machine's clock, as the data directory was made.
                Self.server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", Self.work!.appendingPathComponent("data").path],
                                                environment: ["PERMIT_NOW": ""])
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

    @discardableResult
    static func permit(_ args: String..., home: URL) throws -> Run {
        try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": ""])
    }

    static func makeDataDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-openapi-tests-\(UUID().uuidString)")
        let keys = dir.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        work = dir
        let home = dir.appendingPathComponent("data")
        let admin = keys.appendingPathComponent("admin.pem").path, firm = keys.appendingPathComponent("firm.pem").path
        try permit("init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--name-en", "Qiantang District Transport Bureau",
                   "--phone", "0571-86000000", home: home)
        try FileManager.default.copyItem(atPath: home.appendingPathComponent("admin-key.pem").path, toPath: admin)
        try permit("applicant", "add", "--credit-code", "91330114MA24WY722X", "--name", "杭州钱塘物流有限公司", "--generate", firm,
                   "--admin-key", admin, home: home)
        for department in departments {
            try permit("approver", "add", "--department", department, "--name", "审批员", "--generate",
                       keys.appendingPathComponent("approver-\(department).pem").path, "--admin-key", admin, home: home)
        }
        // The first example application, valid from today (China time) for a week, five times over.
        let china = TimeZone(secondsFromGMT: 8 * 3600)!
        let day = DateFormatter()
        day.calendar = Calendar(identifier: .gregorian)
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = china
        day.dateFormat = "yyyy-MM-dd"
        let now = Date()
        let first = try String(contentsOf: Build.root.appendingPathComponent("examples/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0]
            .replacingOccurrences(of: "2026-12-11", with: day.string(from: now))
            .replacingOccurrences(of: "2027-01-05", with: day.string(from: now.addingTimeInterval(7 * 86_400)))
        let lines = (1...5).map {
            first.replacingOccurrences(of: "QT-2026-000001", with: "QT-2026-00000\($0)").replacingOccurrences(of: "浙K5835R", with: "浙K583\($0)R")
        }
        let file = dir.appendingPathComponent("apps.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let health = keys.appendingPathComponent("approver-HEALTH.pem").path
        try permit("apply", "--key", firm, file.path, home: home)
        try permit("approve", "--department", "HEALTH", "--key", health, "A000001", "A000002", home: home)
        try permit("revoke", "330114000002", "--reason", "车辆超载", "--admin-key", admin, home: home)
        try permit("reject", "--department", "HEALTH", "--key", health, "A000004", "--reason", "材料不全", home: home)
        try permit("cancel", "A000005", "--key", firm, "--reason", "计划取消", home: home)
        let amended = dir.appendingPathComponent("amend.json")
        try lines[0].replacingOccurrences(of: "15260695247", with: "15260695248").write(to: amended, atomically: true, encoding: .utf8)
        try permit("amend", "330114000001", amended.path, "--key", firm, home: home)
        try permit("blacklist", "add", "--plate", "浙A12345", "--reason", "多次超载", "--admin-key", admin, home: home)
        try permit("revocations", "export", home: home)
        try permit("audit", "checkpoint", home: home)
    }

    func testServedDocumentIsTheFile() async throws {
        let file = try Data(contentsOf: Build.root.appendingPathComponent("Schemas/openapi.yaml"))
        let reply = try await client.send(base + "/v1/openapi.yaml")
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.header("Content-Type"), "application/yaml")
        XCTAssertTrue(Data(reply.body) == file, "GET /v1/openapi.yaml is not the bytes of Schemas/openapi.yaml: rebuild the server")
        let etag = try XCTUnwrap(reply.header("ETag"))
        let again = try await client.send(base + "/v1/openapi.yaml", headers: [("If-None-Match", etag)])
        XCTAssertEqual(again.status, 304)
        XCTAssertTrue(again.body.isEmpty)
    }

    /// schemathesis against the running server; its report and the statuses each operation gave
    /// are printed, and the closing `api-check:` line is what scripts/test counts.
    func testEveryResponseConformsToTheDocument() throws {
        let python = Build.root.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw HarnessFailure("no .venv/bin/python: run scripts/setup, which installs schemathesis")
        }
        let process = Process()
        process.executableURL = python
        process.arguments = [Build.root.appendingPathComponent("scripts/api-check.py").path, base, keys.path,
                             "--max-examples", Self.maxExamples, "--seed", Self.seed]
        var env = ProcessInfo.processInfo.environment
        env["LANG"] = "C.UTF-8"
        process.environment = env
        let output = Self.work!.appendingPathComponent("api-check.out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // A bound on the whole run: a hung request or a runaway phase fails the test instead of the suite.
        let deadline = Date().addingTimeInterval(600)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("api-check.py ran over 600 s")
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        print(text)
        XCTAssertEqual(process.terminationStatus, 0, "schemathesis found responses the document does not describe (or a 5xx); see the report above")
        XCTAssertTrue(text.contains(" 0 failures, 0 errors"), "no clean closing line from api-check.py")
        XCTAssertFalse(server5xx(text), "the server answered 5xx")
    }

    /// Whether any operation's status line names a 5xx.
    func server5xx(_ text: String) -> Bool {
        text.split(separator: "\n").contains { line in
            line.hasPrefix("  ") && line.contains(": ") && line.range(of: #"\b5\d\d ×"#, options: .regularExpression) != nil
        }
    }
}

/// The document against the routes the server registers (read from Sources/PermitServer): each
/// route is a documented path and method, and each documented operation is a route, so that a
/// route added or moved without the document fails here rather than going undescribed.
final class OpenAPIRouteListTests: XCTestCase {
    /// `METHOD /path` for each route registration in the server's sources; group routes (and
    /// `adminAction`, a POST) hang under `/v1/authorities/{code}/`; `verify/**` is the page's files.
    func registeredRoutes() throws -> Set<String> {
        let folder = Build.root.appendingPathComponent("Sources/PermitServer")
        let pattern = try NSRegularExpression(pattern: #"(router|group)\.(get|post|put|delete|patch)\("([^"]*)"|adminAction\(group, "([^"]*)""#)
        var routes = Set<String>()
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                func group(_ i: Int) -> String? { Range(match.range(at: i), in: text).map { String(text[$0]) } }
                let (method, path, grouped): (String, String, Bool)
                if let admin = group(4) {
                    (method, path, grouped) = ("POST", admin, true)
                } else {
                    (method, path, grouped) = (group(2)!.uppercased(), group(3)!, group(1) == "group")
                }
                let full = (grouped ? "/v1/authorities/{code}/" : "/") + path.split(separator: "/").map {
                    $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0)
                }.joined(separator: "/")
                routes.insert("\(method) \(full)")
            }
        }
        return routes
    }

    /// `METHOD /path` for each operation of Schemas/openapi.yaml (paths at two spaces, methods at four).
    func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOf: Build.root.appendingPathComponent("Schemas/openapi.yaml"), encoding: .utf8)
        var operations = Set<String>(), path: String?, inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty && !line.hasPrefix("#") { inPaths = line == "paths:" }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch", "head"].contains(method) { operations.insert("\(method.uppercased()) \(path)") }
            }
        }
        return operations
    }

    func testEveryRouteIsDocumentedAndEveryOperationIsARoute() throws {
        let routes = try registeredRoutes(), documented = try documentedOperations()
        XCTAssertGreaterThan(routes.count, 30, "the route registrations were not found in Sources/PermitServer")
        // The page's files are one wildcard route; the document names them. HEAD answers every GET
        // (the router generates it); the document lists it for the two signed lists.
        let page: Set<String> = ["GET /verify/", "GET /verify/{file}", "GET /verify/js/{file}"]
        let expected = routes.subtracting(["GET /verify/**"]).union(page)
        let heads = documented.filter { $0.hasPrefix("HEAD ") }
        XCTAssertEqual(expected.subtracting(documented).sorted(), [], "routes the document leaves out")
        XCTAssertEqual(documented.subtracting(heads).subtracting(expected).sorted(), [], "operations the server has no route for")
        for head in heads {
            XCTAssertTrue(routes.contains("GET " + head.dropFirst("HEAD ".count)), "\(head) without a GET route")
        }
    }
}
