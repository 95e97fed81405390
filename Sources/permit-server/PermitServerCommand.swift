import ArgumentParser
import Foundation
import Logging
import PermitAPI
import PermitFoundation
import PermitModel
import PermitServer
import PermitWorkflow

/// `permit-server`, started as `permit serve …`: parses the options, opens the workflow on the
/// data directory, and runs the HTTP server until SIGTERM or SIGINT.
@main
struct PermitServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "permit serve",
        abstract: "Serve the permit service over HTTP.",
        discussion: """
        Prints exactly one line on standard output when ready: "listening on http://HOST:PORT" \
        (https:// with TLS), with the port actually bound (--listen 127.0.0.1:0 picks a free one). \
        Logs go to standard error (LOG_LEVEL=debug|info|notice|warning|error; default notice). \
        SIGTERM or SIGINT: stops accepting, lets the requests in flight finish, exits 0.
        PERMIT_NOW (RFC 3339) fixes the server's clock, for the workflow and for POST /v1/verify.
        Hosts every authority of the data directory (the one permit init made, and each one \
        `permit authority add` added, read at start): /v1/authorities/{code}/… for each, \
        GET /v1/authorities lists them, and the trust list holds every one's issuer keys.
        Public so far: GET /healthz, /readyz, /v1/authorities, /v1/trust-list.cose, \
        /v1/authorities/{code}/revocations.cose, POST /v1/verify, and the checkpoint page under /verify/.

        Limits (each refusal is problem+json, and nothing is written): a body over --max-body-bytes \
        is 413 on every route; a request whose headers are not complete --header-timeout seconds \
        after its first byte, or whose body is not complete --body-timeout seconds after its \
        headers, is 408 and its connection closed; past --max-connections open connections, a new \
        one is answered 503 and closed; a key over its token bucket (--rate-burst requests at once, \
        refilled at --rate-per-second) is 429 with Retry-After. A new connection that sends nothing \
        within --header-timeout, or a kept-alive one idle for 60 s, is closed.

        GET /metrics (Prometheus text format) is served on the listen address, and also on \
        --metrics-listen (plain HTTP, only /metrics) when given; that address is logged as \
        "metrics on http://HOST:PORT/metrics". LOG_LEVEL=info logs one line per request: \
        request id=… method=… route=PATTERN status=… duration_ms=… kid=… (kid when signed).

        Exit codes: 0 stopped by a signal; 2 could not start (usage, data directory, TLS files, address).

        Examples:
          permit serve --listen 127.0.0.1:8080 --data-dir permit-data
          permit serve --listen 0.0.0.0:8443 --tls-cert server.crt --tls-key server.key
          permit serve --listen 0.0.0.0:8080 --data-dir /srv/permits --database postgres://permit@db.internal/permits
          permit serve --listen 0.0.0.0:8080 --max-connections 2000 --header-timeout 5
          permit serve --listen 0.0.0.0:8080 --body-timeout 60 --max-body-bytes 2097152
          permit serve --listen 0.0.0.0:8080 --rate-burst 50 --rate-per-second 10
          permit serve --listen 0.0.0.0:8080 --metrics-listen 127.0.0.1:9464
          LOG_LEVEL=info permit serve --listen 127.0.0.1:8080 2>requests.log
        """
    )

    @Option(help: ArgumentHelp("Where to listen: HOST:PORT (port 0 picks a free port; [::1]:PORT for IPv6).", valueName: "HOST:PORT"))
    var listen: String

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The authority's data directory (default: $PERMIT_HOME, or ./permit-data).", valueName: "DIR"))
    var dataDir: String?

    @Option(help: ArgumentHelp("""
        A PostgreSQL database instead of the data directory's SQLite file (default: $PERMIT_DATABASE), shared by \
        every instance: postgres://USER[:PASSWORD]@HOST[:PORT]/DB, or postgres://USER@/DB?host=/SOCKET/DIR.
        """, valueName: "URL"))
    var database: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("The server's certificate chain (PEM); with --tls-key, serves HTTPS.", valueName: "FILE"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The certificate's private key (PEM).", valueName: "FILE"))
    var tlsKey: String?

    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp("The largest request body accepted; 413 above it (8 MiB).", valueName: "N"))
    var maxBodyBytes = ServerConfiguration.defaultMaxBodyBytes

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("At most N connections open at once; one more is answered 503 and closed.", valueName: "N"))
    var maxConnections = 512

    @Option(name: .customLong("header-timeout"), help: ArgumentHelp("Seconds from a request's first byte to the end of its headers; 408 after.", valueName: "SECONDS"))
    var headerTimeout = 10.0

    @Option(name: .customLong("body-timeout"), help: ArgumentHelp("Seconds from the end of a request's headers to the end of its body; 408 after.", valueName: "SECONDS"))
    var bodyTimeout = 30.0

    @Option(name: .customLong("rate-burst"), help: ArgumentHelp("Each key's token bucket: N signed requests at once.", valueName: "N"))
    var rateBurst = 200

    @Option(name: .customLong("rate-per-second"), help: ArgumentHelp("Each key's token bucket: refilled at R requests a second; 429 when empty.", valueName: "R"))
    var ratePerSecond = 100.0

    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp("Also serve GET /metrics, and only that, on this address (plain HTTP).", valueName: "HOST:PORT"))
    var metricsListen: String?

    func validate() throws {
        if ServerConfiguration.parseListen(listen) == nil {
            throw ValidationError("--listen \(listen) is not HOST:PORT (for example 127.0.0.1:8080, or [::1]:8080)")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("TLS needs both --tls-cert FILE and --tls-key FILE")
        }
        if let metricsListen, ServerConfiguration.parseListen(metricsListen) == nil {
            throw ValidationError("--metrics-listen \(metricsListen) is not HOST:PORT (for example 127.0.0.1:9464)")
        }
        for (name, value) in [("--max-body-bytes", maxBodyBytes), ("--max-connections", maxConnections), ("--rate-burst", rateBurst)] where value < 1 {
            throw ValidationError("\(name) \(value) is not a positive whole number")
        }
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout)] where !(value > 0 && value <= 86_400) {
            throw ValidationError("\(name) \(value) is not a number of seconds above 0, at most 86400")
        }
        if !(ratePerSecond >= 0.001 && ratePerSecond.isFinite) {
            throw ValidationError("--rate-per-second \(ratePerSecond) is not a number of requests a second, at least 0.001")
        }
    }

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? PermitServerCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = error is ServerSetupError ? "permit serve: \(error)" : fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(2)
        }
    }

    func run() async throws {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "permit-server")

        let (host, port) = ServerConfiguration.parseListen(listen)!
        let directory: DataDirectory = dataDir.flatMap { $0.isEmpty ? nil : $0 }
            .map { DataDirectory(url: URL(fileURLWithPath: $0, isDirectory: true).standardizedFileURL) } ?? .fromEnvironment()
        let database = database.flatMap { $0.isEmpty ? nil : $0 }
            ?? ProcessInfo.processInfo.environment["PERMIT_DATABASE"].flatMap { $0.isEmpty ? nil : $0 }
        guard database != nil || directory.exists else {
            throw ServerSetupError("no permit database in \(directory.url.path): run permit init there, or give --data-dir DIR (or --database URL)")
        }
        let clock = try Self.clock()
        let deployment: Deployment
        do {
            deployment = try await Deployment.open(directory: directory, clock: clock, database: database)
        } catch {
            let store = database.map { " with the database \(Workflow.redactedDatabase($0))" } ?? ""
            throw ServerSetupError("cannot open the data directory \(directory.url.path)\(store): \(error)")
        }
        var configuration = ServerConfiguration(
            host: host, port: port, directory: directory,
            tls: tlsCert.map { ServerConfiguration.TLSFiles(certificate: $0, privateKey: tlsKey!) }, maxBodyBytes: maxBodyBytes)
        configuration.maxConnections = maxConnections
        configuration.headerTimeout = headerTimeout
        configuration.bodyTimeout = bodyTimeout
        configuration.rateBurst = rateBurst
        configuration.ratePerSecond = ratePerSecond
        configuration.metricsListen = metricsListen.flatMap(ServerConfiguration.parseListen)
        try await PermitServer.run(hosted: deployment.hosted, added: deployment, configuration: configuration, clock: clock, logger: logger) { url in
            // Unbuffered, so that a parent reading a pipe sees the line at once.
            FileHandle.standardOutput.write(Data("listening on \(url)\n".utf8))
        }
    }

    /// The machine's clock, unless PERMIT_NOW fixes it (as for every permit command).
    static func clock() throws -> any PermitClock {
        guard let text = ProcessInfo.processInfo.environment["PERMIT_NOW"], !text.isEmpty else { return SystemClock() }
        guard let date = RFC3339.date(text) else {
            throw ServerSetupError("PERMIT_NOW=\(text) is not an RFC 3339 time such as 2026-11-30T09:00:00+08:00")
        }
        return FixedClock(date)
    }
}
