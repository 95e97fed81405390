import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PermitHTTPSignature
import PermitSeal
import XCTest

/// The limits of `permit serve` (service.md, "Limits"), `/metrics` and the request log, against
/// the real binary over loopback: slow headers and a slow body (408), a body over the size
/// (413), the connection cap (503), the token bucket (429), the Prometheus text, and one log
/// line per request with nothing personal in it. Each test starts its own server with the
/// options it needs, on one data directory: init, an applicant, a HEALTH approver, two
/// applications, one approved into a permit and one pending.
final class LimitsTests: XCTestCase {
    nonisolated(unsafe) static var work: URL?
    nonisolated(unsafe) static var setUpFailure: String?

    var home: URL { Self.work!.appendingPathComponent("data") }
    var firmKey: String { Self.work!.appendingPathComponent("firm.pem").path }
    var servers: [ServerProcess] = []
    var clients: [Client] = []

    /// What the fixture application holds that no log line may: the crew's ID numbers and phones,
    /// the applicant's phone.
    static let personal = ["330726196612242736", "15260695247", "330624197604171778", "18466389284", "0571-86912345"]

    override func setUp() async throws {
        try Build.requireBinaries()
        if Self.work == nil && Self.setUpFailure == nil {
            do { try Self.makeDataDirectory() } catch { Self.setUpFailure = "\(error)" }
        }
        if let failure = Self.setUpFailure { throw HarnessFailure("set-up failed: \(failure)") }
    }

    override func tearDown() async throws {
        for client in clients { try? await client.shutdown() }
        for server in servers { server.stop() }
    }

    override class func tearDown() {
        if let work { try? FileManager.default.removeItem(at: work) }
        work = nil
        super.tearDown()
    }

