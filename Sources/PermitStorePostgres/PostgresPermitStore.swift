import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
/// **Counters and the audit chain under several writers.** Each write transaction takes
/// `pg_advisory_xact_lock` on its authority (the division code of the `authority` row) before
/// its first statement, held until it commits or rolls back; only admitting a nonce needs none
/// (its primary key decides, see `PostgresTransaction`). No writer reads or locks a row before
/// it, so none holds a row that another waits for while it waits for the lock. The writers of one
/// authority waiting in this process take it once for all of them (`WriteCombiner`). Writers of
/// one authority therefore take turns exactly as SQLite's single writer makes them: serials stay gap-free, the audit chain linear, and the
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
///
/// **Several authorities in one database.** The deployment's first authority is in the `public`
/// schema, as before; each authority added since has a schema of its own (`a` and its division
/// code: `a330106`) with the same tables. A store for such an authority shares the first one's
/// connection pool (`init(sharing:schema:)`) and selects its schema in each transaction with
/// `SET LOCAL search_path`, so one pool serves every authority and a connection goes back to the
/// pool with the default path.
public final class PostgresPermitStore: PermitStore, @unchecked Sendable {
    public let location: PostgresLocation
    /// The authority's schema: nil for `public` (the deployment's first authority), else `a` and a division code.
    public let schema: String?
    let client: PostgresClient
    private let runTask: Task<Void, Never>?
    /// The store whose pool this one shares, kept alive as long as this one.
    private let owner: PostgresPermitStore?
    let logger: Logger
    /// This authority's writers in this process, run together (see `write`).
    let combiner = WriteCombiner()

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

    /// The event loop that the pool's connections run on: one thread of their own, so that an
    /// answer from the database never waits behind the server's HTTP work on a shared loop (a
    /// writer holds its authority's lock meanwhile).
    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Connections per store, and threads for transactions in this process.
    public static let maximumConnections = 16

    /// Connects, creates or migrates the schema, and starts the pool. A server that cannot be
    /// reached, refuses the user or has no such database is reported here, as `store.io`,
    /// with the URL (its password hidden).
    public init(location: PostgresLocation) async throws {
        self.location = location
        schema = nil
        owner = nil
        logger = Logger(label: "permit-store-postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        try await Self.migrate(location: location, schema: nil, logger: logger)
        var configuration = location.configuration
        configuration.options.maximumConnections = Self.maximumConnections
        configuration.options.connectionIdleTimeout = .seconds(30)
        // Once an attempt to open a connection has failed (the database at its connection limit),
        // postgres-nio's pool (1.33) queues every new lease, even with idle connections at hand,
        // until a connection comes back to it: released, or through a keep-alive. With the
        // default keep-alive of 30 s a lone request then waited out `connectionWait` and was
        // refused as busy while connections sat idle; a keep-alive every second serves it.
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(1))
        let client = PostgresClient(configuration: configuration, eventLoopGroup: Self.eventLoops, backgroundLogger: logger)
        self.client = client
        runTask = Task { await client.run() }
    }

    /// The store of another authority in the same database: its schema (`a` and the division
    /// code; nil for `public`, the first authority's), created or migrated on the way, on
    /// `other`'s connection pool.
    public init(sharing other: PostgresPermitStore, schema: String?) async throws {
        if let schema, !Self.isSchemaName(schema) { throw StoreError(.io, "\(schema) is not an authority's schema name (a and six digits)") }
        let root = other.owner ?? other
        location = root.location
        self.schema = schema
        owner = root
        logger = root.logger
        client = root.client
        runTask = nil
        try await Self.migrate(location: location, schema: schema, logger: logger)
    }

    /// The schema of an authority added to a deployment: `a` and its division code.
    public static func schemaName(authority code: String) -> String { "a" + code }

