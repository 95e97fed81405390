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
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(tls == nil ? "http" : "https")://\(shownHost):\(port)"
    }
}

/// A server set-up that cannot start: a missing file, a bad certificate.
public struct ServerSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds and runs the server.
public enum PermitServer {
    /// The request context of every route.
    public typealias Context = PermitRequestContext

    /// The router with every route of this slice, on `service` and the data directory's files.
    public static func router(service: any PermitService & RequestGate, configuration: ServerConfiguration,
                              clock: any PermitClock) throws -> Router<Context> {
        // HEAD for every GET: the same status and headers (Content-Length, ETag), no body.
        let router = Router(context: Context.self, options: .autoGenerateHeadEndpoints)
        router.middlewares.add(ProblemMiddleware())
        let files = PublishedFiles(directory: configuration.directory)
        HealthRoutes(service: service).register(on: router)
        AuthorityRoutes(service: service, files: files).register(on: router)
        VerifyRoutes(checkpoint: Checkpoint(files: files, clock: clock), maxBodyBytes: configuration.maxBodyBytes).register(on: router)
        try WebVerifierPage(rootSPKIBase64: files.rootSPKIBase64()).register(on: router)
        APIDocumentRoute().register(on: router)
        let signed = router.group("v1/authorities/:code")
            .add(middleware: Authenticator(gate: service, clock: clock, scheme: configuration.tls == nil ? "http" : "https",
                                           maxBodyBytes: configuration.maxBodyBytes,
                                           buckets: TokenBuckets(capacity: configuration.rateBurst, refillPerSecond: configuration.ratePerSecond)))
        WorkflowRoutes(service: service, files: files).register(on: signed)
        return router
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting, lets the requests in flight finish and
    /// returns. `ready` is called once with the URL the server listens on.
    public static func run(service: any PermitService & RequestGate, configuration: ServerConfiguration, clock: any PermitClock,
                           logger: Logger, ready: @escaping @Sendable (String) -> Void) async throws {
        let router = try router(service: service, configuration: configuration, clock: clock)
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = try .tls(.http1(), tlsConfiguration: tlsConfiguration(tls))
        } else {
            server = .http1()
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "permit-server"),
            onServerRunning: { channel in
                ready(configuration.listeningURL(port: channel.localAddress?.port ?? configuration.port))
            },
            logger: logger
        )
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
