import Foundation
import Hummingbird
import Logging
import NIOCore
import PermitAPI

/// The server's figures for `GET /metrics`, written in the Prometheus text format (0.0.4) here
/// rather than through a metrics package. Routes and connections record into it from every
/// event loop, so it takes a lock; a scrape renders a copy.
///
/// - `permit_http_requests_total{route,method,status}`: answered requests, by route pattern
///   (`/v1/authorities/{code}/applications`, never the path as sent; `unmatched` for no route).
/// - `permit_http_request_duration_seconds{route}`: a histogram of the time to answer.
/// - `permit_http_connections_open`, `permit_http_connections_refused_total` (over the cap) and
///   `permit_http_request_timeouts_total{phase}` (408 on `headers` or `body`).
/// - At scrape time, from the service: `permit_permits_issued_total` and
///   `permit_pending_applications{department}`.
final class ServerMetrics: @unchecked Sendable {
    /// Upper bounds of the duration histogram, in seconds (+Inf is added).
    static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct RequestKey: Hashable, Comparable {
        var route: String
        var method: String
        var status: Int
        static func < (a: Self, b: Self) -> Bool { (a.route, a.method, a.status) < (b.route, b.method, b.status) }
    }

    struct Histogram {
        /// Observations per bucket (not cumulative), the last one for +Inf.
        var counts = [UInt64](repeating: 0, count: ServerMetrics.buckets.count + 1)
        var sum = 0.0
        var count: UInt64 = 0
    }

    /// What the store holds, read at scrape time.
    struct StoreFigures {
        var permitsIssued: Int
        /// Pending applications per department code, in the report's order.
        var pending: [(department: String, count: Int)]
    }

    /// The listener whose open connections are reported.
    let connections: ConnectionCounter?
    private let lock = NSLock()
    private var requests: [RequestKey: UInt64] = [:]
    private var durations: [String: Histogram] = [:]
    private var refused: UInt64 = 0
    private var timeouts: [String: UInt64] = ["headers": 0, "body": 0]

    init(connections: ConnectionCounter? = nil) {
        self.connections = connections
    }

    func observe(route: String, method: String, status: Int, seconds: Double) {
        let bucket = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
        lock.withLock {
            requests[RequestKey(route: route, method: method, status: status), default: 0] += 1
            var histogram = durations[route] ?? Histogram()
            histogram.counts[bucket] += 1
            histogram.sum += seconds
            histogram.count += 1
            durations[route] = histogram
        }
    }

    func connectionRefused() { lock.withLock { refused += 1 } }

    /// A 408: `phase` is `headers` or `body`.
    func timedOut(_ phase: String) { lock.withLock { timeouts[phase, default: 0] += 1 } }

    /// The text a scrape returns.
    func render(store: StoreFigures?) -> String {
        let (requests, durations, refused, timeouts) = lock.withLock { (self.requests, self.durations, self.refused, self.timeouts) }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            let text = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
            out += "\(name)\(text) \(value)\n"
        }

