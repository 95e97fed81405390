import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// Starting and stopping `permit serve`: TLS with a certificate openssl makes here, SIGTERM
/// after the request in flight, and the errors that keep it from starting.
final class ServeLifecycleTests: XCTestCase {
    var work: URL!
    var servers: [ServerProcess] = []
    var clients: [Client] = []
    var home: URL { work.appendingPathComponent("data") }

    override func setUpWithError() throws {
        try Build.requireBinaries()
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try runProcess(Build.permit, ["init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000"],
                environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Build.setUpNow])
    }

    override func tearDown() async throws {
        for client in clients { try? await client.shutdown() }
        for server in servers { server.stop() }
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    func start(_ arguments: [String]) throws -> ServerProcess {
        let server = try ServerProcess(arguments: arguments)
        servers.append(server)
        return server
    }

    func client(caFile: String? = nil, readTimeout: Int64 = 60) -> Client {
        let client = Client(caFile: caFile, readTimeout: readTimeout)
        clients.append(client)
        return client
    }

    /// A throwaway self-signed certificate for 127.0.0.1, made by openssl; no openssl is a failure.
    func makeCertificate() throws -> (cert: String, key: String) {
        let openssl = ["/usr/bin/openssl", "/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let openssl else {
            throw HarnessFailure("openssl is needed to make the test certificate (scripts/setup installs it)")
        }
        let cert = work.appendingPathComponent("server.crt").path, key = work.appendingPathComponent("server.key").path
        try runProcess(URL(fileURLWithPath: openssl), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                                                "-addext", "subjectAltName=IP:127.0.0.1"])
        return (cert, key)
    }

    func testTLS() async throws {
        let (cert, key) = try makeCertificate()
        let server = try start(["--listen", "127.0.0.1:0", "--data-dir", home.path, "--tls-cert", cert, "--tls-key", key])
        XCTAssertTrue(server.url.hasPrefix("https://127.0.0.1:"), server.url)
        let trusted = client(caFile: cert)
        let health = try await trusted.send(server.url + "/healthz")
        XCTAssertEqual(health.status, 200)
        let trust = try await trusted.send(server.url + "/v1/trust-list.cose")
        XCTAssertEqual(trust.body, Array(try Data(contentsOf: home.appendingPathComponent("trust-list.cose"))))
        // A client that does not trust the certificate is refused.
        do {
            _ = try await client(readTimeout: 3).send(server.url + "/healthz")
            XCTFail("an untrusted certificate was accepted")
        } catch {}
        // Plain HTTP to the TLS port gets no answer.
        do {
            let plain = try await client(readTimeout: 3).send(server.url.replacingOccurrences(of: "https://", with: "http://") + "/healthz")
            XCTAssertNotEqual(plain.status, 200)
        } catch {}
        XCTAssertEqual(server.stop(), 0)
    }

    func testTLSNeedsBothFiles() throws {
        let r = try runProcess(Build.permit, ["serve", "--listen", "127.0.0.1:0", "--data-dir", home.path, "--tls-cert", "x.crt"], check: false)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--tls-key"), r.stderr)
        let missing = try runProcess(Build.permit, ["serve", "--listen", "127.0.0.1:0", "--data-dir", home.path,
                                             "--tls-cert", work.appendingPathComponent("none.crt").path,
                                             "--tls-key", work.appendingPathComponent("none.key").path], check: false)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("none.crt"), missing.stderr)
    }

    /// SIGTERM while a request is being uploaded: the request completes, then the process exits 0,
    /// having printed nothing but its one line.
    func testSIGTERMFinishesTheRequestInFlightAndExitsZero() async throws {
        let server = try start(["--listen", "127.0.0.1:0", "--data-dir", home.path])
        let http = client()
        let first = Array("not a permit\n".utf8)
        var request = HTTPClientRequest(url: server.url + "/v1/verify")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/plain")
        let (chunks, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        request.body = .stream(chunks, length: .known(Int64(first.count * 2)))
        continuation.yield(ByteBuffer(bytes: first))
        let pid = server.process.processIdentifier
        let response = Task { () -> (Int, String) in
            let response = try await http.http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), String(buffer: body))
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        kill(pid, SIGTERM)
        try await Task.sleep(nanoseconds: 500_000_000)
        XCTAssertTrue(server.process.isRunning, "the server waits for the request in flight")
        continuation.yield(ByteBuffer(bytes: first))
        continuation.finish()
        let (status, body) = try await response.value
        XCTAssertEqual(status, 200, body)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [Any])?.count, 2, body)
        let deadline = Date().addingTimeInterval(15)
        while server.process.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        XCTAssertFalse(server.process.isRunning, "the server stops after its last request")
        XCTAssertEqual(server.process.terminationReason, .exit)
        XCTAssertEqual(server.process.terminationStatus, 0, server.stderrText)
        XCTAssertEqual(server.remainingOutput(), "", "one line on standard output, no more")
    }

    func testIdleServerExitsZeroOnSIGTERM() throws {
        let server = try start(["--listen", "127.0.0.1:0", "--data-dir", home.path])
        XCTAssertTrue(server.url.hasPrefix("http://127.0.0.1:"), server.url)
        XCTAssertNotEqual(server.url, "http://127.0.0.1:0", "port 0 prints the port bound")
        XCTAssertEqual(server.stop(), 0)
    }

    func testStartFailures() throws {
        let badListen = try runProcess(Build.permit, ["serve", "--listen", "localhost", "--data-dir", home.path], check: false)
        XCTAssertEqual(badListen.status, 2)
        XCTAssertTrue(badListen.stderr.contains("HOST:PORT"), badListen.stderr)
        let noData = try runProcess(Build.permit, ["serve", "--listen", "127.0.0.1:0", "--data-dir", work.appendingPathComponent("empty").path], check: false)
        XCTAssertEqual(noData.status, 2)
        XCTAssertTrue(noData.stderr.contains("permit init"), noData.stderr)
        let server = try start(["--listen", "127.0.0.1:0", "--data-dir", home.path])
        let taken = String(server.url.split(separator: ":").last!)
        let inUse = try runProcess(Build.permit, ["serve", "--listen", "127.0.0.1:" + taken, "--data-dir", home.path], check: false)
        XCTAssertEqual(inUse.status, 2, "a port in use: \(inUse.stderr)")
        XCTAssertEqual(inUse.text, "", "nothing on standard output when it cannot listen")
        XCTAssertTrue(inUse.stderr.contains("in use"), inUse.stderr)
        let help = try runProcess(Build.permit, ["serve", "--help"], check: false)
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.text.contains("--listen"), help.text)
    }

    /// `permit serve` without permit-server beside it: exit 2, naming the file it looked for.
    func testServeWithoutTheServerBinary() throws {
        let alone = work.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        let copy = alone.appendingPathComponent("permit")
        try FileManager.default.copyItem(at: Build.permit, to: copy)
        let r = try runProcess(copy, ["serve", "--listen", "127.0.0.1:0"], check: false)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains(alone.appendingPathComponent("permit-server").path), r.stderr)
        let help = try runProcess(Build.permit, ["--help"], check: false)
        XCTAssertTrue(help.text.contains("serve"), help.text)
    }
}
