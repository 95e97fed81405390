import Foundation
import XCTest

/// `permit trust pull` and `permit revocations pull` against a live `permit serve` on loopback:
/// a first pull writes a list that verifies, a second costs a 304 and leaves the file alone, and
/// a list signed by another root, an older list, or a server that is not there changes nothing.
final class ListPullTests: XCTestCase {
    var work: URL!
    var servers: [ServerProcess] = []
    /// The authority's data directory the server serves.
    var authority: URL { work.appendingPathComponent("authority") }
    /// The checkpoint's directory: its PERMIT_HOME, with the pinned root copied in.
    var checkpoint: URL { work.appendingPathComponent("checkpoint") }
    var pinnedRoot: String { checkpoint.appendingPathComponent("root.pub.pem").path }
    var trustFile: String { checkpoint.appendingPathComponent("trust-list.cose").path }
    var revocationsFile: String { checkpoint.appendingPathComponent("revocations.cose").path }

    override func setUpWithError() throws {
        try Build.requireBinaries()
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-pull-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
        try makeAuthority(authority)
        try FileManager.default.copyItem(atPath: authority.appendingPathComponent("root.pub.pem").path, toPath: pinnedRoot)
    }

    override func tearDown() {
        for server in servers { server.stop() }
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    /// `permit init` (a root of its own) and an exported revocation list.
    func makeAuthority(_ home: URL) throws {
        let env = ["PERMIT_HOME": home.path, "PERMIT_NOW": Build.setUpNow]
        try runProcess(Build.permit, ["init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--name-en", "Qiantang District Transport Bureau",
                                      "--phone", "0571-86000000"], environment: env)
        try runProcess(Build.permit, ["revocations", "export"], environment: env)
    }

    func serve(_ home: URL) throws -> String {
        let server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home.path])
        servers.append(server)
        return server.url
    }

    /// Runs `permit ARGS` as the checkpoint (PERMIT_HOME is its directory, PERMIT_SERVER unset
    /// unless given), killed if it takes over 60 s.
    func permit(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = Build.permit
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LANG"] = "C.UTF-8"
        env["PERMIT_HOME"] = checkpoint.path
        env["PERMIT_SERVER"] = ""
        env.removeValue(forKey: "PERMIT_NOW")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = work.appendingPathComponent("out-\(UUID().uuidString)"), err = work.appendingPathComponent("err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw HarnessFailure("permit \(arguments.joined(separator: " ")) took over 60 s")
        }
        return Run(status: process.terminationStatus, stdout: (try? Data(contentsOf: out)) ?? Data(),
                   stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    func json(_ run: Run, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], run.text + run.stderr, file: file, line: line)
    }

    func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }

    func errorCode(_ run: Run) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: run.stdout) as? [String: Any],
              let errors = object["errors"] as? [[String: Any]] else { return nil }
        return errors.first?["code"] as? String
    }

    // MARK: -

    func testFirstPullWritesAVerifiedListAndTheSecondCostsA304() throws {
        let server = try serve(authority)
        let first = try permit(["trust", "pull", "--server", server, "--root", pinnedRoot, "-o", trustFile, "--json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let published = try XCTUnwrap(bytes(authority.appendingPathComponent("trust-list.cose").path))
        XCTAssertEqual(bytes(trustFile), published, "the file holds the served list, byte for byte")
        let summary = try json(first)
        XCTAssertEqual(summary["changed"] as? Bool, true)
        XCTAssertEqual(summary["status"] as? Int, 200)
        XCTAssertEqual(summary["list"] as? String, "trust-list")
        XCTAssertEqual(summary["file"] as? String, trustFile)
        XCTAssertEqual(summary["url"] as? String, server + "/v1/trust-list.cose")
        XCTAssertEqual(summary["etag"] as? String, "\"" + sha256Hex(published) + "\"")
        XCTAssertEqual(summary["keys"] as? Int, 1)
        XCTAssertNil(summary["previousSequence"])
        let sequence = try XCTUnwrap(summary["sequence"] as? Int)
        XCTAssertGreaterThan(sequence, 0)
        let mode = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: trustFile)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o644)

        // It verifies, as the checkpoint will use it.
        let show = try permit(["trust", "show", trustFile, "--root", pinnedRoot, "--json"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertEqual(try json(show)["signature"] as? String, "verified")

        // The second pull: 304, and the file is not touched (its old mtime and inode stay).
        let old = Date(timeIntervalSince1970: 978_307_200)
        try FileManager.default.setAttributes([.modificationDate: old, .posixPermissions: 0o640], ofItemAtPath: trustFile)
        let inode = try FileManager.default.attributesOfItem(atPath: trustFile)[.systemFileNumber] as? Int
        let second = try permit(["trust", "pull", "--server", server, "--root", pinnedRoot, "-o", trustFile, "--json"])
        XCTAssertEqual(second.status, 0, second.stderr)
        let again = try json(second)
        XCTAssertEqual(again["changed"] as? Bool, false)
        XCTAssertEqual(again["status"] as? Int, 304)
        XCTAssertEqual(again["sequence"] as? Int, sequence)
        XCTAssertEqual(again["previousSequence"] as? Int, sequence)
        XCTAssertEqual(again["etag"] as? String, summary["etag"] as? String)
        let attributes = try FileManager.default.attributesOfItem(atPath: trustFile)
        XCTAssertEqual(attributes[.modificationDate] as? Date, old)
        XCTAssertEqual(attributes[.systemFileNumber] as? Int, inode)
        XCTAssertEqual(attributes[.posixPermissions] as? Int, 0o640)
        XCTAssertEqual(bytes(trustFile), published)

        // In words, and from PERMIT_SERVER.
        let text = try permit(["trust", "pull", "--root", pinnedRoot, "-o", trustFile], environment: ["PERMIT_SERVER": server])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.text.contains("is current (304)"), text.text)
    }

    func testRevocationsPullFindsTheOnlyAuthorityAndChecksAgainstTheTrustList() throws {
        let server = try serve(authority)
        // Every default: DATA/root.pub.pem, DATA/trust-list.cose, DATA/revocations.cose, DATA = PERMIT_HOME.
        XCTAssertEqual(try permit(["trust", "pull", "--server", server]).status, 0)
        let first = try permit(["revocations", "pull", "--server", server, "--json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let summary = try json(first)
        XCTAssertEqual(summary["authority"] as? String, "330114")
        XCTAssertEqual(summary["list"] as? String, "revocations")
        XCTAssertEqual(summary["changed"] as? Bool, true)
        XCTAssertEqual(summary["entries"] as? Int, 0)
        XCTAssertEqual(summary["url"] as? String, server + "/v1/authorities/330114/revocations.cose")
        XCTAssertEqual(bytes(revocationsFile), bytes(authority.appendingPathComponent("revocations.cose").path))

        let second = try permit(["revocations", "pull", "--server", server, "--authority", "330114", "--trust", trustFile,
                                 "--root", pinnedRoot, "-o", revocationsFile, "--json"])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(try json(second)["status"] as? Int, 304)

        // An authority the server does not host: its 404 problem, exit 2, no file made.
        let elsewhere = checkpoint.appendingPathComponent("320102.cose").path
        let unknown = try permit(["revocations", "pull", "--server", server, "--authority", "320102", "-o", elsewhere, "--json"])
        XCTAssertEqual(unknown.status, 2, unknown.text)
        XCTAssertEqual(errorCode(unknown), "authority.unknown")
        XCTAssertFalse(FileManager.default.fileExists(atPath: elsewhere))
        // The file holds 330114's list: another authority's goes into a file of its own.
        let other = try permit(["revocations", "pull", "--server", server, "--authority", "320102", "--json"])
        XCTAssertEqual(other.status, 2, other.text)
        XCTAssertEqual(errorCode(other), "pull.fileOfOtherAuthority")
        XCTAssertEqual(try permit(["revocations", "pull", "--server", server, "--authority", "12345"]).status, 2)
    }

    func testAListSignedByAnotherRootIsRefusedAndTheOldFileKept() throws {
        let server = try serve(authority)
        XCTAssertEqual(try permit(["trust", "pull", "--server", server]).status, 0)
        XCTAssertEqual(try permit(["revocations", "pull", "--server", server]).status, 0)
        let trustBefore = bytes(trustFile), revocationsBefore = bytes(revocationsFile)

        // Another deployment of the same authority code, with a root and an issuer key of its own.
        let other = work.appendingPathComponent("other")
        try makeAuthority(other)
        let impostor = try serve(other)
        let trust = try permit(["trust", "pull", "--server", impostor, "--json"])
        XCTAssertEqual(trust.status, 1, trust.text + trust.stderr)
        XCTAssertEqual(errorCode(trust), "pull.notVerified")
        XCTAssertEqual(bytes(trustFile), trustBefore)

        let revocations = try permit(["revocations", "pull", "--server", impostor])
        XCTAssertEqual(revocations.status, 1, revocations.stderr)
        XCTAssertTrue(revocations.stderr.contains("does not verify"), revocations.stderr)
        XCTAssertEqual(bytes(revocationsFile), revocationsBefore)
    }

    func testAnOlderSequenceIsRefused() throws {
        let server = try serve(authority)
        let published = authority.appendingPathComponent("trust-list.cose")
        let older = try Data(contentsOf: published)
        // The authority re-signs its list a day later: a higher sequence.
        try runProcess(Build.permit, ["trust", "export"], environment: ["PERMIT_HOME": authority.path, "PERMIT_NOW": "2026-12-01T09:00:00+08:00"])
        let newer = try Data(contentsOf: published)
        XCTAssertNotEqual(newer, older)
        let first = try permit(["trust", "pull", "--server", server, "--json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let sequence = try XCTUnwrap(try json(first)["sequence"] as? Int)

        // The server goes back to the older list (a restored backup, or a replayed response).
        try older.write(to: published)
        let refused = try permit(["trust", "pull", "--server", server, "--json"])
        XCTAssertEqual(refused.status, 1, refused.text + refused.stderr)
        XCTAssertEqual(errorCode(refused), "pull.olderSequence")
        XCTAssertEqual(bytes(trustFile), Array(newer))
        let text = try permit(["trust", "pull", "--server", server])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stderr.contains("older than the \(sequence)"), text.stderr)
    }

    func testAnUnreachableServerExits2NamingTheURL() throws {
        let url = "http://127.0.0.1:\(try unusedPort())"
        let trust = try permit(["trust", "pull", "--server", url, "--root", pinnedRoot, "-o", trustFile])
        XCTAssertEqual(trust.status, 2, trust.stderr)
        XCTAssertTrue(trust.stderr.contains("cannot reach the permit server \(url)"), trust.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: trustFile))

        let json = try permit(["revocations", "pull", "--authority", "330114", "--trust", authority.appendingPathComponent("trust-list.cose").path,
                               "--json"], environment: ["PERMIT_SERVER": url])
        XCTAssertEqual(json.status, 2, json.stderr)
        XCTAssertEqual(errorCode(json), "server.unreachable")

        let none = try permit(["trust", "pull", "--root", pinnedRoot])
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stderr.contains("PERMIT_SERVER"), none.stderr)
        let notHTTP = try permit(["trust", "pull", "--server", "ftp://127.0.0.1/"])
        XCTAssertEqual(notHTTP.status, 2)
    }

    /// A loopback port nothing listens on: bound, read, and closed again.
    func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessFailure("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw HarnessFailure("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