        family("permit_http_requests_total", "counter", "HTTP requests answered, by route pattern, method and status.")
        for (key, count) in requests.sorted(by: { $0.key < $1.key }) {
            sample("permit_http_requests_total", [("route", key.route), ("method", key.method), ("status", String(key.status))], String(count))
        }
        family("permit_http_request_duration_seconds", "histogram", "Time to answer an HTTP request, by route pattern.")
        for (route, histogram) in durations.sorted(by: { $0.key < $1.key }) {
            var cumulative: UInt64 = 0
            for (n, count) in histogram.counts.enumerated() {
                cumulative += count
                let bound = n < Self.buckets.count ? Self.number(Self.buckets[n]) : "+Inf"
                sample("permit_http_request_duration_seconds_bucket", [("route", route), ("le", bound)], String(cumulative))
            }
            sample("permit_http_request_duration_seconds_sum", [("route", route)], Self.number(histogram.sum))
            sample("permit_http_request_duration_seconds_count", [("route", route)], String(histogram.count))
        }
        if let connections {
            family("permit_http_connections_open", "gauge", "Connections open on the listen address.")
            sample("permit_http_connections_open", [], String(connections.current))
            family("permit_http_connections_max", "gauge", "The cap on open connections (--max-connections).")
            sample("permit_http_connections_max", [], String(connections.limit))
        }
        family("permit_http_connections_refused_total", "counter", "Connections answered 503 and closed because the cap was reached.")
        sample("permit_http_connections_refused_total", [], String(refused))
        family("permit_http_request_timeouts_total", "counter", "Requests answered 408 because their headers or body arrived too slowly.")
        for (phase, count) in timeouts.sorted(by: { $0.key < $1.key }) {
            sample("permit_http_request_timeouts_total", [("phase", phase)], String(count))
        }
        if let store {
            family("permit_permits_issued_total", "counter", "Permits issued, as the store holds them (the same on every instance).")
            sample("permit_permits_issued_total", [], String(store.permitsIssued))
            family("permit_pending_applications", "gauge", "Applications waiting for a department's decision, as the store holds them.")
            for row in store.pending {
                sample("permit_pending_applications", [("department", row.department)], String(row.count))
            }
        }
        return out
    }

    /// A label value with backslash, double quote and line feed escaped.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// `GET /metrics`: the server's figures, and the store's read at scrape time.
struct MetricsRoute: Sendable {
    /// Every hosted authority: the figures are the deployment's sums.
    let authorities: HostedAuthorities
    let metrics: ServerMetrics

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func register(on router: Router<PermitServer.Context>) {
        router.get("metrics") { _, context -> Response in
            await response(logger: context.logger)
        }
    }

    func response(logger: Logger) async -> Response {
        var store: ServerMetrics.StoreFigures?
        do {
            // Two counts an authority (not the report, which reads every application: 0.4 s an
            // authority of 10,000 permits in the growth bench, for every scrape).
            var permits = 0
            var pending: [(department: String, count: Int)] = []
            for hosted in await authorities.current(logger: logger) {
                let counts = try await hosted.service.liveCounts()
                permits += counts.permitsIssued
                for d in counts.pending {
                    if let i = pending.firstIndex(where: { $0.department == d.department }) {
                        pending[i].count += d.count
                    } else {
                        pending.append((d.department, d.count))
                    }
                }
            }
            store = .init(permitsIssued: permits, pending: pending)
        } catch {
            logger.warning("metrics: the store could not be read: \(error)")
        }
        let bytes = Array(metrics.render(store: store).utf8)
        return Response(status: .ok, headers: [.contentType: Self.contentType, .contentLength: String(bytes.count), .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// One log line per request, and its count and duration in the metrics: the request id, the
/// method, the route pattern (never the path or query as sent, which may hold what the log
/// must not), the status, the time to answer and, when the request was signed, the key's kid.
/// Nothing of a body, a header or a key is written. The line is logged at info level:
///
///     request id=… method=POST route=/v1/authorities/{code}/applications status=200 duration_ms=12.345 kid=…
struct RequestLog<Context: RequestContext & CallerCarrying>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, status: response.status.code, since: start)
            return response
        } catch {
            // ProblemMiddleware answers every error; one that escapes it is Hummingbird's to answer.
            record(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: start)
            throw error
        }
    }

    func record(_ request: Request, _ context: Context, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let route = Self.route(context.endpointPath)
        let method = Self.method(request.method)
        metrics.observe(route: route, method: method, status: status, seconds: seconds)
        let kid = context.caller.map { " kid=\($0.kid)" } ?? ""
        logger.info("request id=\(context.id) method=\(method) route=\(route) status=\(status) duration_ms=\(String(format: "%.3f", seconds * 1000))\(kid)")
    }

    /// The route pattern; `unmatched` when no route took the request.
    static func route(_ endpointPath: String?) -> String {
        guard let path = endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }

    /// The method, or `OTHER` for one no route takes (a label must not grow with what clients send).
    static func method(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .head, .post, .put, .delete, .patch, .options: return method.rawValue
        default: return "OTHER"
        }
    }
}