    static func isSchemaName(_ name: String) -> Bool {
        name.utf8.count == 7 && name.first == "a" && name.utf8.dropFirst().allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// The schemas of authorities added to this database (`a` and six digits), in name order.
    public func addedSchemas() async throws -> [String] {
        try await client.withConnection { connection in
            try await connection.query("SELECT nspname FROM pg_namespace WHERE nspname ~ '^a[0-9]{6}$' ORDER BY nspname", logger: logger).get()
                .map { try $0.decode(String.self) }
        }
    }

    /// Opens the store at a `postgres://` URL (see `PostgresLocation`).
    public convenience init(url: String) async throws {
        try await self.init(location: PostgresLocation(url: url))
    }

    deinit {
        runTask?.cancel()
    }

    /// Closes the pool's connections: the store cannot be used afterwards (nor any store that
    /// shares its pool). A store that shares another's pool closes nothing.
    public func close() async {
        guard let runTask else { return }
        runTask.cancel()
        await runTask.value
    }

    /// Runs in a transaction combined with the other writers of this authority waiting in this
    /// process (`WriteCombiner`), in a savepoint of its own.
    public func write<T>(_ body: (any StoreTransaction) throws -> T) async throws -> T {
        try await write(readAhead: ReadAhead(), body)
    }

    public func write<T>(readAhead: ReadAhead, _ body: (any StoreTransaction) throws -> T) async throws -> T {
        try await combiner.write(readAhead: readAhead, body) { [self] combined in try await transaction(write: true, combined) }
    }

    public func read<T>(_ body: (any StoreReader) throws -> T) async throws -> T {
        try await transaction(write: false, body)
    }

    // MARK: the bridge

    func transaction<T>(write: Bool, autocommit: Bool = false, _ body: (PostgresTransaction) throws -> T) async throws -> T {
        var attempt = 0
        var lazySavepoints = true
        // A read is first tried as one statement (see `run`); the first authority's only, whose
        // tables are on the connection's own search path.
        var single = !write && schema == nil
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
                    return try await attemptOnce(write: write, autocommit: autocommit || single, lazySavepoints: lazySavepoints, job)
                }
                do {
                    return try outcome.value.get()
                } catch let error as TransactionFailure {
                    failure = error
                } catch is PostgresTransaction.NeedsSnapshot {
                    single = false
                    attempt -= 1
                    continue
                }
            } catch let error as TransactionFailure {
                failure = error
            }
            guard failure.retryable, attempt < Self.maxAttempts else {
                throw failure.retryable ? failure.exhausted(attempts: attempt) : failure.error
            }
            if failure.needsSavepoints {
                lazySavepoints = false
                continue
            }
            try await Task.sleep(nanoseconds: Self.backOff(attempt: attempt))
        }
    }

    /// A little longer after each failed attempt, with jitter, so that instances that collided do not collide again.
    static func backOff(attempt: Int) -> UInt64 { UInt64(attempt) * 25_000_000 + UInt64.random(in: 0...25_000_000) }

    /// How long a transaction waits for a connection of the pool before it is refused as
    /// `store.busy`. Without a bound, postgres-nio's pool keeps a request queued for as long as it
    /// cannot open a connection (the database at its connection limit, or down) and holds none,
    /// until its circuit breaker trips a minute later; a server's client then waited that minute,
    /// or its own timeout, for a `store.io`. Tests shorten it.
    static let connectionWait: Duration = .seconds(5)
    var connectionWait: Duration = PostgresPermitStore.connectionWait

    /// Leases a connection and runs one attempt of the transaction on a transaction thread. A
    /// failure to lease throws (as `TransactionFailure`): no connection within `connectionWait` is
    /// `store.busy`, not retried here (the request is answered 503 and may be sent again). The
    /// attempt's own outcome, the body's errors included, comes back as the result.
    private func attemptOnce<T>(write: Bool, autocommit: Bool, lazySavepoints: Bool, _ job: TransactionBody<T>) async throws -> Unchecked<Result<T, any Error>> {
        let (logger, schema) = (self.logger, self.schema)
        let asked = LockTrace.now()
        return try await leased { connection in
            try await Self.transactionThreads.runIfActive {
                Unchecked(Result {
                    guard let body = job.body else { throw StoreError(.io, "a transaction ran after its caller left") }
                    return try Self.run(on: connection, write: write, autocommit: autocommit, lazySavepoints: lazySavepoints, schema: schema, logger: logger,
                                        asked: asked, body)
                })
            }
        }
    }

    /// Leases a connection and runs `body` with it. No connection within `connectionWait` is
    /// `store.busy`, not retried (the request is answered 503 and may be sent again); any failure
    /// comes out as `TransactionFailure`, which says whether trying again may succeed.
    func leased<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client
        let wait = connectionWait
        let lease = LeaseDeadline()
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await client.withConnection { connection in
                        // Leased too late: the caller has been told the store is busy.
                        guard lease.claim() else { throw LeaseDeadline.Expired() }
                        return try await body(connection)
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: wait)
                    // Expired before the lease: leaving the group cancels the lease request.
                    if !Task.isCancelled, lease.expire() { throw LeaseDeadline.Expired() }
                    return nil
                }
                while let next = try await group.next() {
                    if let outcome = next {
                        group.cancelAll()
                        return outcome
                    }
                }
                throw StoreError(.io, "a transaction ended without an outcome")
            }
        } catch is LeaseDeadline.Expired {
            throw TransactionFailure(StoreError(.busy, """
                no connection to the PostgreSQL database at \(location.redacted) within \(wait.components.seconds) s \
                (every connection of the pool in use, or the database accepting no more: too many connections); \
                nothing was written. Send the request again
                """), retryable: false)
        } catch let failure as TransactionFailure {
            throw failure
        } catch {
            throw TransactionFailure(error, location: location)
        }
    }

    /// One transaction on the current (transaction) thread: BEGIN, the advisory lock for a
    /// writer, the body, COMMIT; a ROLLBACK on any failure. A failure of the database that may
    /// be retried comes out as `TransactionFailure`; any other failure comes out as the
    /// `StoreError` the body saw, and the body's own errors (refusals) pass through.
    private static func run<T>(on connection: PostgresConnection, write: Bool, autocommit: Bool, lazySavepoints: Bool, schema: String?,
                               logger: Logger, asked: UInt64, _ body: (PostgresTransaction) throws -> T) throws -> T {
        let tx = PostgresTransaction(connection: connection, logger: logger)
        tx.lazySavepoints = lazySavepoints
        var times = LockTrace.Times(asked: asked, started: LockTrace.now())
        let cpuAtStart = LockTrace.shared == nil ? 0 : LockTrace.threadCPU()
        if autocommit {
            // Statements of their own, each committed as it runs: nothing to roll back. A read
            // tried so may send one statement, which is a snapshot of its own (READ COMMITTED
            // takes one per statement); a second throws `NeedsSnapshot`, and the read runs
            // again in a transaction of its own. Most reads are one statement: a request's
            // signer, an approver's key, a queue's page; they save BEGIN and COMMIT.
            tx.singleStatement = !write
            do {
                let result = try body(tx)
                if tx.wantedSnapshot { throw PostgresTransaction.NeedsSnapshot() }
                try tx.flush()
                return result
            } catch {
                if tx.wantedSnapshot { throw PostgresTransaction.NeedsSnapshot() }
                if let failure = tx.firstFailure, failure.retryable { throw failure }
                throw error
            }
        }
        do {
            // BEGIN (and a writer's lock, before its first statement) queued, not waited for:
            // the body's first statement waits for them (see PostgresTransaction).
            if write {
                try tx.enqueue("BEGIN")
                if let schema { try tx.enqueue(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\"")) }
                tx.lockBeforeFirstStatement(namespace: lockNamespace)
            } else {
                try tx.enqueue("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if let schema { try tx.enqueue(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\"")) }
            }
            let result = try body(tx)
            // A failure the body caught still aborted the transaction (PostgreSQL would answer
            // COMMIT with ROLLBACK): report it instead of a success that was not stored.
            if let failure = tx.abortedBy { throw failure.retryable ? failure : failure.error }
            times.committing = LockTrace.now()
            times.lastWait = tx.lastWaitAt
            if LockTrace.shared != nil { times.bodyCPU = LockTrace.threadCPU() - cpuAtStart }
            let commit = try tx.commit()
            if commit.metadata.command == "ROLLBACK" {
                throw tx.firstFailure ?? TransactionFailure(StoreError(.io, "the database rolled the transaction back; nothing was written"),
                                                            retryable: true)
            }
            if write, let trace = LockTrace.shared {
                times.committed = LockTrace.now()
                times.locking = tx.lockQueued
                times.locked = tx.lockedAt
                trace.record(times, tx)
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
    static func migrate(location: PostgresLocation, schema: String?, logger: Logger) async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: location.connectionConfiguration, id: 0, logger: logger)
        } catch {
            throw StoreError(.io, "cannot connect to the PostgreSQL database at \(location.redacted): \(PostgresErrors.describe(error))")
        }
        do {
            try await migrate(connection, schema: schema, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw StoreError(.io, "cannot migrate the PostgreSQL database at \(location.redacted): \(PostgresErrors.describe(error))")
        }
    }

    private static func migrate(_ connection: PostgresConnection, schema: String?, logger: Logger) async throws {
        do {
            _ = try await connection.query("BEGIN", logger: logger).get()
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockNamespace), \(migrationLock))", logger: logger).get()
            if let schema {
                // Created only when missing: CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS.
                let found = try await connection.query("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger: logger).get()
                if Array(found).isEmpty {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \"\(schema)\""), logger: logger).get()
                }
                _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\""), logger: logger).get()
            }
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
            // Not a migration (SQLite has no such thing): made in each schema when missing or
            // changed, so that a start needs no CREATE privilege once it is there.
            for (name, function) in [(WriterStart.name, WriterStart.function), (WriterStart.readAheadName, WriterStart.readAheadFunction)] {
                let installed = try await connection.query("""
                    SELECT p.prosrc, COALESCE(array_to_string(p.proconfig, ','), '') FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE p.proname = \(name) AND n.nspname = current_schema()
                    """, logger: logger).get().map { try $0.decode((String, String).self) }
                if installed.first?.0.trimmingCharacters(in: .whitespacesAndNewlines) != WriterStart.body(of: function)
                    || installed.first?.1 != WriterStart.setting {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: function), logger: logger).get()
                }
            }
            _ = try await connection.query("COMMIT", logger: logger).get()
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger).get()
            throw error
        }
    }

    /// The migrations applied to this database, oldest first.
    public func appliedMigrations() async throws -> [String] {
        let table = schema.map { "\"\($0)\".schemaMigration" } ?? "schemaMigration"
        return try await client.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SELECT identifier FROM \(table) ORDER BY appliedAt, identifier"), logger: logger).get()
                .map { try $0.decode(String.self) }
        }
    }
}

