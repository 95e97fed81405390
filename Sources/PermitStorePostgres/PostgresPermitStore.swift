import Foundation
import Logging
import NIOCore
import NIOPosix
import PermitAPI
import PermitStore
import PostgresNIO

/// The store on PostgreSQL, for a deployment that several server instances share: the same
/// protocols, tables and rules as `SQLitePermitStore`, through postgres-nio's `PostgresClient`
/// (a pool of connections).
///
/// **The synchronous body on a network database.** `write` and `read` take a synchronous body
/// (the workflow's rules are plain functions over `StoreTransaction`), while every statement
/// here is a round trip to the server. The bridge: the store leases one connection, then runs
/// the whole transaction (`BEGIN`, the body, `COMMIT`) on a thread of its own thread pool
/// (`NIOThreadPool`), where each `StoreTransaction` method sends its statement and waits for the
/// result (`EventLoopFuture.wait()`). The caller's task suspends meanwhile. Neither the Swift
/// concurrency pool nor a NIO event loop ever blocks: the first would starve other tasks (it
/// has one thread per core), the second would deadlock (the answer arrives on that event loop).
/// The price is one parked thread per transaction in flight, bounded by the pool's size; making
/// the body async instead would touch every rule of the workflow for the same result.
///
/// **Counters and the audit chain under several writers.** Each write transaction starts with
/// `pg_advisory_xact_lock` on its authority (the division code of the `authority` row), held
/// until it commits or rolls back. Writers of one authority therefore take turns exactly as
/// SQLite's single writer makes them: serials stay gap-free, the audit chain linear, and the
/// workflow's read-then-write rules (the last approval issues, one reference one application,
/// one decision per department) hold across instances, not only the counters. Row ids are
/// allocated as SQLite's AUTOINCREMENT does (one more than the largest, never burnt by a
/// rolled-back insert), which the same lock makes safe. Reads take no lock: they run in a
/// `REPEATABLE READ, READ ONLY` snapshot.
///
/// **Failures.** A serialization failure or deadlock (SQLSTATE 40001, 40P01), a connection that
/// dropped, or a server shutting down retries the whole transaction, up to `maxAttempts` times.
/// That is safe because every change the workflow makes is named by a signed request (its
/// nonce) or a reference, so a body run again after a commit whose answer was lost finds its
/// own work and changes nothing. Other failures map to `StoreError`: a full disk (53100) is
/// `store.full`; too many connections or locks (53300, 53200, 55P03) and retries exhausted are
/// `store.busy`; a broken rule (23xxx, the triggers that keep evidence unchanged among them) is
/// `store.constraint`; anything else is `store.io`.
public final class PostgresPermitStore: PermitStore, @unchecked Sendable {
    public let location: PostgresLocation
    let client: PostgresClient
    private let runTask: Task<Void, Never>
    let logger: Logger

    /// How many times a transaction is tried before its failure is reported.
    public static let maxAttempts = 5

    /// The key space of this store's advisory locks ("prmt"); the second key is the authority's
    /// division code, or 0 before `init` has made the authority, or -1 for migrations.
    static let lockNamespace: Int32 = 0x7072_6D74
    static let migrationLock: Int32 = -1

