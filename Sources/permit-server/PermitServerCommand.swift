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
        PERMIT_RATE_BURST and PERMIT_RATE_PER_SECOND size each key's token bucket (default 200 \
        requests at once, refilled at 100 a second; over that, 429).
        Public so far: GET /healthz, /readyz, /v1/authorities, /v1/trust-list.cose, \
        /v1/authorities/{code}/revocations.cose, POST /v1/verify, and the checkpoint page under /verify/.

        Exit codes: 0 stopped by a signal; 2 could not start (usage, data directory, TLS files, address).

        Examples:
          permit serve --listen 127.0.0.1:8080 --data-dir permit-data
          permit serve --listen 0.0.0.0:8443 --tls-cert server.crt --tls-key server.key
        """
    )

    @Option(help: ArgumentHelp("Where to listen: HOST:PORT (port 0 picks a free port; [::1]:PORT for IPv6).", valueName: "HOST:PORT"))
    var listen: String

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The authority's data directory (default: $PERMIT_HOME, or ./permit-data).", valueName: "DIR"))
    var dataDir: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("The server's certificate chain (PEM); with --tls-key, serves HTTPS.", valueName: "FILE"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The certificate's private key (PEM).", valueName: "FILE"))
    var tlsKey: String?

    func validate() throws {
        if ServerConfiguration.parseListen(listen) == nil {
            throw ValidationError("--listen \(listen) is not HOST:PORT (for example 127.0.0.1:8080, or [::1]:8080)")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("TLS needs both --tls-cert FILE and --tls-key FILE")
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
        guard directory.exists else {
            throw ServerSetupError("no permit database in \(directory.url.path): run permit init there, or give --data-dir DIR")
        }
        let clock = try Self.clock()
        let service: any PermitService & RequestGate
        do {
            service = try await LocalPermitService(directory: directory, clock: clock)
        } catch {
            throw ServerSetupError("cannot open the data directory \(directory.url.path): \(error)")
        }
        var configuration = ServerConfiguration(
            host: host, port: port, directory: directory,
            tls: tlsCert.map { ServerConfiguration.TLSFiles(certificate: $0, privateKey: tlsKey!) })
        try Self.rateLimit(&configuration)
        try await PermitServer.run(service: service, configuration: configuration, clock: clock, logger: logger) { url in
            // Unbuffered, so that a parent reading a pipe sees the line at once.
            FileHandle.standardOutput.write(Data("listening on \(url)\n".utf8))
        }
    }

    /// Each key's token bucket, when PERMIT_RATE_BURST or PERMIT_RATE_PER_SECOND sizes it.
    static func rateLimit(_ configuration: inout ServerConfiguration) throws {
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["PERMIT_RATE_BURST"], !text.isEmpty {
            guard let burst = Int(text), burst >= 1 else { throw ServerSetupError("PERMIT_RATE_BURST=\(text) is not a whole number of requests, 1 or more") }
            configuration.rateBurst = burst
        }
        if let text = environment["PERMIT_RATE_PER_SECOND"], !text.isEmpty {
            guard let rate = Double(text), rate > 0, rate.isFinite else { throw ServerSetupError("PERMIT_RATE_PER_SECOND=\(text) is not a rate above 0") }
            configuration.ratePerSecond = rate
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