/// When each nonce table was last swept of expired nonces (see `PostgresPermitStore.admitNonce`).
final class NonceSweep: @unchecked Sendable {
    static let shared = NonceSweep()
    private let lock = NSLock()
    private var last: [String: UInt64] = [:]

    /// True at most once a second for `table`.
    func due(table: String) -> Bool {
        let now = LockTrace.now()
        return lock.withLock {
            if let at = last[table], now - at < 1_000_000_000 { return false }
            last[table] = now
            return true
        }
    }
}

/// Who came first, the lease of a connection or the end of the connection wait: exactly one of
/// `claim` and `expire` succeeds.
final class LeaseDeadline: @unchecked Sendable {
    struct Expired: Error {}
    private let lock = NSLock()
    private var decided: Bool?

    /// The connection arrived: true unless the wait had already expired.
    func claim() -> Bool { decide(true) }

    /// The wait is over: true unless the connection had already arrived.
    func expire() -> Bool { decide(false) }

    private func decide(_ leased: Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if decided == nil { decided = leased }
        return decided == leased
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

/// Bench-only, off unless `PERMIT_PG_LOCK_TRACE` names a file: each committed write transaction
/// appends one line to it, so that `scripts/bench server` can say how long writers wait for the
/// authority's advisory lock and how much of the wall time it is held. Times are
/// CLOCK_MONOTONIC nanoseconds (one clock for every process on the machine), taken on the
/// transaction thread around each step:
/// `asked started locking locked committing committed statements waits waitNanos contextRead lastWait writers bodyCPU aheadSent aheadAnswered aheadInHand`:
/// the caller asked for a connection; the transaction thread started (connection leased, thread
/// found); the lock statement queued; the server's grant arrived (on the event loop; both 0 for a
/// transaction that needed no lock); the body done; COMMIT answered; the statements sent (BEGIN,
/// the lock and COMMIT included); the waits for answers and their total time; the transaction
/// thread had the lock's context in hand (0 if it never read it); the body's last wait began; the writers' bodies it ran (`WriteCombiner`; 0 for a transaction that ran none, a nonce's); the CPU time its thread spent until the body's end (`bodyCPU`); its first read-ahead of applications sent, answered on the event loop and in hand on the thread (0 without one). Measured from the
/// client, the time between `locked` and `committed` holds the lock's time on the server plus a
/// round trip or so.
final class LockTrace: @unchecked Sendable {
    struct Times {
        var asked: UInt64
        var started: UInt64
        var locking: UInt64 = 0
        var locked: UInt64 = 0
        var committing: UInt64 = 0
        var committed: UInt64 = 0
        /// The body's last wait for an answer began (COMMIT's not counted).
        var lastWait: UInt64 = 0
        /// CPU time the transaction's thread spent from its start to the body's end (its own
        /// work: waiting for an answer takes none).
        var bodyCPU: UInt64 = 0
    }

    static let shared: LockTrace? = {
        guard let path = ProcessInfo.processInfo.environment["PERMIT_PG_LOCK_TRACE"], !path.isEmpty else { return nil }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        return fd < 0 ? nil : LockTrace(fd: fd)
    }()

    private let fd: Int32
    private init(fd: Int32) { self.fd = fd }

    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// The calling thread's CPU time so far, in nanoseconds.
    static func threadCPU() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// One line, one `write` (O_APPEND): lines of concurrent transactions never interleave.
    func record(_ t: Times, _ tx: PostgresTransaction) {
        let line = "\(t.asked) \(t.started) \(t.locking) \(t.locked) \(t.committing) \(t.committed) \(tx.statements) \(tx.waits) \(tx.waitNanos) \(tx.contextReadAt) \(t.lastWait) \(tx.writers) \(t.bodyCPU) \(tx.aheadSent) \(tx.aheadAnswered?.value ?? 0) \(tx.aheadInHand)\n"
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
