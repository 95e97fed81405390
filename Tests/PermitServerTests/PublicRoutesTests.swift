import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// The public routes of `permit serve`, over real HTTP on loopback: the binary started through
/// `permit serve --listen 127.0.0.1:0` in a data directory made with the CLI (init, an applicant,
/// a HEALTH approver, two applications approved into permits, one revoked).
final class PublicRoutesTests: XCTestCase {
    nonisolated(unsafe) static var work: URL?
    nonisolated(unsafe) static var server: ServerProcess?
    nonisolated(unsafe) static var setUpFailure: String?

    var home: URL { Self.work!.appendingPathComponent("data") }
    var base: String { Self.server!.url }
    var client: Client!

    override func setUp() async throws {
        try Build.requireBinaries()
        if Self.work == nil && Self.setUpFailure == nil {
            do {
                try Self.makeDataDirectory()
                Self.server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", Self.work!.appendingPathComponent("data").path])
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

    static func permit(_ args: String..., home: URL) throws -> Run {
        try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Build.setUpNow])
    }

    static func makeDataDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-server-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        work = dir
        let home = dir.appendingPathComponent("data")
        let admin = home.appendingPathComponent("admin-key.pem").path
        let firm = dir.appendingPathComponent("firm.pem").path, health = dir.appendingPathComponent("health.pem").path
        try permit("init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--name-en", "Qiantang District Transport Bureau",
                   "--phone", "0571-86000000", home: home)
        try permit("applicant", "add", "--credit-code", "91330114MA24WY722X", "--name", "杭州钱塘物流有限公司", "--generate", firm,
                   "--admin-key", admin, home: home)
        try permit("approver", "add", "--department", "HEALTH", "--name", "张卫", "--generate", health, "--admin-key", admin, home: home)
        let first = try String(contentsOf: Build.root.appendingPathComponent("examples/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0]
        let second = first.replacingOccurrences(of: "QT-2026-000001", with: "QT-2026-000002").replacingOccurrences(of: "浙K5835R", with: "浙K5836R")
        let file = dir.appendingPathComponent("apps.jsonl")
        try ([String(first), second].joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        try permit("apply", "--key", firm, file.path, home: home)
        try permit("approve", "--department", "HEALTH", "--key", health, "A000001", "A000002", home: home)
        try permit("revoke", "330114000002", "--reason", "车辆超载", "--admin-key", admin, home: home)
        // The revocation list is exported by the test that first checks its absence.
    }

    func payload(_ number: String) throws -> String {
        let text = try Self.permit("export", number, "--format", "payload", home: home).text
        return String(text.dropLast(text.hasSuffix("\n") ? 1 : 0))
    }

    /// `permit verify --json` at the server's clock, on the same data directory: its lines as the JSON array the server returns.
    func cliVerdicts(_ args: [String]) throws -> String {
        let r = try runProcess(Build.permit, ["verify", "--json", "--at", Build.serverNow] + args, environment: ["PERMIT_HOME": home.path], check: false)
        XCTAssertTrue([0, 1].contains(r.status), r.stderr)
        return "[" + r.text.split(separator: "\n").joined(separator: ",") + "]"
    }

    func assertProblem(_ reply: Reply, status: Int, code: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(reply.status, status, reply.text, file: file, line: line)
        XCTAssertEqual(reply.header("Content-Type"), "application/problem+json", file: file, line: line)
        let object = try XCTUnwrap(try reply.json() as? [String: Any], reply.text, file: file, line: line)
        XCTAssertEqual(object["status"] as? Int, status, file: file, line: line)
        XCTAssertEqual(object["code"] as? String, code, reply.text, file: file, line: line)
        XCTAssertEqual(object["type"] as? String, "urn:freight-permit:problem:\(code)", file: file, line: line)
        XCTAssertNotNil(object["title"] as? String, file: file, line: line)
        XCTAssertFalse((object["detail"] as? String ?? "").isEmpty, file: file, line: line)
    }

    // MARK: health

    func testHealthAndReadiness() async throws {
        let health = try await client.send(base + "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.text, "ok\n")
        let ready = try await client.send(base + "/readyz")
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertEqual(ready.text, "ready\n")
    }

    func testUnknownPathIsAProblem() async throws {
        try assertProblem(try await client.send(base + "/v1/nothing-here"), status: 404, code: "http.notFound")
    }

    /// A path a route answers, with a method it does not take: 405 with Allow naming the methods
    /// it does take (HEAD with every GET), before any authentication; an unknown path stays 404.
    func testAWrongMethodIs405WithAllow() async throws {
        let cases: [(HTTPMethod, String, String)] = [
            (.DELETE, "/v1/trust-list.cose", "GET, HEAD"),
            (.POST, "/healthz", "GET, HEAD"),
            (.PUT, "/v1/authorities/330114/applications", "GET, HEAD, POST"),
            (.DELETE, "/v1/authorities/330114/permits/330114000001", "GET, HEAD"),
            (.GET, "/v1/authorities/330114/decision-targets", "POST"),
            (.PATCH, "/verify/index.html", "GET, HEAD"),
        ]
        for (method, path, allow) in cases {
            let reply = try await client.send(base + path, method: method)
            try assertProblem(reply, status: 405, code: "http.methodNotAllowed")
            XCTAssertEqual(reply.header("Allow"), allow, "\(method) \(path)")
        }
        try assertProblem(try await client.send(base + "/v1/authorities/330114/nothing", method: .DELETE), status: 404, code: "http.notFound")
        try assertProblem(try await client.send(base + "/v1/trust-list.cose/more", method: .DELETE), status: 404, code: "http.notFound")
    }

    // MARK: authorities and lists

    func testAuthorities() async throws {
        let reply = try await client.send(base + "/v1/authorities")
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.header("Content-Type"), "application/json")
        let list = try XCTUnwrap(try reply.json() as? [[String: Any]])
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.first?["code"] as? String, "330114")
        XCTAssertEqual(list.first?["name"] as? String, "杭州市钱塘区交通运输局")
        XCTAssertEqual(list.first?["nameEn"] as? String, "Qiantang District Transport Bureau")
        XCTAssertEqual(list.first?["phone"] as? String, "0571-86000000")
    }

    /// GET, HEAD, the ETag (quoted SHA-256 of the bytes), Cache-Control, and 304 on If-None-Match.
    func assertCacheableList(_ url: String, bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) async throws {
        let get = try await client.send(url)
        XCTAssertEqual(get.status, 200, get.text, file: file, line: line)
        XCTAssertEqual(get.body, bytes, "the served bytes are the file's", file: file, line: line)
        XCTAssertEqual(get.header("Content-Type"), "application/cose; cose-type=\"cose-sign1\"", file: file, line: line)
        XCTAssertEqual(get.header("Cache-Control"), "max-age=60", file: file, line: line)
        let etag = "\"" + sha256Hex(bytes) + "\""
        XCTAssertEqual(get.header("ETag"), etag, file: file, line: line)

        let head = try await client.send(url, method: .HEAD)
        XCTAssertEqual(head.status, 200, file: file, line: line)
        XCTAssertEqual(head.body, [], file: file, line: line)
        XCTAssertEqual(head.header("ETag"), etag, file: file, line: line)
        XCTAssertEqual(head.header("Content-Length"), String(bytes.count), file: file, line: line)

        for ifNoneMatch in [etag, "\"0000\", " + etag, "W/" + etag, "*"] {
            let cached = try await client.send(url, headers: [("If-None-Match", ifNoneMatch)])
            XCTAssertEqual(cached.status, 304, ifNoneMatch, file: file, line: line)
            XCTAssertEqual(cached.body, [], file: file, line: line)
            XCTAssertEqual(cached.header("ETag"), etag, file: file, line: line)
            XCTAssertEqual(cached.header("Cache-Control"), "max-age=60", file: file, line: line)
            let cachedHead = try await client.send(url, method: .HEAD, headers: [("If-None-Match", ifNoneMatch)])
            XCTAssertEqual(cachedHead.status, 304, file: file, line: line)
        }
        let stale = try await client.send(url, headers: [("If-None-Match", "\"" + String(repeating: "0", count: 64) + "\"")])
        XCTAssertEqual(stale.status, 200, file: file, line: line)
        XCTAssertEqual(stale.body, bytes, file: file, line: line)
    }

    func testTrustList() async throws {
        let bytes = Array(try Data(contentsOf: home.appendingPathComponent("trust-list.cose")))
        try await assertCacheableList(base + "/v1/trust-list.cose", bytes: bytes)
    }

    /// 404 while the authority has published none; then the list `permit revocations export` wrote.
    func testRevocationList() async throws {
        let url = base + "/v1/authorities/330114/revocations.cose"
        let path = home.appendingPathComponent("revocations.cose")
        try? FileManager.default.removeItem(at: path)
        try assertProblem(try await client.send(url), status: 404, code: "revocations.none")
        let head = try await client.send(url, method: .HEAD)
        XCTAssertEqual(head.status, 404)
        XCTAssertEqual(head.body, [])

        try Self.permit("revocations", "export", "--valid-days", "60", home: home)
        try await assertCacheableList(url, bytes: Array(try Data(contentsOf: path)))
        try assertProblem(try await client.send(base + "/v1/authorities/110101/revocations.cose"), status: 404, code: "authority.unknown")
    }

    // MARK: POST /v1/verify

    func ensureRevocationList() throws {
        if !FileManager.default.fileExists(atPath: home.appendingPathComponent("revocations.cose").path) {
            try Self.permit("revocations", "export", "--valid-days", "60", home: home)
        }
    }

    /// Texts, one per line (CRLF too, a line that is no permit, an empty line): the same verdicts
    /// as `permit verify --json`, byte for byte, as one array.
    func testVerifyTextGivesTheCLIVerdicts() async throws {
        try ensureRevocationList()
        let valid = try payload("330114000001"), revoked = try payload("330114000002")
        let body = valid + "\r\n" + revoked + "\n" + "not a permit\n\n" + valid.dropLast(3) + "\n"
        let file = Self.work!.appendingPathComponent("texts-\(UUID().uuidString).txt")
        try Data(body.utf8).write(to: file)
        let reply = try await client.send(base + "/v1/verify", method: .POST, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                          body: Array(body.utf8))
        XCTAssertEqual(reply.status, 200, reply.text)
        XCTAssertEqual(reply.header("Content-Type"), "application/json")
        XCTAssertEqual(reply.text, try cliVerdicts(["--file", file.path]))
        let verdicts = try XCTUnwrap(try reply.json() as? [[String: Any]])
        XCTAssertEqual(verdicts.map { $0["outcome"] as? String }, ["valid", "invalid", "invalid", "invalid", "invalid"])
        XCTAssertEqual(verdicts.prefix(4).map { $0["reason"] as? String }, [nil, "revoked", "unknownPrefix", "unknownPrefix"])
        XCTAssertEqual(verdicts[0]["number"] as? String, "330114000001")
    }

    /// The QR PNG of `permit export --format qr-png`, read by zbar: the same verdict as `permit verify --image`.
    func testVerifyImageGivesTheCLIVerdicts() async throws {
        try ensureRevocationList()
        let png = Self.work!.appendingPathComponent("qr-\(UUID().uuidString).png")
        try Self.permit("export", "330114000001", "--format", "qr-png", "-o", png.path, home: home)
        let reply = try await client.send(base + "/v1/verify", method: .POST, headers: [("Content-Type", "image/png")],
                                          body: Array(try Data(contentsOf: png)))
        XCTAssertEqual(reply.status, 200, reply.text)
        XCTAssertEqual(reply.text, try cliVerdicts(["--image", png.path]))
        XCTAssertTrue(reply.text.contains("\"outcome\":\"valid\""), reply.text)

        // A picture with no code in it: a verdict `unreadable`, as the CLI gives for such a file.
        let noCode = try await client.send(base + "/v1/verify", method: .POST, headers: [("Content-Type", "image/jpeg")],
                                           body: Array("not a picture".utf8))
        XCTAssertEqual(noCode.status, 200)
        let verdicts = try XCTUnwrap(try noCode.json() as? [[String: Any]])
        XCTAssertEqual(verdicts.first?["reason"] as? String, "unreadable")
        XCTAssertEqual(verdicts.first?["outcome"] as? String, "error")
    }

    func testVerifyRefusals() async throws {
        let url = base + "/v1/verify"
        try assertProblem(try await client.send(url, method: .POST, headers: [("Content-Type", "application/json")], body: Array("[]".utf8)),
                          status: 415, code: "verify.mediaType")
        try assertProblem(try await client.send(url, method: .POST, body: Array("FP1:".utf8)), status: 415, code: "verify.mediaType")
        try assertProblem(try await client.send(url, method: .POST, headers: [("Content-Type", "text/plain")], body: []),
                          status: 400, code: "verify.emptyBody")
        try assertProblem(try await client.send(url, method: .POST, headers: [("Content-Type", "image/png")], body: []),
                          status: 400, code: "verify.emptyBody")
        let tooLarge = [UInt8](repeating: UInt8(ascii: "A"), count: 8 << 20 + 1)
        try assertProblem(try await client.send(url, method: .POST, headers: [("Content-Type", "text/plain")], body: tooLarge),
                          status: 413, code: "request.tooLarge")
        // Exactly 8 MiB is read.
        let largest = [UInt8](repeating: UInt8(ascii: "A"), count: 8 << 20)
        let accepted = try await client.send(url, method: .POST, headers: [("Content-Type", "text/plain")], body: largest)
        XCTAssertEqual(accepted.status, 200)
        let get = try await client.send(url, method: .GET)
        XCTAssertEqual(get.status, 405, get.text)
    }

    // MARK: the checkpoint page

    func testVerifierPage() async throws {
        let redirect = try await client.send(base + "/verify")
        XCTAssertEqual(redirect.status, 301)
        XCTAssertEqual(redirect.header("Location"), "/verify/")

        let pem = try String(contentsOf: home.appendingPathComponent("root.pub.pem"), encoding: .utf8)
        let rootBase64 = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let index = try await client.send(base + "/verify/")
        XCTAssertEqual(index.status, 200)
        XCTAssertEqual(index.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(index.text.contains("<meta name=\"permit-root\" content=\"\(rootBase64)\">"), index.text)
        XCTAssertFalse(index.text.contains("__PERMIT_ROOT_SPKI_BASE64__"))

        // Every file of Web/verify (its README aside) is served, byte for byte, with its type.
        let folder = Build.root.appendingPathComponent("Web/verify")
        let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
                     "webmanifest": "application/manifest+json", "svg": "image/svg+xml"]
        let names = try XCTUnwrap(FileManager.default.subpaths(atPath: folder.path))
            .filter { !$0.hasSuffix("README.md") && !isDirectory(folder.appendingPathComponent($0)) }
        XCTAssertGreaterThanOrEqual(names.count, 10)
        for name in names.sorted() {
            let reply = try await client.send(base + "/verify/" + name)
            XCTAssertEqual(reply.status, 200, name)
            let ext = String(name.split(separator: ".").last!)
            XCTAssertEqual(reply.header("Content-Type"), types[ext], name)
            var expected = Array(try Data(contentsOf: folder.appendingPathComponent(name)))
            if name == "index.html" {
                expected = Array(String(decoding: expected, as: UTF8.self).replacingOccurrences(of: "__PERMIT_ROOT_SPKI_BASE64__", with: rootBase64).utf8)
            }
            XCTAssertEqual(reply.body, expected, "\(name) differs from Web/verify/\(name)")
            XCTAssertNotNil(reply.header("ETag"), name)
        }
        let worker = try await client.send(base + "/verify/sw.js")
        XCTAssertEqual(worker.header("Service-Worker-Allowed"), "/verify/")
        let cached = try await client.send(base + "/verify/js/app.js", headers: [("If-None-Match", try XCTUnwrap(worker.header("ETag")))])
        XCTAssertEqual(cached.status, 200, "another file's ETag does not match")
        let again = try await client.send(base + "/verify/sw.js", headers: [("If-None-Match", try XCTUnwrap(worker.header("ETag")))])
        XCTAssertEqual(again.status, 304)
        try assertProblem(try await client.send(base + "/verify/README.md"), status: 404, code: "http.notFound")
        try assertProblem(try await client.send(base + "/verify/js/nothing.js"), status: 404, code: "http.notFound")
    }

    func isDirectory(_ url: URL) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
    }
}

/// Lowercase hex SHA-256, by the sha256sum tool: independent of the server's own hashing.
func sha256Hex(_ bytes: [UInt8]) -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("permit-server-sha-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: file) }
    try? Data(bytes).write(to: file)
    let r = try? runProcess(URL(fileURLWithPath: "/usr/bin/sha256sum"), [file.path])
    return String(r?.text.prefix(64) ?? "")
}
