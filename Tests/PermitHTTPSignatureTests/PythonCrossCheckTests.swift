import Foundation
import PermitHTTPSignature
import PermitSeal
import XCTest

/// Both directions against Python's http-message-signatures 3.0.0 (scripts/httpsig-check.py):
/// Python verifies what we sign, we verify what Python signs, and each side refuses the
/// other's requests once tampered with. A missing venv or package fails the test.
final class PythonCrossCheckTests: XCTestCase {
    struct Entry: Codable {
        struct Request: Codable {
            var method: String
            var targetURI: String
            var headers: [[String]]
            var body: String
        }
        var name: String
        var publicKeyPEM: String
        var request: Request
    }

    struct Outcome: Decodable {
        var name: String
        var ok: Bool
        var error: String?
    }

    func entry(_ name: String, _ request: RequestMessage, _ key: PublicKey) -> Entry {
        Entry(name: name, publicKeyPEM: key.pem,
              request: .init(method: request.method, targetURI: request.targetURI,
                             headers: request.headerFields.map { [$0.name, $0.value] },
                             body: Data(request.body).base64EncodedString()))
    }

    func message(_ entry: Entry) -> RequestMessage {
        RequestMessage(method: entry.request.method, targetURI: entry.request.targetURI,
                       headerFields: entry.request.headers.map { ($0[0], $0[1]) },
                       body: Array(Data(base64Encoded: entry.request.body)!))
    }

    struct CrossCheckUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs the check script; throws, failing the test (never skipping it), when Python or the
    /// pinned package is absent or the script cannot run.
    func python(_ arguments: [String]) throws -> [Outcome] {
        let python = repositoryRoot.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw CrossCheckUnavailable(description: "no .venv/bin/python: run scripts/setup, which installs http-message-signatures==3.0.0")
        }
        let process = Process()
        process.executableURL = python
        process.arguments = [repositoryRoot.appendingPathComponent("scripts/httpsig-check.py").path] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CrossCheckUnavailable(description: "httpsig-check.py \(arguments.first ?? "") exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return try String(decoding: output, as: UTF8.self).split(separator: "\n")
            .map { try JSONDecoder().decode(Outcome.self, from: Data($0.utf8)) }
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("httpsig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testPythonVerifiesWhatWeSign() throws {
        let dir = try temporaryDirectory()
        // Python checks `created` against its own wall clock, so these are signed at the real time.
        let now = Int64(Date().timeIntervalSince1970)
        var entries: [Entry] = []
        var expected: [String: Bool] = [:]
        for key in [PrivateKey.generate(.edDSA), PrivateKey.generate(.es256)] {
            let alg = SignatureAlgorithm(key.algorithm).rawValue
            for (kind, template) in [("post", applicationRequest()), ("get", listingRequest())] {
                var request = template
                try RequestSignature.sign(&request, with: key, created: now)
                entries.append(entry("swift-\(alg)-\(kind)", request, key.publicKey))
                expected["swift-\(alg)-\(kind)"] = true

                var tampered = request
                tampered.targetURI += kind == "get" ? "&after=A000999" : "?dry-run=1"
                entries.append(entry("swift-\(alg)-\(kind)-tampered-uri", tampered, key.publicKey))
                expected["swift-\(alg)-\(kind)-tampered-uri"] = false
            }
            var body = applicationRequest()
            try RequestSignature.sign(&body, with: key, created: now)
            body.body = Array(#"{"reference":"R-1","plate":"浙A99999"}"#.utf8)
            entries.append(entry("swift-\(alg)-post-tampered-body", body, key.publicKey))
            expected["swift-\(alg)-post-tampered-body"] = false
        }
        try JSONEncoder().encode(entries).write(to: dir.appendingPathComponent("swift-requests.json"))

        let outcomes = try python(["verify", dir.path])
        XCTAssertEqual(Set(outcomes.map(\.name)), Set(expected.keys))
        for outcome in outcomes {
            XCTAssertEqual(outcome.ok, expected[outcome.name], "\(outcome.name): \(outcome.error ?? "accepted")")
        }
        let accepted = outcomes.filter { $0.ok && expected[$0.name] == true }.count
        let refused = outcomes.filter { !$0.ok && expected[$0.name] == false }.count
        print("httpsig crosscheck: python verified \(accepted) of \(expected.values.filter { $0 }.count) Swift-signed requests, refused \(refused) of \(expected.values.filter { !$0 }.count) tampered ones")
    }

    func testWeVerifyWhatPythonSigns() throws {
        let dir = try temporaryDirectory()
        let now = testNow
        let outcomes = try python(["sign", dir.path, String(now)])
        XCTAssertEqual(outcomes.count, 4)
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("python-requests.json")))
        XCTAssertEqual(entries.count, 4)
        var accepted = 0
        for entry in entries {
            let key = try PublicKey(pemOrDER: Array(entry.publicKeyPEM.utf8))
            let lookup: (String) -> PublicKey? = { $0 == key.kidHex ? key : nil }  // Python's kid must be ours
            let request = message(entry)
            let verified = try RequestSignature.verify(request, now: now + 5, key: lookup)
            XCTAssertEqual(verified.keyID, key.kidHex, entry.name)
            XCTAssertEqual(verified.created, now)
            XCTAssertEqual(verified.expires, now + 300)
            XCTAssertEqual(verified.algorithm, SignatureAlgorithm(key.algorithm))
            accepted += 1

            var tampered = request
            tampered.method = request.method == "GET" ? "DELETE" : "PUT"
            assertRefused(tampered, .badSignature, keys: lookup)
            if request.hasBody {
                tampered = request
                tampered.body[tampered.body.count - 2] ^= 0x01
                assertRefused(tampered, .digest, keys: lookup)
            }
        }
        XCTAssertEqual(accepted, 4)
        print("httpsig crosscheck: verified \(accepted) Python-signed requests (ed25519, ecdsa-p256-sha256; with and without body), refused their tampered copies")
    }
}
