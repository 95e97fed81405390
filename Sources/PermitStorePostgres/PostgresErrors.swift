import Foundation
import PermitStore
import PostgresNIO

/// A failure of the database inside a transaction: what the workflow is told (`error`), and
/// whether running the whole transaction again may succeed.
struct TransactionFailure: Error, @unchecked Sendable {
    var error: StoreError
    var retryable: Bool
    /// Failed where a savepoint that was never sent could not undo its body alone: the
    /// transaction runs again with every savepoint sent.
    var needsSavepoints = false

    init(_ error: StoreError, retryable: Bool) {
        self.error = error
        self.retryable = retryable
    }

    /// Classifies an error of postgres-nio (or of the pool, or of a leased connection).
    init(_ error: any Error, location: PostgresLocation? = nil) {
        let where_ = location.map { " at \($0.redacted)" } ?? ""
        guard let psql = error as? PSQLError else {
            // The pool's circuit breaker: it has opened no connection for a minute (the database
            // at its connection limit, or down) and refuses leases until one opens again.
            if String(describing: error).contains("connectionCreationCircuitBreakerTripped") {
                self.init(StoreError(.busy, """
                    the PostgreSQL database\(where_) has accepted no new connection for a while (too many connections, \
                    or it is down); nothing was written. Send the request again
                    """), retryable: false)
                return
            }
            self.init(StoreError(.io, "the PostgreSQL database\(where_) failed: \(PostgresErrors.describe(error)); nothing was written"),
                      retryable: PostgresErrors.isConnectionTrouble(error))
            return
        }
        let message = PostgresErrors.describe(psql)
        guard psql.code == .server, let state = psql.serverInfo?[.sqlState] else {
            // The connection closed, broke or could not be made.
            self.init(StoreError(.io, "the connection to the PostgreSQL database\(where_) failed (\(message)); nothing was written. Send the request again"),
                      retryable: PostgresErrors.isConnectionTrouble(psql))
            return
        }
        switch state {
        case "40001", "40P01":
            self.init(StoreError(.busy, "the database met a concurrent writer (\(message)); nothing was written. Send the request again"), retryable: true)
        case "53100":
            self.init(StoreError(.full, "the disk that holds the database is full (\(message)); nothing was written. Free some space and send the request again"),
                      retryable: false)
        case "53200", "53300", "55P03", "57014":
            self.init(StoreError(.busy, "the database is overloaded or stayed locked (\(message)); nothing was written. Send the request again"),
                      retryable: false)
        case "57P01", "57P02", "57P03":
            // The server is shutting down or starting: another connection may find it back.
            self.init(StoreError(.io, "the PostgreSQL server is restarting (\(message)); nothing was written. Send the request again"),
                      retryable: true)
        case _ where state.hasPrefix("08"):
            self.init(StoreError(.io, "the connection to the PostgreSQL database failed (\(message)); nothing was written. Send the request again"),
                      retryable: true)
        case _ where state.hasPrefix("23"):
            self.init(StoreError(.constraint, "a row broke a rule of the schema: \(message); nothing was written"), retryable: false)
        default:
            self.init(StoreError(.io, "the database failed: \(message)"), retryable: false)
        }
    }

    /// The failure to report once the retries are used up.
    func exhausted(attempts: Int) -> StoreError {
        var e = error
        e.detail += " (tried \(attempts) times)"
        return e
    }
}

enum PostgresErrors {
    /// PostgreSQL's own message and SQLSTATE when the server answered, else what went wrong
    /// on the way. postgres-nio's description of a server error hides the message on purpose
    /// (it may hold data); ours are about our own statements.
    static func describe(_ error: any Error) -> String {
        guard let psql = error as? PSQLError else { return String(describing: error) }
        if let info = psql.serverInfo {
            var text = info[.message] ?? "error"
            if let state = info[.sqlState] { text += ", SQLSTATE \(state)" }
            if let detail = info[.detail] { text += ": \(detail)" }
            return text
        }
        if let underlying = psql.underlying { return "\(psql.code): \(underlying)" }
        return "\(psql.code)"
    }

    static func isConnectionTrouble(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError else {
            // NIO's channel errors (a reset, a closed channel) come through as they are.
            return error is ChannelError || error is IOError || error is ConnectionClosed
        }
        switch psql.code {
        case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection: return true
        default: return false
        }
    }
}
