/// PermitServer: the permit service over HTTP (`permit serve`, service.md).
///
/// Its job is transport only: a route decodes the request, calls a `PermitService` (the workflow,
/// local or behind another implementation) or the checkpoint's `Verifier`, and encodes the result
/// or an RFC 9457 problem. No route holds domain logic.
///
/// Its boundary: it depends on PermitAPI's protocol, never on the workflow or the store (the
/// `permit-server` executable chooses the implementation), and reads from the data directory only
/// the published files every instance shares: `trust-list.cose`, `revocations.cose` and
/// `root.pub.pem`. This slice serves the public resources: health, the hosted authorities, the
/// signed lists, `POST /v1/verify`, the checkpoint page under `/verify/` and the API's OpenAPI
/// document (`/v1/openapi.yaml`, `Schemas/openapi.yaml` compiled in).
///
/// Every connection is held to the limits of `Limits.swift` (408 deadlines, the connection cap,
/// the body size), and every request is counted for `GET /metrics` and logged (`Metrics.swift`).
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PermitAPI
import PermitModel

/// How to run the server: where to listen, which data directory, and TLS.
public struct ServerConfiguration: Sendable {
    /// The certificate chain and private key files (PEM) that turn TLS on.
    public struct TLSFiles: Sendable {
        public var certificate: String
        public var privateKey: String
        public init(certificate: String, privateKey: String) {
            self.certificate = certificate
            self.privateKey = privateKey
        }
    }

    /// The host as given (a name, an IPv4 or an IPv6 address without brackets).
    public var host: String
    /// 0 picks a free port; the line printed when ready names the real one.
    public var port: Int
    public var directory: DataDirectory
    public var tls: TLSFiles?
    /// The largest request body accepted (413 above it).
    public var maxBodyBytes: Int
    /// Each key's token bucket: this many requests at once, refilled at `ratePerSecond`.
    public var rateBurst = 200
    public var ratePerSecond = 100.0
    /// At most this many connections open at once; one more is answered 503 and closed.
    public var maxConnections = 512
    /// Seconds from a request's first byte to the end of its headers (408 after); also how long
    /// a new connection may stay silent before it is closed.
    public var headerTimeout = 10.0
    /// Seconds from the end of a request's headers to the end of its body (408 after).
    public var bodyTimeout = 30.0
    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    public var idleTimeout = 60.0
    /// A second listener, plain HTTP, that serves only `GET /metrics` (an operator's address).
    public var metricsListen: (host: String, port: Int)?
    /// The cap on the metrics listener's connections.
    public var metricsMaxConnections = 16

    public static let defaultMaxBodyBytes = 8 << 20

    public init(host: String, port: Int, directory: DataDirectory, tls: TLSFiles? = nil, maxBodyBytes: Int = defaultMaxBodyBytes) {
        self.host = host
        self.port = port
        self.directory = directory
        self.tls = tls
        self.maxBodyBytes = maxBodyBytes
    }