    /// The threads that transactions run on while they wait for the server (see the type's comment).
    static let transactionThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: maximumConnections)
        pool.start()
        return pool
    }()

    /// Connections per store, and threads for transactions in this process.
    public static let maximumConnections = 16

    /// Connects, creates or migrates the schema, and starts the pool. A server that cannot be
    /// reached, refuses the user or has no such database is reported here, as `store.io`,
    /// with the URL (its password hidden).
    public init(location: PostgresLocation) async throws {
        self.location = location
        logger = Logger(label: "permit-store-postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        try await Self.migrate(location: location, logger: logger)
        var configuration = location.configuration
        configuration.options.maximumConnections = Self.maximumConnections
        configuration.options.connectionIdleTimeout = .seconds(30)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runTask = Task { await client.run() }
    }

    /// Opens the store at a `postgres://` URL (see `PostgresLocation`).
    public convenience init(url: String) async throws {
        try await self.init(location: PostgresLocation(url: url))
    }

    deinit {
        runTask.cancel()
    }

    /// Closes the pool's connections: the store cannot be used afterwards.
    public func close() async {
        runTask.cancel()
        await runTask.value
    }

    public func write<T>(_ body: (any StoreTransaction) throws -> T) async throws -> T {
        try await transaction(write: true, body)
    }

    public func read<T>(_ body: (any StoreReader) throws -> T) async throws -> T {
        try await transaction(write: false, body)
    }

    // MARK: the bridge

    func transaction<T>(write: Bool, _ body: (PostgresTransaction) throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let failure: TransactionFailure
            do {
                let outcome = try await withoutActuallyEscaping(body) { body in
                    // The thread pool may release its work item a moment after it has answered:
                    // it holds the box, never the body, which is taken out before the body
                    // could be found to have escaped.
                    let job = TransactionBody(body)
                    defer { job.body = nil }
                    return try await attemptOnce(write: write, job)
                }
                do {
                    return try outcome.value.get()
                } catch let error as TransactionFailure {
                    failure = error
                }
            } catch let error as TransactionFailure {
                failure = error
            }
            guard failure.retryable, attempt < Self.maxAttempts else {
                throw failure.retryable ? failure.exhausted(attempts: attempt) : failure.error
            }
            // Backs off a little, with jitter, so that instances that collided do not collide again.
            try await Task.sleep(nanoseconds: UInt64(attempt) * 25_000_000 + UInt64.random(in: 0...25_000_000))
        }
    }

    /// Leases a connection and runs one attempt of the transaction on a transaction thread. A
    /// failure to lease throws (as `TransactionFailure`); the attempt's own outcome, the body's
    /// errors included, comes back as the result.
    private func attemptOnce<T>(write: Bool, _ job: TransactionBody<T>) async throws -> Unchecked<Result<T, any Error>> {
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                try await Self.transactionThreads.runIfActive {
                    Unchecked(Result {
                        guard let body = job.body else { throw StoreError(.io, "a transaction ran after its caller left") }
                        return try Self.run(on: connection, write: write, logger: logger, body)
                    })
                }
            }
        } catch {
            throw TransactionFailure(error, location: location)
        }
    }

    /// One transaction on the current (transaction) thread: BEGIN, the advisory lock for a
    /// writer, the body, COMMIT; a ROLLBACK on any failure. A failure of the database that may
    /// be retried comes out as `TransactionFailure`; any other failure comes out as the
    /// `StoreError` the body saw, and the body's own errors (refusals) pass through.
    private static func run<T>(on connection: PostgresConnection, write: Bool, logger: Logger,
                               _ body: (PostgresTransaction) throws -> T) throws -> T {
        let tx = PostgresTransaction(connection: connection, logger: logger)
        do {
            if write {
                try tx.execute("BEGIN")
                try tx.execute("""
                    SELECT pg_advisory_xact_lock(\(lockNamespace), COALESCE((SELECT code::integer FROM authority LIMIT 1), 0))
                    """)
            } else {
                try tx.execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            }
            let result = try body(tx)
            // A failure the body caught still aborted the transaction (PostgreSQL would answer
            // COMMIT with ROLLBACK): report it instead of a success that was not stored.
            if let failure = tx.abortedBy { throw failure.retryable ? failure : failure.error }
            let commit = try tx.run("COMMIT")
            if commit.metadata.command == "ROLLBACK" {
                throw tx.firstFailure ?? TransactionFailure(StoreError(.io, "the database rolled the transaction back; nothing was written"),
                                                            retryable: true)
            }
            return result
        } catch {
            tx.rollback()
            // A failure that may be retried wins over whatever the body made of it.
            if let failure = tx.firstFailure, failure.retryable { throw failure }
            throw error
        }
    }

    // MARK: migrations

    /// Applies the migrations this database has not seen, in order, each recorded in
    /// `schemaMigration` under the same name as SQLite's. Several instances starting at once
    /// take turns on an advisory lock; the whole run is one transaction (DDL is transactional).
    static func migrate(location: PostgresLocation, logger: Logger) async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: location.connectionConfiguration, id: 0, logger: logger)
        } catch {
            throw StoreError(.io, "cannot connect to the PostgreSQL database at \(location.redacted): \(PostgresErrors.describe(error))")
        }
        do {
            try await migrate(connection, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw StoreError(.io, "cannot migrate the PostgreSQL database at \(location.redacted): \(PostgresErrors.describe(error))")
        }
    }

    private static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        do {
            _ = try await connection.query("BEGIN", logger: logger).get()
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockNamespace), \(migrationLock))", logger: logger).get()
            _ = try await connection.query("""
                CREATE TABLE IF NOT EXISTS schemaMigration (identifier TEXT PRIMARY KEY NOT NULL, appliedAt BIGINT NOT NULL)
                """, logger: logger).get()
            let applied = Set(try await connection.query("SELECT identifier FROM schemaMigration", logger: logger).get()
                .map { try $0.decode(String.self) })
            for migration in PostgresSchema.migrations where !applied.contains(migration.identifier) {
                for statement in migration.statements {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).get()
                }
                let now = Millis.from(Date())
                _ = try await connection.query("INSERT INTO schemaMigration (identifier, appliedAt) VALUES (\(migration.identifier), \(now))",
                                               logger: logger).get()
            }
            _ = try await connection.query("COMMIT", logger: logger).get()
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger).get()
            throw error
        }
    }

    /// The migrations applied to this database, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await client.withConnection { connection in
            try await connection.query("SELECT identifier FROM schemaMigration ORDER BY appliedAt, identifier", logger: logger).get()
                .map { try $0.decode(String.self) }
        }
    }
}

/// The body of a transaction, handed to the transaction thread by reference so that the caller
/// can take it back out (see `transaction`). The caller waits for that thread, so the body is
/// never used on two threads at once.
final class TransactionBody<T>: @unchecked Sendable {
    var body: ((PostgresTransaction) throws -> T)?
    init(_ body: @escaping (PostgresTransaction) throws -> T) { self.body = body }
}

/// Carries a value that is not `Sendable` to the transaction thread and back. Sound here
/// because the caller waits for that thread: the value is never used on two threads at once.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