    static func makeDataDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-limits-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        work = dir
        let home = dir.appendingPathComponent("data")
        let admin = home.appendingPathComponent("admin-key.pem").path
        let firm = dir.appendingPathComponent("firm.pem").path, health = dir.appendingPathComponent("health.pem").path
        func permit(_ args: String...) throws {
            try runProcess(Build.permit, args, environment: ["PERMIT_HOME": home.path, "PERMIT_NOW": Build.setUpNow])
        }
        try permit("init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--phone", "0571-86000000")
        try permit("applicant", "add", "--credit-code", "91330114MA24WY722X", "--name", "杭州钱塘物流有限公司", "--generate", firm, "--admin-key", admin)
        try permit("approver", "add", "--department", "HEALTH", "--name", "张卫", "--generate", health, "--admin-key", admin)
        let first = try String(contentsOf: Build.root.appendingPathComponent("examples/applications.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0]
        let second = first.replacingOccurrences(of: "QT-2026-000001", with: "QT-2026-000002").replacingOccurrences(of: "浙K5835R", with: "浙K5836R")
        let file = dir.appendingPathComponent("apps.jsonl")
        try ([String(first), second].joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        try permit("apply", "--key", firm, file.path)
        try permit("approve", "--department", "HEALTH", "--key", health, "A000001")
    }

    func start(_ options: [String], logLevel: String? = nil) throws -> ServerProcess {
        let server = try ServerProcess(arguments: ["--listen", "127.0.0.1:0", "--data-dir", home.path] + options,
                                       environment: logLevel.map { ["LOG_LEVEL": $0] } ?? [:])
        servers.append(server)
        return server
    }

    func client() -> Client {
        let client = Client(readTimeout: 20)
        clients.append(client)
        return client
    }

    /// A GET signed with `key` at the server's clock (PERMIT_NOW), as a firm's client would send it.
    func signedGet(_ client: Client, _ base: String, _ path: String, key: String) async throws -> Reply {
        var message = RequestMessage(method: "GET", targetURI: base + path)
        let created = Int64(ISO8601DateFormatter().date(from: Build.serverNow)!.timeIntervalSince1970)
        try RequestSignature.sign(&message, with: try PrivateKey.load(path: key), created: created)
        return try await client.send(base + path, headers: message.headerFields.map { ($0.name, $0.value) })
    }

    func kid(ofKey path: String) throws -> String { try PrivateKey.load(path: path).publicKey.kidHex }

    func assertProblem(_ response: RawResponse?, status: Int, code: String, closes: Bool = true,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try XCTUnwrap(response, "no response", file: file, line: line)
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        XCTAssertEqual(response.header("Content-Type"), "application/problem+json", file: file, line: line)
        let object = try response.json()
        XCTAssertEqual(object["status"] as? Int, status, file: file, line: line)
        XCTAssertEqual(object["code"] as? String, code, response.text, file: file, line: line)
        XCTAssertEqual(object["type"] as? String, "urn:freight-permit:problem:\(code)", file: file, line: line)
        XCTAssertFalse((object["detail"] as? String ?? "").isEmpty, file: file, line: line)
        if closes { XCTAssertEqual(response.header("Connection"), "close", file: file, line: line) }
    }

    /// The metrics listener's URL, from the line the server logs when it is bound.
    func metricsURL(_ server: ServerProcess) throws -> String {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let range = server.stderrText.range(of: #"metrics on (http://[^ \n]+)/metrics"#, options: .regularExpression) {
                return String(server.stderrText[range].dropFirst("metrics on ".count).dropLast("/metrics".count))
            }
            usleep(20_000)
        }
        throw HarnessFailure("no 'metrics on' line; stderr: \(server.stderrText)")
    }

    // MARK: 408

    /// 80 connections send their headers one byte every 100 ms. Meanwhile another client's
    /// GET /healthz and GET /v1/authorities answer at once, and each slow connection gets 408
    /// problem+json within the 2 s header deadline of its first byte, then is closed.
    func testSlowHeadersAreRefusedAndDoNotStarveOthers() async throws {
        let started = Date()
        let headerTimeout = 2.0
        let server = try start(["--header-timeout", "2"])
        let port = RawConnection.port(of: server.url)
        let count = 80
        let slow = try (0..<count).map { _ in try RawConnection(port: port) }
        let request = Array(("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Pad: " + String(repeating: "a", count: 400) + "\r\n\r\n").utf8)

        struct Outcome: Sendable { var seconds: Double?; var response: String?; var status: Int?; var code: String?; var closed: Bool }
        let trickle = Task.detached { () -> [Outcome] in
            await onThread {
                var outcomes = [Outcome](repeating: Outcome(closed: false), count: count)
                var firstByte = [Date?](repeating: nil, count: count)
                var done = [Bool](repeating: false, count: count)
                var sent = 0
                let giveUp = Date().addingTimeInterval(headerTimeout + 8)
                while done.contains(false) && Date() < giveUp && sent < request.count {
                    for i in 0..<count where !done[i] {
                        if slow[i].send([request[sent]]), firstByte[i] == nil { firstByte[i] = Date() }
                        slow[i].pump()
                        let response = RawResponse(slow[i].received)
                        if response != nil || slow[i].closedByPeer {
                            done[i] = true
                            outcomes[i] = Outcome(seconds: firstByte[i].map { Date().timeIntervalSince($0) }, response: response?.text,
                                                  status: response?.status, code: (try? response?.json())?["code"] as? String,
                                                  closed: slow[i].closedByPeer)
                        }
                    }
                    sent += 1
                    usleep(100_000)
                }
                return outcomes
            }
        }

        // Another client, meanwhile.
        let http = client()
        var latencies: [Double] = []
        let until = Date().addingTimeInterval(headerTimeout + 1)
        while Date() < until {
            for path in ["/healthz", "/v1/authorities"] {
                let t0 = Date()
                let reply = try await http.send(server.url + path)
                latencies.append(Date().timeIntervalSince(t0))
                XCTAssertEqual(reply.status, 200, reply.text)
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }

        let outcomes = await trickle.value
        for (i, outcome) in outcomes.enumerated() {
            XCTAssertEqual(outcome.status, 408, "slow connection \(i): \(outcome)")
            XCTAssertEqual(outcome.code, "request.timeout", "slow connection \(i): \(outcome)")
            XCTAssertLessThan(outcome.seconds ?? .infinity, headerTimeout + 1.0, "slow connection \(i) answered late: \(outcome)")
        }
        // After the 408 the server closes the connection.
        XCTAssertTrue(slow[0].waitClosed(timeout: 5), "the connection is closed after the 408")
        for connection in slow { connection.close() }

        latencies.sort()
        let answered = outcomes.compactMap(\.seconds).sorted()
        print("slowloris: \(count) slow connections; \(latencies.count) other requests, median \(Self.ms(latencies[latencies.count / 2])) ms, "
              + "max \(Self.ms(latencies.last!)) ms; 408 after \(Self.ms(answered.first ?? 0))–\(Self.ms(answered.last ?? 0)) ms from the first byte; "
              + "test \(Self.ms(Date().timeIntervalSince(started))) ms")
        XCTAssertGreaterThan(latencies.count, 10)
        XCTAssertLessThan(latencies.last!, 1.5, "another client waited while the slow ones held their connections")

        let metrics = try await http.send(server.url + "/metrics").text
        XCTAssertTrue(metrics.contains("permit_http_request_timeouts_total{phase=\"headers\"} \(count)\n"), metrics)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }

    static func ms(_ seconds: Double) -> String { String(Int((seconds * 1000).rounded())) }

    /// Headers complete, body trickling: 408 problem+json from the route reading it, within the
    /// body deadline, then the connection closes; the log names the route.
    func testSlowBodyIsRefused() async throws {
        let server = try start(["--body-timeout", "2"], logLevel: "info")
        let connection = try RawConnection(port: RawConnection.port(of: server.url))
        defer { connection.close() }
        connection.send("POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
        let t0 = Date()
        let response: RawResponse? = await onThread {
            for _ in 0..<100 {
                connection.send("x")
                if let response = connection.response(timeout: 0.2) { return response }
                if connection.closedByPeer { return nil }
            }
            return nil
        }
        let elapsed = Date().timeIntervalSince(t0)
        try assertProblem(response, status: 408, code: "request.timeout")
        XCTAssertEqual(try response?.json()["field"] as? String, "body")
        XCTAssertGreaterThanOrEqual(elapsed, 1.9)
        XCTAssertLessThan(elapsed, 3.5)
        XCTAssertTrue(connection.waitClosed(timeout: 5), "the connection is closed after the 408")
        let metrics = try await client().send(server.url + "/metrics").text
        XCTAssertTrue(metrics.contains("permit_http_request_timeouts_total{phase=\"body\"} 1\n"), metrics)
        XCTAssertTrue(metrics.contains("permit_http_requests_total{route=\"/v1/verify\",method=\"POST\",status=\"408\"} 1\n"), metrics)
        XCTAssertTrue(server.stderrText.contains("route=/v1/verify status=408"), server.stderrText)
    }

    /// A silent new connection is closed after the header deadline, without an answer.
    func testSilentConnectionIsClosed() async throws {
        let server = try start(["--header-timeout", "1"])
        let connection = try RawConnection(port: RawConnection.port(of: server.url))
        defer { connection.close() }
        let t0 = Date()
        let closed = await onThread { connection.waitClosed(timeout: 5) }
        XCTAssertTrue(closed)
        XCTAssertEqual(connection.received, [], "nothing was asked, nothing is answered")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2.5)
    }

    // MARK: bytes that are not HTTP

    /// Bytes the HTTP/1 decoder cannot read get a 400 problem+json (`request.malformed`) and the
    /// connection closes, also when they follow a request still being answered (after its answer);
    /// a broken chunked body is the same 400 from the route reading it. Hummingbird alone answers
    /// a bare 400 with no body.
    func testUnreadableHTTPIsAProblem() async throws {
        let server = try start([])
        let port = RawConnection.port(of: server.url)
        let cases: [(String, String)] = [
            ("a request line that is not one", "GARBAGE\r\n\r\n"),
            ("a header without a colon", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n"),
            ("a Content-Length that is not a number", "POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"),
            ("a NUL in the path", "GET /heal\u{0}thz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
            ("a chunk size that is not hex", "POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n" +
                "Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"),
        ]
        for (name, bytes) in cases {
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            connection.send(bytes)
            let response = await onThread { connection.response(timeout: 5) }
            try assertProblem(response, status: 400, code: "request.malformed", closes: false)
            XCTAssertFalse((try response?.json()["detail"] as? String ?? "").isEmpty, name)
            let closed = await onThread { connection.waitClosed(timeout: 5) }
            XCTAssertTrue(closed, "\(name): the connection closes")
        }
        // Pipelined behind two good requests: both answered, then the 400.
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGARBAGE\r\n\r\n")
        _ = await onThread { connection.waitClosed(timeout: 5) }
        let text = String(decoding: connection.received, as: UTF8.self)
        let statuses = text.components(separatedBy: .newlines).filter { $0.hasPrefix("HTTP/1.1 ") }
        XCTAssertEqual(statuses, ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 400 Bad Request"], text)
        XCTAssertTrue(text.hasSuffix("\"urn:freight-permit:problem:request.malformed\"}"), text)
        // The server still answers.
        let health = try await client().send(server.url + "/healthz")
        XCTAssertEqual(health.status, 200)
    }

    // MARK: 413

    /// With --max-body-bytes 1024: a larger body is 413 problem+json on every route, by its
    /// Content-Length before any route reads it, or while it is read without one; its bytes are
    /// dropped and the connection serves the next request (a client that reads the answer only
    /// once it has sent the body gets it).
    func testOversizedBodiesAreRefusedOnEveryRoute() async throws {
        let server = try start(["--max-body-bytes", "1024"])
        let port = RawConnection.port(of: server.url)
        let next = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        /// The answer to `head` + `body`, then the answer to GET /healthz on the same connection.
        func exchange(_ head: String, _ body: [UInt8] = []) async throws -> (RawResponse?, next: Int?) {
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            return await onThread {
                connection.send(Array(head.utf8) + body)
                let response = connection.response(timeout: 10)
                connection.clear()
                connection.send(next)
                return (response, connection.response(timeout: 10)?.status)
            }
        }
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 2048)
        // By its Content-Length, on a route that reads bodies, one that does not, a signed one, and no route.
        for target in ["POST /v1/verify", "GET /healthz", "POST /v1/authorities/330114/applications", "POST /v1/nothing-here"] {
            let (response, then) = try await exchange("\(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2048\r\n\r\n", big)
            try assertProblem(response, status: 413, code: "request.tooLarge", closes: false)
            XCTAssertEqual(then, 200, "\(target): the connection serves the next request")
        }
        // Without a Content-Length, while it is read.
        let chunk = "400\r\n" + String(repeating: "y", count: 1024) + "\r\n"
        let (chunked, then) = try await exchange("POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                                                 Array((chunk + chunk + chunk + "0\r\n\r\n").utf8))
        try assertProblem(chunked, status: 413, code: "request.tooLarge", closes: false)
        XCTAssertEqual(then, 200)
        // At the limit: read and answered.
        let (fits, _) = try await exchange("POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n",
                                           [UInt8](repeating: UInt8(ascii: "z"), count: 1024))
        XCTAssertEqual(fits?.status, 200, fits?.text ?? "no response")
        // The project's HTTP client, still uploading when the answer comes, reads the 413.
        let reply = try await client().send(server.url + "/v1/verify", method: .POST, headers: [("Content-Type", "text/plain")],
                                            body: [UInt8](repeating: UInt8(ascii: "w"), count: 1 << 20))
        XCTAssertEqual(reply.status, 413, reply.text)
    }

    // MARK: the connection cap

    /// With --max-connections 8: eight held connections work; a ninth is answered 503 and closed
    /// (the metrics listener still answers); once two close, new connections are accepted.
    func testConnectionCap() async throws {
        let server = try start(["--max-connections", "8", "--metrics-listen", "127.0.0.1:0"])
        let port = RawConnection.port(of: server.url)
        let metricsBase = try metricsURL(server)
        let get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        let held = try (0..<8).map { _ in try RawConnection(port: port) }
        defer { for connection in held { connection.close() } }
        let (heldStatuses, refused, again) = await onThread { () -> ([Int?], [RawResponse?], Int?) in
            let statuses = held.map { connection -> Int? in
                connection.send(get)
                return connection.response(timeout: 10)?.status
            }
            var refused: [RawResponse?] = []
            for _ in 0..<2 {
                guard let extra = try? RawConnection(port: port) else { refused.append(nil); continue }
                refused.append(extra.response(timeout: 10))
                _ = extra.waitClosed(timeout: 5)
                extra.close()
            }
            // The held ones still work.
            held[0].clear()
            held[0].send("GET /v1/authorities HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return (statuses, refused, held[0].response(timeout: 10)?.status)
        }
        XCTAssertEqual(heldStatuses, [Int?](repeating: 200, count: 8))
        for response in refused {
            try assertProblem(response, status: 503, code: "server.busy")
            XCTAssertEqual(response?.header("Retry-After"), "1")
        }
        XCTAssertEqual(again, 200)

        let metrics = try await client().send(metricsBase + "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.text.contains("permit_http_connections_open 8\n"), metrics.text)
        XCTAssertTrue(metrics.text.contains("permit_http_connections_refused_total 2\n"), metrics.text)

        // Two close; new connections are accepted.
        held[0].close()
        held[1].close()
        let accepted: [Int?] = await onThread {
            // The server frees the places when it sees the closes: retry a refused one for a moment.
            var opened: [RawConnection] = []
            var statuses: [Int?] = []
            for _ in 0..<2 {
                var status: Int?
                let deadline = Date().addingTimeInterval(5)
                repeat {
                    guard let connection = try? RawConnection(port: port) else { break }
                    connection.send(get)
                    status = connection.response(timeout: 10)?.status
                    if status == 200 { opened.append(connection) } else { usleep(50_000) }
                } while status != 200 && Date() < deadline
                statuses.append(status)
            }
            for connection in opened { connection.close() }
            return statuses
        }
        XCTAssertEqual(accepted, [200, 200])
    }

    // MARK: 429

    /// --rate-burst and --rate-per-second reach the token bucket: the third signed request of a
    /// burst of two is 429 with Retry-After.
    func testRateOptionsReachTheTokenBucket() async throws {
        let server = try start(["--rate-burst", "2", "--rate-per-second", "0.01"])
        let http = client()
        for _ in 0..<2 {
            let reply = try await signedGet(http, server.url, "/v1/authorities/330114/caller", key: firmKey)
            XCTAssertEqual(reply.status, 200, reply.text)
        }
        let refused = try await signedGet(http, server.url, "/v1/authorities/330114/caller", key: firmKey)
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual((try refused.json() as? [String: Any])?["code"] as? String, "request.rate")
        XCTAssertEqual(refused.header("Retry-After"), "100")
    }

    /// The bucket refills with real time even though the server's workflow clock is fixed
    /// (PERMIT_NOW): an emptied bucket serves again once enough time has passed.
    func testTheBucketRefillsByTheMonotonicClock() async throws {
        let server = try start(["--rate-burst", "1", "--rate-per-second", "1"])
        let http = client()
        let first = try await signedGet(http, server.url, "/v1/authorities/330114/caller", key: firmKey)
        XCTAssertEqual(first.status, 200, first.text)
        let refused = try await signedGet(http, server.url, "/v1/authorities/330114/caller", key: firmKey)
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual(refused.header("Retry-After"), "1")
        try await Task.sleep(for: .milliseconds(1300))
        let again = try await signedGet(http, server.url, "/v1/authorities/330114/caller", key: firmKey)
        XCTAssertEqual(again.status, 200, again.text)
    }

    // MARK: /metrics

    func testMetrics() async throws {
        let server = try start(["--metrics-listen", "127.0.0.1:0"])
        let metricsBase = try metricsURL(server)
        let http = client()
        for path in ["/healthz", "/healthz", "/v1/authorities", "/v1/nothing-here"] { _ = try await http.send(server.url + path) }
        _ = try await http.send(server.url + "/v1/verify", method: .POST, headers: [("Content-Type", "text/plain")], body: Array("FP1:nothing\n".utf8))
        let own = try await signedGet(http, server.url, "/v1/authorities/330114/applications/A000002", key: firmKey)
        XCTAssertEqual(own.status, 200, own.text)
        let unsigned = try await http.send(server.url + "/v1/authorities/330114/applications/A000002")
        XCTAssertEqual(unsigned.status, 401, unsigned.text)

        for base in [server.url, metricsBase] {
            let reply = try await http.send(base + "/metrics")
            XCTAssertEqual(reply.status, 200)
            XCTAssertEqual(reply.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
            let text = reply.text
            for line in [
                "# TYPE permit_http_requests_total counter",
                #"permit_http_requests_total{route="/healthz",method="GET",status="200"} 2"#,
                #"permit_http_requests_total{route="/v1/authorities",method="GET",status="200"} 1"#,
                #"permit_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
                #"permit_http_requests_total{route="/v1/verify",method="POST",status="200"} 1"#,
                #"permit_http_requests_total{route="/v1/authorities/{code}/applications/{id}",method="GET",status="200"} 1"#,
                #"permit_http_requests_total{route="/v1/authorities/{code}/applications/{id}",method="GET",status="401"} 1"#,
                "# TYPE permit_http_request_duration_seconds histogram",
                #"permit_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 2"#,
                #"permit_http_request_duration_seconds_count{route="/healthz"} 2"#,
                #"permit_http_request_duration_seconds_count{route="/v1/authorities/{code}/applications/{id}"} 2"#,
                "# TYPE permit_permits_issued_total counter",
                "permit_permits_issued_total 1",
                "# TYPE permit_pending_applications gauge",
                #"permit_pending_applications{department="HEALTH"} 1"#,
                #"permit_pending_applications{department="PUBLIC_SECURITY"} 0"#,
                "permit_http_connections_max 512",
            ] {
                XCTAssertTrue(text.contains(line + "\n"), "\(base): no line \(line) in\n\(text)")
            }
            XCTAssertFalse(text.contains("A000002"), "no path as sent, only route patterns")
            // Buckets are cumulative, ending at the count.
            let buckets = text.split(separator: "\n").filter { $0.hasPrefix(#"permit_http_request_duration_seconds_bucket{route="/healthz""#) }
            XCTAssertEqual(buckets.count, 12)
            let values = buckets.compactMap { Int($0.split(separator: " ").last!) }
            XCTAssertEqual(values, values.sorted())
            XCTAssertEqual(text.split(separator: "\n").filter { $0.hasPrefix("permit_pending_applications{") }.count, 10, "one line per department")
        }
        // The metrics listener serves nothing else.
        let other = try await http.send(metricsBase + "/healthz")
        XCTAssertEqual(other.status, 404)
        XCTAssertEqual(server.stop(), 0)
        XCTAssertEqual(server.remainingOutput(), "", "one line on standard output, no more")
    }

    // MARK: the request log

    /// LOG_LEVEL=info: one line per request with its id, method, route pattern, status, duration
    /// and, when signed, kid; no line holds an ID number or a phone number of the application,
    /// though one request returned it and another sent one in its query.
    func testOneLogLinePerRequest() async throws {
        let server = try start([], logLevel: "info")
        let http = client()
        let requests: [(path: String, status: Int, route: String)] = [
            ("/healthz", 200, "/healthz"),
            ("/v1/authorities", 200, "/v1/authorities"),
            ("/v1/nothing-here?phone=15260695247", 404, "unmatched"),
            ("/v1/authorities/330114/applications/A000002?id=330726196612242736", 401, "/v1/authorities/{code}/applications/{id}"),
        ]
        for request in requests {
            let reply = try await http.send(server.url + request.path)
            XCTAssertEqual(reply.status, request.status, reply.text)
        }
        let own = try await signedGet(http, server.url, "/v1/authorities/330114/applications/A000002", key: firmKey)
        XCTAssertEqual(own.status, 200, own.text)
        XCTAssertTrue(Self.personal.allSatisfy { own.text.contains($0) }, "the answer holds what the log must not")
        let kid = try kid(ofKey: firmKey)

        var lines: [Substring] = []
        let deadline = Date().addingTimeInterval(5)
        repeat {
            lines = server.stderrText.split(separator: "\n").filter { $0.contains(" request id=") }
            if lines.count >= requests.count + 1 { break }
            usleep(20_000)
        } while Date() < deadline
        XCTAssertEqual(lines.count, requests.count + 1, server.stderrText)
        let expected = requests.map { ($0.route, $0.status, false) } + [("/v1/authorities/{code}/applications/{id}", 200, true)]
        var ids: Set<String> = []
        for (line, (route, status, signed)) in zip(lines, expected) {
            var fields: [String: String] = [:]
            for pair in line[line.range(of: "request ")!.upperBound...].split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            XCTAssertEqual(fields["method"], "GET", String(line))
            XCTAssertEqual(fields["route"], route, String(line))
            XCTAssertEqual(fields["status"], String(status), String(line))
            XCTAssertNotNil(fields["duration_ms"].flatMap(Double.init), String(line))
            XCTAssertEqual(fields["kid"], signed ? kid : nil, String(line))
            ids.insert(try XCTUnwrap(fields["id"], String(line)))
        }
        XCTAssertEqual(ids.count, lines.count, "one id per request")
        for secret in Self.personal {
            XCTAssertFalse(server.stderrText.contains(secret), "the log holds \(secret)")
        }
        XCTAssertFalse(server.stderrText.contains("PRIVATE KEY"))
    }

    // MARK: options

    func testOptionsAreChecked() throws {
        for bad in [["--header-timeout", "0"], ["--body-timeout", "-1"], ["--max-connections", "0"], ["--max-body-bytes", "0"],
                    ["--rate-burst", "0"], ["--rate-per-second", "0"], ["--rate-per-second", "1e-9"], ["--header-timeout", "1e300"],
                    ["--metrics-listen", "9464"]] {
            let r = try runProcess(Build.permit, ["serve", "--listen", "127.0.0.1:0", "--data-dir", home.path] + bad, check: false)
            XCTAssertEqual(r.status, 2, "\(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(bad[0]), "\(bad): \(r.stderr)")
        }
        let help = try runProcess(Build.permit, ["serve", "--help"], check: false)
        for option in ["--max-body-bytes", "--max-connections", "--header-timeout", "--body-timeout", "--rate-burst", "--rate-per-second",
                       "--metrics-listen", "/metrics"] {
            XCTAssertTrue(help.text.contains(option), "\(option) not in --help")
        }
    }
}