    /// Parses `HOST:PORT`: `127.0.0.1:8080`, `localhost:0`, `[::1]:8443`.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port), portText.allSatisfy(\.isASCII) else { return nil }
        return (String(host), port)
    }

    /// The URL printed when ready, with the port actually bound.
    func listeningURL(port: Int) -> String {
        Self.url(scheme: tls == nil ? "http" : "https", host: host, port: port)
    }

    static func url(scheme: String, host: String, port: Int) -> String {
        "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}

/// A server set-up that cannot start: a missing file, a bad certificate.
public struct ServerSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Calls `ready` with the main listener's URL once every listener is bound, so that the one line
/// printed when ready is never printed by a server that then fails to bind its metrics address.
final class ReadyListeners: @unchecked Sendable {
    private let lock = NSLock()
    private var waiting: Int
    private var url: String?
    private let ready: @Sendable (String) -> Void

    init(count: Int, ready: @escaping @Sendable (String) -> Void) {
        waiting = count
        self.ready = ready
    }

    /// A listener is bound; `url` is the main one's.
    func bound(url: String?) {
        let done: String? = lock.withLock {
            if let url { self.url = url }
            waiting -= 1
            return waiting == 0 ? self.url : nil
        }
        if let done { ready(done) }
    }
}

/// Builds and runs the server.
public enum PermitServer {
    /// The request context of every route.
    public typealias Context = PermitRequestContext

    /// The router with every route of this slice, on the hosted authorities' services and the data directory's files.
    public static func router(hosted: [HostedAuthority], configuration: ServerConfiguration,
                              clock: any PermitClock) throws -> Router<Context> {
        try router(hosted: hosted, configuration: configuration, clock: clock, metrics: ServerMetrics(), logger: Logger(label: "permit-server"))
    }

    /// The router, recording each request into `metrics` and logging one line for it on `logger`.
    static func router(hosted: [HostedAuthority], configuration: ServerConfiguration, clock: any PermitClock,
                       metrics: ServerMetrics, logger: Logger) throws -> Router<Context> {
        try router(authorities: HostedAuthorities(hosted), configuration: configuration, clock: clock, metrics: metrics, logger: logger)
    }

    static func router(authorities: HostedAuthorities, configuration: ServerConfiguration, clock: any PermitClock,
                       metrics: ServerMetrics, logger: Logger) throws -> Router<Context> {
        // HEAD for every GET: the same status and headers (Content-Length, ETag), no body.
        let router = Router(context: Context.self, options: .autoGenerateHeadEndpoints)
        let routes = RouteTable()
        router.middlewares.add(RequestLog(metrics: metrics, logger: logger))
        router.middlewares.add(ProblemMiddleware(routes: routes))
        router.middlewares.add(BodyLimit(maxBodyBytes: configuration.maxBodyBytes))
        let files = PublishedFiles(directory: configuration.directory)
        HealthRoutes(authorities: authorities).register(on: router)
        MetricsRoute(authorities: authorities, metrics: metrics).register(on: router)
        AuthorityRoutes(authorities: authorities, files: files).register(on: router)
        VerifyRoutes(checkpoint: Checkpoint(files: files, clock: clock), maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        try WebVerifierPage(rootSPKIBase64: files.rootSPKIBase64()).register(on: router)
        APIDocumentRoute().register(on: router)
        let signed = router.group("v1/authorities/:code")
            .add(middleware: Authenticator(authorities: authorities, clock: clock, scheme: configuration.tls == nil ? "http" : "https",
                                           maxBodyBytes: configuration.maxBodyBytes,
                                           buckets: TokenBuckets(capacity: configuration.rateBurst, refillPerSecond: configuration.ratePerSecond)))
        WorkflowRoutes().register(on: signed)
        routes.fill(from: router)
        return router
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting, lets the requests in flight finish and
    /// returns. `ready` is called once with the URL the server listens on, when every listener
    /// (the metrics one too, when configured) is bound.
    public static func run(hosted: [HostedAuthority], added: (any AddedAuthorities)? = nil, configuration: ServerConfiguration, clock: any PermitClock,
                           logger: Logger, ready: @escaping @Sendable (String) -> Void) async throws {
        guard let service = hosted.first?.service else { throw ServerSetupError("the deployment hosts no authority") }
        let limits = ConnectionLimits(configuration)
        let connections = ConnectionCounter(limit: configuration.maxConnections)
        let metrics = ServerMetrics(connections: connections)
        let authorities = try HostedAuthorities(hosted, added: added)
        let router = try router(authorities: authorities, configuration: configuration, clock: clock, metrics: metrics, logger: logger)
        // The autoclosure makes a guard for each connection.
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [RequestGuard(limits: limits, connections: connections, metrics: metrics, logger: logger)]))
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = try .tls(http1, tlsConfiguration: tlsConfiguration(tls))
        } else {
            server = http1
        }
        let listeners = ReadyListeners(count: configuration.metricsListen == nil ? 1 : 2, ready: ready)
        var app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "permit-server"),
            onServerRunning: { channel in
                listeners.bound(url: configuration.listeningURL(port: channel.localAddress?.port ?? configuration.port))
            },
            logger: logger
        )
        if let listen = configuration.metricsListen {
            let (host, port) = listen
            let metricsRouter = Router(context: Context.self, options: .autoGenerateHeadEndpoints)
            let metricsRoutes = RouteTable()
            metricsRouter.middlewares.add(ProblemMiddleware(routes: metricsRoutes))
            metricsRouter.middlewares.add(BodyLimit(maxBodyBytes: configuration.maxBodyBytes))
            MetricsRoute(authorities: authorities, metrics: metrics).register(on: metricsRouter)
            metricsRoutes.fill(from: metricsRouter)
            let metricsConnections = ConnectionCounter(limit: configuration.metricsMaxConnections)
            app.addServices(Application(
                router: metricsRouter,
                server: .http1(configuration: .init(
                    additionalChannelHandlers: [RequestGuard(limits: limits, connections: metricsConnections, metrics: nil, logger: logger)])),
                configuration: .init(address: .hostname(host, port: port), serverName: "permit-server"),
                onServerRunning: { channel in
                    logger.notice("metrics on \(ServerConfiguration.url(scheme: "http", host: host, port: channel.localAddress?.port ?? port))/metrics")
                    listeners.bound(url: nil)
                },
                logger: logger
            ))
        }
        try await app.runService()
    }

    static func tlsConfiguration(_ files: ServerConfiguration.TLSFiles) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw ServerSetupError("--tls-cert \(files.certificate): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw ServerSetupError("--tls-cert \(files.certificate): no certificate in the file") }
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw ServerSetupError("--tls-key \(files.privateKey): not a readable PEM private key (\(error))")
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}

/// The authorities one server hosts, found by the code in `/v1/authorities/{code}/…`: those
/// open at start, and any added to the deployment since, which `added` (the deployment) opens
/// and keeps, hosted from the first request that names one or the first listing.
struct HostedAuthorities: Sendable {
    private let started: [HostedAuthority]
    private let added: (any AddedAuthorities)?

    init(_ all: [HostedAuthority], added: (any AddedAuthorities)? = nil) throws {
        guard !all.isEmpty else { throw ServerSetupError("the deployment hosts no authority") }
        started = all
        self.added = added
    }

    /// Every authority of the deployment now, in its order: the first, then the added ones by
    /// code (one added that cannot be opened is left out, and named in the log).
    func current(logger: Logger? = nil) async -> [HostedAuthority] {
        guard let added else { return started }
        var all: [HostedAuthority] = []
        for code in added.currentCodes() {
            if let hosted = started.first(where: { $0.code == code }) {
                all.append(hosted)
                continue
            }
            do {
                if let opened = try await added.open(code: code) { all.append(opened) }
            } catch {
                logger?.warning("authority \(code) was added but cannot be opened: \(error)")
            }
        }
        return all
    }

    /// The authority `code` names; 404 `authority.unknown` for one the deployment does not hold.
    func find(_ code: String) async throws -> HostedAuthority {
        if let found = started.first(where: { $0.code == code }) { return found }
        if let added, let opened = try await added.open(code: code) { return opened }
        let codes = await current().map(\.code).joined(separator: ", ")
        throw HTTPProblem(.notFound, code: "authority.unknown", detail: "no authority \(code) is hosted here",
                          field: "code", value: code, rule: "one of GET /v1/authorities: \(codes)")
    }
}
