import Foundation
import Logging
import NIOCore
import PermitAPI
import PermitStore
import PostgresNIO

/// One transaction on one leased connection, run on a transaction thread: each method sends its
/// statement (values bound as parameters, never spliced into the SQL) and waits for the answer.
///
/// PostgreSQL aborts a transaction at its first failed statement, where SQLite carries on: the
/// first failure is kept (`firstFailure`), later statements report it without a round trip, and
/// a savepoint rolled back to makes the transaction usable again, as in SQLite.
///
/// **Fewer statements under the lock.** Writers of one authority take turns on its advisory
/// lock, so the time from the lock's grant to COMMIT caps the authority's throughput, and each
/// statement in it costs a round trip to the server (postgres-nio sends a connection's next
/// statement only once the last has been answered). So:
/// - the lock and what the writer needs of its authority (the last serial, the largest ids,
///   the issuer keys, the last audit event) are one statement (`Context`); the transaction keeps
///   those counters itself from there and binds ids and serials into its inserts;
/// - writes whose answer the body does not need (`write`) are kept and sent as one statement
///   (`DeferredWrite.statement`) when the transaction next sends anything; the serial counter's
///   row is written once, at COMMIT;
/// - every writer takes the lock before anything else, so that no writer ever holds a row that
///   another writer waits for while it waits for the lock; a combined transaction asks for it
///   with what its writers name (a group of decisions its applications and its vehicles'
///   issued applications, an apply group its references) in one statement (`startWriting`),
///   and the writers it takes at the grant read theirs in one more (`readAhead`);
/// - the write transactions of one authority that are waiting in one process run together as one
///   transaction, a savepoint each (`WriteCombiner`), so that the lock's grant and COMMIT are paid
///   once for all of them;
/// - a writer's read of an application by id brings its required departments and decisions in
///   the same wait.
/// Statements whose answer the body does not need and that cannot fail for a reason of the
/// data (`BEGIN`, `SAVEPOINT`, `RELEASE SAVEPOINT`) are queued without waiting (`enqueue`);
/// the next statement that is waited for waits for them too, and reports the first of their
/// failures as its own. The statements of `admitNonce` take no lock: the nonce's primary key
/// decides between two requests that carry the same nonce, as SQLite's single writer would.
final class PostgresTransaction: StoreTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// The first failure of the database in this transaction.
    private(set) var firstFailure: TransactionFailure?
    /// The failure that aborted the transaction, until a savepoint is rolled back to.
    private(set) var abortedBy: TransactionFailure?
    /// The failures of the database so far, and the last of them (see `WriteCombiner`).
    private(set) var failures = 0
    private(set) var lastFailure: TransactionFailure?
    private var savepoints = 0
    /// The writers run in this transaction, each in its savepoint (`WriteCombiner`).
    var writers = 0
    /// Statements sent so far, and the waits for their answers, for the bench's lock trace.
    private(set) var statements = 0
    private(set) var waits = 0
    private(set) var waitNanos: UInt64 = 0
    /// Statements queued and not yet waited for.
    private var pending: [EventLoopFuture<PostgresQueryResult>] = []
    /// Writes kept to go as one statement.
    private var batch: [DeferredWrite] = []
    /// Whether a savepoint may wait to be sent (see `savepoint`); the ones waiting, outermost
    /// first (a savepoint opened inside one that waits waits too), each with where its body's
    /// writes start in `batch`.
    var lazySavepoints = true
    private var unsentSavepoints: [(name: String, start: Int)] = []
    /// Writes of a savepoint never sent, queued and not yet answered.
    private var unsavedWrites = false
    /// The key space of the advisory lock still to be queued, before the writer's first
    /// statement that needs it (nil once queued, or for a reader).
    private var lockFirst: Int32?
    private var bypassLock = false
    /// When the lock was queued, and when the server granted it (0 until then).
    private(set) var lockQueued: UInt64 = 0
    private let lockGranted = GrantTime()
    /// The last audit event as this transaction left it (only while it holds the lock).
    private var lastAudit: AuditEvent??
    /// What a writer reads about its authority's counters, queued right behind the lock (see
    /// `Context`), and the counters as this transaction has moved them since.
    private var context: EventLoopFuture<PostgresQueryResult>?
    private var contextRead: Context?
    /// When the transaction thread had the context in hand (for the bench's lock trace).
    private(set) var contextReadAt: UInt64 = 0
    private(set) var lastWaitAt: UInt64 = 0
    private var counters = Counters()
    /// The authority whose serials this transaction took from its context: its counter's row is written at COMMIT.
    private var serialAuthority: String?
    private var contextUsable = true
    /// Keys written by this transaction: the issuer keys are read again, not taken from the context.
    private var issuerKeysWritten = false
    /// Applications a writer has read (`application(id:)`, `readAhead`), each with its
    /// required departments and decisions, read in the same wait, then kept as this transaction
    /// writes them (`follow`): no one else writes them meanwhile, since the writer holds the
    /// authority's lock.
    private var readAhead: [Int64: (application: ApplicationRecord, required: [RequiredDepartmentRecord], decisions: [DecisionRecord])] = [:]

    /// The issued applications of each plate that a group of decisions may issue for (read by
    /// `readAhead` under the authority's lock), in id order, kept up to date with this
    /// transaction's own writes: what `supersedeOlder` asks of `applications`.
    private var issuedByPlate: [String: [ApplicationRecord]] = [:]
    /// References looked up ahead (`readAhead`): the answers not yet read, what they
    /// found, and the keys they answer for until this transaction writes an application under one.
    private var referenceAnswers: [EventLoopFuture<PostgresQueryResult>] = []
    private var referencesFound: [ReferenceKey: ApplicationRecord] = [:]
    private var referencesKnown: Set<ReferenceKey> = []

    struct ReferenceKey: Hashable {
        var creditCode: String
        var reference: String
    }

    /// A read sent as one statement of its own, outside any transaction (see
    /// `PostgresPermitStore.run`): a second statement throws `NeedsSnapshot`.
    var singleStatement = false

    /// A read that was tried as one statement sends a second: it runs again in a transaction.
    struct NeedsSnapshot: Error {}
    /// Set with `NeedsSnapshot`, so that a body that caught it (`try?`) still runs again.
    private(set) var wantedSnapshot = false

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// A writer: the lock of `namespace` is queued before its first statement other than `admitNonce`'s.
    func lockBeforeFirstStatement(namespace: Int32) {
        lockFirst = namespace
    }

    var lockedAt: UInt64 { lockGranted.value }
    /// The transaction's first read-ahead of applications, for the lock trace (only when it is
    /// on): sent, answered on the event loop, in hand on this thread.
    private(set) var aheadAnswered: GrantTime?
    private(set) var aheadSent: UInt64 = 0
    private(set) var aheadInHand: UInt64 = 0
    var holdsLock: Bool { lockQueued != 0 }

    // MARK: statements

    /// Runs one statement and waits for all its rows (and for the statements queued before it).
    @discardableResult
    func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
        if let abortedBy { throw abortedBy.error }
        takeLockIfNeeded()
        return try send(query)
    }

    /// A write whose answer the body does not need, written as a `PostgresQuery` (the copy's
    /// rows, the rarer writes): queued on its own, not waited for (see `enqueue`). Its failure is
    /// reported by the next statement that is waited for, at the latest by COMMIT, and fails the
    /// transaction. The frequent writes go through `write`, which joins them into one statement.
    func execute(_ query: PostgresQuery) throws {
        try enqueue(query)
    }

    /// Queues a statement without waiting for its answer (see the type's comment): only for
    /// statements that fail only when the connection or the transaction already has.
    func enqueue(_ query: PostgresQuery) throws {
        if let abortedBy { throw abortedBy.error }
        takeLockIfNeeded()
        try sendBatch()
        if singleStatement, statements > 0 {
            wantedSnapshot = true
            throw NeedsSnapshot()
        }
        statements += 1
        pending.append(connection.query(query, logger: logger))
        // A long run of writes (a copy) waits now and then, so that what is queued stays bounded.
        if pending.count >= Self.maximumQueued { try flush() }
    }

    static let maximumQueued = 256

    /// A write whose answer the body does not need, kept to go with the writes that follow it
    /// as one statement (`DeferredWrite.statement`) when the transaction next sends anything:
    /// a read, a savepoint, COMMIT. Its failure is reported then, and fails the transaction, or
    /// the savepoint it was written in. An `UPDATE` that may touch a row the kept writes already
    /// write starts a new statement: it must see what they wrote (see `DeferredWrite.row`).
    func write(_ write: DeferredWrite) throws {
        if let abortedBy { throw abortedBy.error }
        takeLockIfNeeded()
        if write.kind == .update, batch.contains(where: { $0.mayWriteSameRow(as: write) }) { try sendBatch() }
        batch.append(write)
        if batch.count >= Self.maximumBatch { try sendBatch() }
    }

    /// Writes kept at most before they go, as one statement. A combined transaction's writers
    /// write 7 to 8 rows each, up to 32 writers: at 64, a statement went in the middle of about
    /// one writer's body a transaction, with that writer's two savepoints and their two releases
    /// (18 statements a write transaction at 16 clients, against 7.6 at 256), each a round trip
    /// behind the lock.
    static let maximumBatch = 256

    /// Sends the savepoints that waited for their bodies to send something, outermost first:
    /// before each, the writes kept from before it (as one statement); the innermost body's own
    /// writes stay kept.
    private func sendLazySavepoints() throws {
        guard !unsentSavepoints.isEmpty else { return }
        let unsent = unsentSavepoints
        unsentSavepoints = []
        let kept = batch
        var from = 0
        for savepoint in unsent {
            batch = Array(kept[from..<savepoint.start])
            from = savepoint.start
            try enqueue(PostgresQuery(unsafeSQL: "SAVEPOINT \(savepoint.name)"))
        }
        batch = Array(kept[from...])
    }

    /// Queues the kept writes as one statement.
    private func sendBatch() throws {
        try sendLazySavepoints()
        guard !batch.isEmpty else { return }
        let writes = batch
        batch = []
        let statement = try DeferredWrite.statement(writes)
        statements += 1
        pending.append(connection.query(statement, logger: logger))
        if pending.count >= Self.maximumQueued { try flush() }
    }

    /// Waits for every statement queued so far; the first failure among them is thrown.
    func flush() throws {
        try sendBatch()
        guard let first = pending.first else { return }
        let before = pending
        pending = []
        try waitRecordingFailure { EventLoopFuture.andAllSucceed(before, on: first.eventLoop) }
    }

    /// COMMIT, without taking a lock that the body never needed; the serial counter's row first,
    /// if serials were taken (`nextSerial`).
    func commit() throws -> PostgresQueryResult {
        if let abortedBy { throw abortedBy.error }
        if let authority = serialAuthority, let serial = counters.serial, serial != contextRead?.serial {
            try write("UPDATE serial SET last = \(serial) WHERE authority = \(authority)")
        }
        return try send("COMMIT")
    }

    /// Takes the authority's lock and waits for it (and for what the writer reads of its authority
    /// with it), before anything else is read.
    func waitForLock() throws {
        _ = try readContext()
    }

    /// A combined transaction's start: the authority's lock, the context and what `aheads` name
    /// (as `readAhead` reads them) in one statement (`WriterStart`), so that the grant brings
    /// them in the same answer: no round trip of their own behind the lock. With the lock
    /// already queued, what it did not read is read after it, as `readAhead` reads.
    func startWriting(readingAhead aheads: [ReadAhead]) throws {
        takeLockIfNeeded(readingAhead: aheads)
        try waitForLock()
        try readAhead(aheads)
    }

    /// What the writer read behind the lock, the lock taken now if it was not (see `heldContext`).
    private func readContext() throws -> Context? {
        takeLockIfNeeded()
        return try heldContext()
    }

    /// What the writer read behind the lock, or nil: no lock held (a reader, a nonce's
    /// admission, a decision before its first write), or rows written that it does not follow (a copy).
    private func heldContext() throws -> Context? {
        guard holdsLock, contextUsable, let context else { return nil }
        if let contextRead { return contextRead }
        return try keepContext(of: answer(of: context))
    }

    /// The context's row (the kind `c` row of `WriterStart.function`).
    private func decodeContext(_ r: Row) throws -> Context {
        let seq: Int64? = try r("seq")
        let kids: [String] = try r("ctxKids"), algs: [String] = try r("ctxAlgs"), spkis: [ByteBuffer] = try r("ctxSpkis")
        let starts: [Int64] = try r("ctxNotBefore"), ends: [Int64] = try r("ctxNotAfter")
        guard algs.count == kids.count, spkis.count == kids.count, starts.count == kids.count, ends.count == kids.count else {
            throw StoreError(.io, "the writer's context has issuer key columns of different lengths")
        }
        let keys = kids.indices.map { n in
            KeyRecord(kid: kids[n], role: .issuer, alg: algs[n], spki: Data(spkis[n].readableBytesView), notBefore: Millis.date(starts[n]),
                      notAfter: ends[n] < 0 ? nil : Millis.date(ends[n]))
        }
        return Context(authority: try r("ctxAuthority"), serial: try r("ctxSerial"), applicationID: try r("ctxApplication"),
                       decisionID: try r("ctxDecision"), issuerKeys: keys, lastAudit: seq == nil ? nil : try audit(r))
    }

    /// Keeps what the lock's statement (`WriterStart.function`) read: the context, and what it read ahead.
    @discardableResult
    private func keepContext(of result: PostgresQueryResult) throws -> Context {
        let contexts = try keepRows(of: result)
        guard contexts.count == 1, let read = contexts.first else {
            throw StoreError(.io, "the writer's start returned \(contexts.count) context rows")
        }
        contextRead = read
        contextReadAt = LockTrace.now()
        return read
    }

    /// Rows were written behind the counters' back (a copy): from now on they are read again.
    func forgetContext() {
        contextUsable = false
        readAhead = [:]
        issuedByPlate = [:]
        (referenceAnswers, referencesFound, referencesKnown) = ([], [:], [])
        lastAudit = nil
    }

    /// "Issued" among a vehicle's applications, written so that PostgreSQL filters the plate's
    /// few rows instead of ANDing the plate's index with `application_state`'s bitmap of every
    /// issued application, which grows with the authority (`EXPLAIN ANALYZE` at 3,900 permits:
    /// 1.5 ms against 0.2 ms, and linear in the permits).
    ///
    /// **`byEach`.** The read-ahead's rows of many applications (or plates, or references) are
    /// read one key at a time through the key's index: `unnest` of the keys `CROSS JOIN LATERAL`
    /// a subquery with `OFFSET 0`, which keeps PostgreSQL from flattening it into a join it may
    /// plan as a scan of the whole table. With `= ANY(array)` it did, in tables that had grown
    /// since their statistics: at 6,800 applications and 51 keys, 1.7–5 ms for the required
    /// departments and decisions and 29–58 ms for the vehicles' issued applications (sequential
    /// scans, or every issued row's bitmap), against 0.2–0.9 ms key by key.
    static let issuedOnly = "(state = 'issued') IS TRUE"

    /// Keeps what was read ahead for application `id` (if anything) as the database has it once
    /// this transaction's write of it lands, so that a writer after it in the same transaction
    /// (another department's decision on it) reads it without a wait. No one else writes these
    /// rows meanwhile: every writer of the authority holds its lock first.
    private func follow(_ id: Int64, _ change: (inout (application: ApplicationRecord, required: [RequiredDepartmentRecord], decisions: [DecisionRecord])) -> Void) {
        guard var ahead = readAhead[id] else { return }
        change(&ahead)
        readAhead[id] = ahead
    }

    /// A time as a row keeps it (whole milliseconds), as a read of the row would give it back.
    static func stored(_ date: Date) -> Date { Millis.date(Millis.from(date)) }

    /// Keeps `issuedByPlate` as the database has it once `a` is written.
    private func track(_ a: ApplicationRecord) {
        guard var issued = issuedByPlate[a.plate] else { return }
        issued.removeAll { $0.id == a.id }
        if a.state == .issued {
            issued.append(a)
            issued.sort { ($0.id ?? 0) < ($1.id ?? 0) }
        }
        issuedByPlate[a.plate] = issued
    }

    /// What writers said they read first (`PermitStore.write(readAhead:)`), for all of them at
    /// once, behind the authority's lock, in one statement whatever they name
    /// (`permit_read_ahead`, see `WriterStart`, whose rows say their kind):
    /// - the rows of `application`: the applications a group of decisions names, the issued
    ///   applications of the same vehicles (which a permit issued here would supersede, kept up
    ///   to date as the transaction issues), and the applications under an apply group's
    ///   references;
    /// - the required departments and decisions of those applications.
    /// One wait when applications are named, where each decision would wait for its own;
    /// references alone are not waited for here, but by the first body that looks one up
    /// (`application(creditCode:reference:)`). Each statement is a round trip of its own
    /// (postgres-nio sends a connection's next statement once the last is answered): the four or
    /// five statements this took once made the wait after the lock's grant 8 ms of a 20 ms hold.
    /// What was read already and not written since is not read again; reads of these
    /// applications are answered from what was read, which follows the transaction's own writes
    /// (`follow`). Permit numbers are not read ahead: a decision on an issued application is
    /// refused without a write.
    func readAhead(_ aheads: [ReadAhead]) throws {
        guard abortedBy == nil, !bypassLock else { return }
        let (ids, keys) = unread(aheads)
        guard !keys.isEmpty || !ids.isEmpty else { return }
        takeLockIfNeeded()
        try sendBatch()
        statements += 1
        let first = !ids.isEmpty && aheadSent == 0 && LockTrace.shared != nil
        if first { aheadSent = LockTrace.now() }
        let answer = connection.query(WriterStart.readAheadQuery(ids: ids, keys: keys), logger: logger)
        if first {
            let answered = GrantTime()
            aheadAnswered = answered
            answer.whenComplete { _ in answered.set(LockTrace.now()) }
        }
        pending.append(answer)
        guard !ids.isEmpty else {
            referenceAnswers.append(answer)
            return
        }
        // One wait for the lock, the context and the reads (`answer` waits for what was queued before).
        let result = try self.answer(of: answer)
        if first { aheadInHand = LockTrace.now() }
        guard try keepRows(of: result).isEmpty else { throw StoreError(.io, "the read-ahead returned a context row") }
    }

    /// Keeps the rows of `WriterStart`'s functions by their kind (see `keep`), and returns the
    /// context rows among them (`c`).
    private func keepRows(of result: PostgresQueryResult) throws -> [Context] {
        var contexts: [Context] = [], applications: [(String, ApplicationRecord)] = [], related: [(String, Row)] = []
        for row in try rows(of: result, { $0 }) {
            switch try row("kind") as String {
            case "c": contexts.append(try decodeContext(row))
            case "r", "d": related.append((try row("kind"), row.prefixed(WriterStart.relatedPrefix)))
            case let kind: applications.append((kind, try application(row)))
            }
        }
        try keep(applications: applications, related: related)
        return contexts
    }

    /// What of `aheads` this transaction has not read yet: application ids, and references (from
    /// now on answered by what is read for them).
    private func unread(_ aheads: [ReadAhead]) -> (ids: [Int64], keys: [(creditCode: String, reference: String)]) {
        var keys: [(creditCode: String, reference: String)] = []
        for k in aheads.flatMap(\.references) where referencesKnown.insert(ReferenceKey(creditCode: k.creditCode, reference: k.reference)).inserted {
            keys.append(k)
        }
        let ids = Array(Set(aheads.flatMap(\.applications).compactMap(ApplicationRecord.rowID(of:))).filter { readAhead[$0] == nil }).sorted()
        return (ids, keys)
    }

    /// Keeps what a read-ahead brought: `applications` by their kind (`a` named, `i` a named
    /// one's vehicle's issued applications, `f` under a reference), `related` the required
    /// departments (`r`) and decisions (`d`) of the named ones.
    private func keep(applications: [(String, ApplicationRecord)], related: [(String, Row)]) throws {
        var required: [Int64: [RequiredDepartmentRecord]] = [:], decisions: [Int64: [DecisionRecord]] = [:]
        for (kind, row) in related {
            if kind == "r" {
                let record = try self.required(row)
                required[record.applicationID, default: []].append(record)
            } else {
                let record = try decision(row)
                decisions[record.applicationID, default: []].append(record)
            }
        }
        var issued: [ApplicationRecord] = []
        for (kind, a) in applications {
            switch kind {
            case "a":
                guard let id = a.id else { continue }
                // Decisions in id order, as a read of them by their application gives them.
                readAhead[id] = (a, required[id] ?? [], (decisions[id] ?? []).sorted { ($0.id ?? 0) < ($1.id ?? 0) })
                issuedByPlate[a.plate] = []
            case "i": issued.append(a)
            case "f": referencesFound[ReferenceKey(creditCode: a.creditCode, reference: a.reference)] = a
            default: break
            }
        }
        for a in issued { issuedByPlate[a.plate]?.append(a) }
    }

    /// Queues the lock's statement if it is still to be queued: it takes the lock, then reads the
    /// context and what `aheads` name (`WriterStart.function`).
    private func takeLockIfNeeded(readingAhead aheads: [ReadAhead] = []) {
        guard !bypassLock, let namespace = lockFirst else { return }
        lockFirst = nil
        statements += 1
        lockQueued = LockTrace.now()
        let (ids, keys) = unread(aheads)
        let context = connection.query(WriterStart.query(namespace: namespace, ids: ids, keys: keys), logger: logger)
        let granted = lockGranted
        context.whenSuccess { _ in granted.set(LockTrace.now()) }
        self.context = context
        pending.append(context)
    }

    /// Sends a statement even in an aborted transaction (`ROLLBACK TO SAVEPOINT` must), and
    /// waits for it and for whatever was queued before it.
    private func send(_ query: PostgresQuery) throws -> PostgresQueryResult {
        try sendBatch()
        if singleStatement, statements > 0 {
            wantedSnapshot = true
            throw NeedsSnapshot()
        }
        statements += 1
        let before = pending
        pending = []
        return try waitRecordingFailure {
            let answer = connection.query(query, logger: logger)
            guard let first = before.first else { return answer }
            // The queued statements' first failure, else this statement's outcome.
            return EventLoopFuture.andAllSucceed(before, on: first.eventLoop).flatMap { answer }
        }
    }

    /// Waits for `operation`'s answer; a failure is kept as the transaction's and thrown.
    /// `answersAll`: nothing stays queued or kept after what it waits for (then the writes of
    /// savepoints never sent have all been answered).
    private func waitRecordingFailure<T>(answersAll: Bool = true, _ operation: () -> EventLoopFuture<T>) throws -> T {
        let t0 = LockTrace.now()
        lastWaitAt = t0
        defer {
            waits += 1
            waitNanos += LockTrace.now() - t0
        }
        do {
            let answer = try ConnectionWatch.shared.wait(for: connection, operation)
            if answersAll { unsavedWrites = false }
            return answer
        } catch {
            var failure = TransactionFailure(error)
            if unsavedWrites {
                failure.retryable = true
                failure.needsSavepoints = true
            }
            if firstFailure == nil { firstFailure = failure }
            if abortedBy == nil { abortedBy = failure }
            failures += 1
            lastFailure = failure
            throw failure.error
        }
    }

    /// The answer of a statement queued earlier (the context, a prefetch), waiting for it and
    /// for everything queued before it if it has not arrived.
    private func answer(of future: EventLoopFuture<PostgresQueryResult>) throws -> PostgresQueryResult {
        if let abortedBy { throw abortedBy.error }
        // Waits for it and for what was queued before it, not for the kept writes: sending them
        // would send the savepoints that wait with them (`savepoint`), for an answer that
        // cannot depend on them.
        if let n = pending.firstIndex(where: { $0 === future }) {
            let before = Array(pending[...n])
            pending.removeFirst(n + 1)
            try waitRecordingFailure(answersAll: pending.isEmpty && batch.isEmpty) {
                EventLoopFuture.andAllSucceed(before, on: before[0].eventLoop)
            }
        }
        return try future.wait()
    }

    /// Rolls back whatever is open; a connection that cannot even do that is closed, so that
    /// the pool never hands out a connection inside a transaction.
    func rollback() {
        batch = []
        let before = pending
        pending = []
        do {
            _ = try ConnectionWatch.shared.wait(for: connection) {
                let answer = connection.query("ROLLBACK", logger: logger)
                guard let first = before.first else { return answer }
                // Waits for the queued statements whatever their outcome: the ROLLBACK's counts.
                return EventLoopFuture.whenAllComplete(before, on: first.eventLoop).flatMap { _ in answer }
            }
        } catch {
            _ = try? ConnectionWatch.shared.wait(for: connection) { connection.close() }
        }
    }

    private func rows<R>(_ query: PostgresQuery, _ transform: (Row) throws -> R) throws -> [R] {
        try rows(of: run(query), transform)
    }

    private func rows<R>(of result: PostgresQueryResult, _ transform: (Row) throws -> R) throws -> [R] {
        try Self.decode(result.rows.map { Row($0.makeRandomAccess()) }, transform)
    }

    static func decode<R>(_ rows: [Row], _ transform: (Row) throws -> R) throws -> [R] {
        do {
            return try rows.map(transform)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "a row read from PostgreSQL does not have the expected shape: \(error)")
        }
    }

    private func row<R>(_ query: PostgresQuery, _ transform: (Row) throws -> R) throws -> R? {
        try rows(query, transform).first
    }

    private func scalar<V: PostgresDecodable>(_ query: PostgresQuery, _ type: V.Type) throws -> V? {
        try row(query) { r in try r.first(V.self) }
    }

    // MARK: reads

    func authority() throws -> AuthorityRecord? {
        try row("SELECT * FROM authority LIMIT 1") { r in
            AuthorityRecord(code: try r("code"), name: try r("name"), nameEn: try r("nameEn"), phone: try r("phone"),
                            maxDays: try r("maxDays"), createdAt: Millis.date(try r("createdAt") as Int64))
        }
    }

    func keys(role: KeyRecord.Role?) throws -> [KeyRecord] {
        let transform = { (r: Row) throws -> KeyRecord in
            guard let role = KeyRecord.Role(rawValue: try r("role")) else { throw StoreError(.io, "a key row has an unknown role") }
            return KeyRecord(kid: try r("kid"), role: role, alg: try r("alg"), spki: try r("spki"),
                             notBefore: Millis.date(try r("notBefore") as Int64), notAfter: Millis.date(try r("notAfter") as Int64?))
        }
        // A writer's reads, as its writes, come after its lock.
        takeLockIfNeeded()
        if role == .issuer, !issuerKeysWritten, let context = try heldContext() {
            return context.issuerKeys
        }
        if let role {
            return try rows("SELECT * FROM key WHERE role = \(role.rawValue) ORDER BY notBefore, kid", transform)
        }
        return try rows("SELECT * FROM key ORDER BY notBefore, kid", transform)
    }

    private func partyKey(_ r: Row) throws -> PartyKeyRecord { try Self.decodePartyKey(r) }

    static func decodePartyKey(_ r: Row) throws -> PartyKeyRecord {
        guard let kind = PartyKeyRecord.Kind(rawValue: try r("kind")) else { throw StoreError(.io, "a partyKey row has an unknown kind") }
        var k = PartyKeyRecord(kind: kind, party: try r("party"), name: try r("name"), kid: try r("kid"), alg: try r("alg"),
                               spki: try r("spki"), addedAt: Millis.date(try r("addedAt") as Int64))
        k.id = try r("id")
        k.removedAt = Millis.date(try r("removedAt") as Int64?)
        k.removedReason = try r("removedReason")
        return k
    }

    func partyKeys(kind: PartyKeyRecord.Kind, includeRemoved: Bool) throws -> [PartyKeyRecord] {
        try rows("SELECT * FROM partyKey WHERE kind = \(kind.rawValue) AND (\(includeRemoved) OR removedAt IS NULL) ORDER BY party, id",
                 partyKey)
    }

    func activePartyKey(kind: PartyKeyRecord.Kind, kid: String) throws -> PartyKeyRecord? {
        try row("SELECT * FROM partyKey WHERE kind = \(kind.rawValue) AND kid = \(kid) AND removedAt IS NULL", partyKey)
    }

    /// One statement for what `StoreReader.requestSigners` reads in three: every request's
    /// signer is looked up by it.
    func requestSigners(kid: String) throws -> (admin: KeyRecord?, parties: [PartyKeyRecord]) {
        try Self.requestSigners(kid: kid, rows: rows(HotReads.requestSigners(kid: kid).query, { $0 }))
    }

    static func requestSigners(kid: String, rows: [Row]) throws -> (admin: KeyRecord?, parties: [PartyKeyRecord]) {
        var admin: KeyRecord?
        var parties: [PartyKeyRecord] = []
        for r in rows {
            if admin == nil, let alg: String = try r("adminAlg") {
                admin = KeyRecord(kid: kid, role: .admin, alg: alg, spki: try r("adminSpki"), notBefore: Millis.date(try r("adminNotBefore") as Int64),
                                  notAfter: nil)
            }
            if (try r("id") as Int64?) != nil { parties.append(try decodePartyKey(r)) }
        }
        return (admin, parties)
    }

    func partyKey(id: Int64) throws -> PartyKeyRecord? {
        try row("SELECT * FROM partyKey WHERE id = \(id)", partyKey)
    }

    private func application(_ r: Row) throws -> ApplicationRecord { try Self.decodeApplication(r) }

    static func decodeApplication(_ r: Row) throws -> ApplicationRecord {
        var a = ApplicationRecord(reference: try r("reference"), creditCode: try r("creditCode"), plate: try r("plate"),
                                  document: try r("document"), digest: try r("digest"), submission: try r("submission"),
                                  applicantKid: try r("applicantKid"), routing: try r("routing"), routingHash: try r("routingHash"),
                                  submittedAt: Millis.date(try r("submittedAt") as Int64))
        a.id = try r("id")
        guard let state = ApplicationState(rawValue: try r("state")) else { throw StoreError(.io, "an application row has an unknown state") }
        a.state = state
        a.closedAt = Millis.date(try r("closedAt") as Int64?)
        a.closeReason = try r("closeReason")
        a.permitNumber = try r("permitNumber")
        a.amends = try r("amends")
        return a
    }

    func application(id: Int64) throws -> ApplicationRecord? {
        if let ahead = readAhead[id] { return ahead.application }
        // A writer that reads an application by id goes on, in every rule that does, to its
        // required departments and decisions: they are queued with it, one wait for the three.
        takeLockIfNeeded()
        if holdsLock, abortedBy == nil {
            try sendBatch()
            statements += 3
            let record = connection.query("SELECT * FROM application WHERE id = \(id)", logger: logger)
            let required = connection.query("SELECT * FROM requiredDepartment WHERE applicationID = \(id) ORDER BY department", logger: logger)
            let decisions = connection.query("SELECT * FROM decision WHERE applicationID = \(id) ORDER BY id", logger: logger)
            pending += [record, required, decisions]
            // One wait for the three (`answer` waits for what was queued before).
            _ = try answer(of: decisions)
            guard let found = try rows(of: answer(of: record), application).first else { return nil }
            readAhead[id] = (found, try rows(of: answer(of: required), self.required), try rows(of: answer(of: decisions), decision))
            return found
        }
        return try row("SELECT * FROM application WHERE id = \(id)", application)
    }

    func application(creditCode: String, reference: String) throws -> ApplicationRecord? {
        let key = ReferenceKey(creditCode: creditCode, reference: reference)
        if referencesKnown.contains(key) {
            // One wait for all of them.
            if let last = referenceAnswers.last { _ = try answer(of: last) }
            for answer in referenceAnswers {
                for (kind, a) in try rows(of: self.answer(of: answer), { (try $0("kind") as String, try application($0)) }) where kind == "f" {
                    referencesFound[ReferenceKey(creditCode: a.creditCode, reference: a.reference)] = a
                }
            }
            referenceAnswers = []
            return referencesFound[key]
        }
        return try row("SELECT * FROM application WHERE creditCode = \(creditCode) AND reference = \(reference)", application)
    }

    func application(permitNumber: String) throws -> ApplicationRecord? {
        return try row("""
            SELECT application.* FROM application JOIN permit ON permit.applicationID = application.id WHERE permit.number = \(permitNumber)
            """, application)
    }

    func amendments(permitNumber: String) throws -> [ApplicationRecord] {
        try rows("SELECT * FROM application WHERE amends = \(permitNumber) ORDER BY id", application)
    }

    func applications(_ filter: ApplicationFilter) throws -> [ApplicationRecord] {
        if filter.states == [.issued], let plate = filter.plate, let issued = issuedByPlate[plate], filter.creditCode == nil,
           filter.department == nil, filter.afterID == nil, filter.submittedSince == nil, filter.permitState == nil, filter.limit == nil {
            return issued
        }
        var q = QueryBuilder("SELECT * FROM application")
        var clauses: [String] = []
        if let states = filter.states, !states.isEmpty {
            // With a plate, filtered among its rows rather than through the state's index (see `issuedOnly`).
            let state = "state = ANY(\(q.bind(states.map(\.rawValue))))"
            clauses.append(filter.plate == nil ? state : "(\(state)) IS TRUE")
        }
        if let c = filter.creditCode { clauses.append("creditCode = \(q.bind(c))") }
        if let p = filter.plate { clauses.append("plate = \(q.bind(p))") }
        if let d = filter.department {
            clauses.append("EXISTS (SELECT 1 FROM requiredDepartment rd WHERE rd.applicationID = application.id AND rd.department = \(q.bind(d)))")
        }
        if let after = filter.afterID { clauses.append("id > \(q.bind(after))") }
        if let since = filter.submittedSince { clauses.append("submittedAt >= \(q.bind(Millis.from(since)))") }
        if let (state, today) = filter.permitState {
            let live = "p.supersededBy IS NULL AND NOT EXISTS (SELECT 1 FROM revocation r WHERE r.number = p.number)"
            let condition: String
            switch state {
            case .superseded: condition = "p.supersededBy IS NOT NULL"
            case .revoked: condition = "p.supersededBy IS NULL AND EXISTS (SELECT 1 FROM revocation r WHERE r.number = p.number)"
            case .expired: condition = live + " AND p.validTo < \(q.bind(today))"
            default: condition = live + " AND p.validTo >= \(q.bind(today))"
            }
            clauses.append("EXISTS (SELECT 1 FROM permit p WHERE p.applicationID = application.id AND \(condition))")
        }
        if !clauses.isEmpty { q.sql += " WHERE " + clauses.joined(separator: " AND ") }
        q.sql += " ORDER BY id"
        if let limit = filter.limit { q.sql += " LIMIT \(q.bind(limit))" }
        return try rows(q.query, application)
    }

    private func required(_ r: Row) throws -> RequiredDepartmentRecord {
        guard let state = RequiredDepartmentRecord.State(rawValue: try r("state")) else {
            throw StoreError(.io, "a requiredDepartment row has an unknown state")
        }
        return RequiredDepartmentRecord(applicationID: try r("applicationID"), department: try r("department"), state: state,
                                        dueAt: Millis.date(try r("dueAt") as Int64), decidedAt: Millis.date(try r("decidedAt") as Int64?))
    }

    func requiredDepartments(applicationID: Int64) throws -> [RequiredDepartmentRecord] {
        if let ahead = readAhead[applicationID] { return ahead.required }
        return try rows("SELECT * FROM requiredDepartment WHERE applicationID = \(applicationID) ORDER BY department", required)
    }

    func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) throws -> [(ApplicationRecord, RequiredDepartmentRecord)] {
        try rows(HotReads.queue(department: department, dueBefore: dueBefore, afterID: afterID, limit: limit).query, Self.queueEntry)
    }

    static func queueEntry(_ r: Row) throws -> (ApplicationRecord, RequiredDepartmentRecord) {
        (try decodeApplication(r), RequiredDepartmentRecord(applicationID: try r("rApplicationID"), department: try r("rDepartment"),
                                                            state: .pending, dueAt: Millis.date(try r("rDueAt") as Int64)))
    }

    private func decision(_ r: Row) throws -> DecisionRecord {
        // A decision value that is not ours (a tampered row) reads as a rejection with the raw
        // value kept, so that an audit can name it instead of crashing.
        let raw: String = try r("decision")
        let conditions: String = try r("conditions")
        var d = DecisionRecord(applicationID: try r("applicationID"), department: try r("department"),
                               decision: DecisionRecord.Decision(rawValue: raw) ?? .reject,
                               conditions: conditions == "[]" ? [] : (try? JSONDecoder().decode([String].self, from: Data(conditions.utf8))) ?? [],
                               reason: try r("reason"), decidedAt: Millis.date(try r("decidedAt") as Int64),
                               approverID: try r("approverID"), approverKid: try r("approverKid"), signature: try r("signature"))
        d.id = try r("id")
        d.carriedFrom = try r("carriedFrom")
        if DecisionRecord.Decision(rawValue: raw) == nil { d.storedDecision = raw }
        return d
    }

    func decision(id: Int64) throws -> DecisionRecord? {
        try row("SELECT * FROM decision WHERE id = \(id)", decision)
    }

    func decisions(applicationID: Int64) throws -> [DecisionRecord] {
        if let ahead = readAhead[applicationID] { return ahead.decisions }
        return try rows("SELECT * FROM decision WHERE applicationID = \(applicationID) ORDER BY id", decision)
    }

    private func permit(_ r: Row) throws -> PermitRecord {
        var p = PermitRecord(number: try r("number"), applicationID: try r("applicationID"), authority: try r("authority"),
                             serial: try r("serial"), issuedAt: Millis.date(try r("issuedAt") as Int64), validFrom: try r("validFrom"),
                             validTo: try r("validTo"), payload: try r("payload"), document: try r("document"), issuerKid: try r("issuerKid"),
                             signatureHash: try r("signatureHash"), decisionToIssueMicros: try r("decisionToIssueMicros"))
        p.supersedes = try r("supersedes")
        p.supersededBy = try r("supersededBy")
        return p
    }

    func permit(number: String) throws -> PermitRecord? {
        try row("SELECT * FROM permit WHERE number = \(number)", permit)
    }

    func permit(applicationID: Int64) throws -> PermitRecord? {
        try row("SELECT * FROM permit WHERE applicationID = \(applicationID)", permit)
    }

    /// The rows of `table` (one of ours, never a value) that belong to the applications
    /// submitted at or after `since`, in `order` (its columns): the applications through
    /// `application_submittedAt`, then one probe of the table's index on `applicationID` for each.
    /// The LATERAL subquery is kept apart by `OFFSET 0`: merged into a join, PostgreSQL scans a
    /// table of a few thousand rows whole and hashes it, and the report since a day would grow
    /// with the store after all (seen in the growth bench at 1,000 permits an authority).
    private static func rows(of table: String, submittedSince since: Date, order: String) -> QueryBuilder {
        var q = QueryBuilder("")
        let start = q.bind(Millis.from(since))
        q.sql = """
            SELECT t.* FROM application a CROSS JOIN LATERAL (SELECT * FROM \(table) WHERE applicationID = a.id OFFSET 0) t
            WHERE a.submittedAt >= \(start) ORDER BY \(order)
            """
        return q
    }

    func permits(limit: Int?, submittedSince: Date?) throws -> [PermitRecord] {
        if let submittedSince {
            var q = Self.rows(of: "permit", submittedSince: submittedSince, order: "t.authority, t.serial")
            if let limit { q.sql += " LIMIT \(q.bind(limit))" }
            return try rows(q.query, permit)
        }
        if let limit { return try rows("SELECT * FROM permit ORDER BY authority, serial LIMIT \(limit)", permit) }
        return try rows("SELECT * FROM permit ORDER BY authority, serial", permit)
    }

    private func audit(_ r: Row) throws -> AuditEvent {
        AuditEvent(seq: try r("seq"), at: Millis.date(try r("at") as Int64), actor: try r("actor"), action: try r("action"),
                   subject: try r("subject"), content: try r("content"), prevHash: try r("prevHash"), hash: try r("hash"))
    }

    func auditEvents(subject: String?) throws -> [AuditEvent] {
        if let subject { return try rows("SELECT * FROM audit WHERE subject = \(subject) ORDER BY seq", audit) }
        return try rows("SELECT * FROM audit ORDER BY seq", audit)
    }

    func auditEvents(subject: String?, afterSeq: Int64, limit: Int) throws -> [AuditEvent] {
        if let subject {
            return try rows("SELECT * FROM audit WHERE subject = \(subject) AND seq > \(afterSeq) ORDER BY seq LIMIT \(limit)", audit)
        }
        return try rows("SELECT * FROM audit WHERE seq > \(afterSeq) ORDER BY seq LIMIT \(limit)", audit)
    }

    func lastAuditEvent() throws -> AuditEvent? {
        if let lastAudit, holdsLock { return lastAudit }
        if let context = try readContext() {
            lastAudit = .some(context.lastAudit)
            return context.lastAudit
        }
        let last = try row("SELECT * FROM audit ORDER BY seq DESC LIMIT 1", audit)
        if holdsLock { lastAudit = .some(last) }
        return last
    }

    func allDecisions(submittedSince: Date?) throws -> [DecisionRecord] {
        if let submittedSince {
            return try rows(Self.rows(of: "decision", submittedSince: submittedSince, order: "t.id").query, decision)
        }
        return try rows("SELECT * FROM decision ORDER BY id", decision)
    }

    func allRequiredDepartments(submittedSince: Date?) throws -> [RequiredDepartmentRecord] {
        if let submittedSince {
            return try rows(Self.rows(of: "requiredDepartment", submittedSince: submittedSince, order: "t.applicationID, t.department").query,
                            required)
        }
        return try rows("SELECT * FROM requiredDepartment ORDER BY applicationID, department", required)
    }

    private func revocation(_ r: Row) throws -> RevocationRecord {
        var v = RevocationRecord(number: try r("number"), revokedAt: Millis.date(try r("revokedAt") as Int64), reason: try r("reason"),
                                 actor: try r("actor"))
        v.signatureHash = try r("signatureHash")
        v.supersededBy = try r("supersededBy")
        return v
    }

    func revocation(number: String) throws -> RevocationRecord? {
        try row("""
            SELECT revocation.*, permit.signatureHash, permit.supersededBy FROM revocation JOIN permit ON permit.number = revocation.number
            WHERE revocation.number = \(number)
            """, revocation)
    }

    func liveCounts() throws -> (permits: Int, pending: [String: Int]) {
        let permits = try scalar("SELECT count(*) FROM permit", Int64.self) ?? 0
        var pending: [String: Int] = [:]
        for (department, n) in try rows("""
            SELECT requiredDepartment.department, count(*) FROM requiredDepartment JOIN application ON application.id = requiredDepartment.applicationID
            WHERE requiredDepartment.state = 'pending' AND application.state = 'pending'
            GROUP BY requiredDepartment.department
            """, { r in (try r.first(String.self), try r("count") as Int64) }) {
            pending[department] = Int(n)
        }
        return (Int(permits), pending)
    }

    func revocations() throws -> [RevocationRecord] {
        // One probe of the permit's key per revocation: as a plain join, PostgreSQL planned a
        // hash join over every permit whenever its statistics lagged behind the table (4.4 ms
        // at 10,000 permits for 20 revocations, against 0.17 ms).
        try rows("""
            SELECT revocation.*, p.signatureHash, p.supersededBy FROM revocation,
              LATERAL (SELECT signatureHash, supersededBy FROM permit WHERE permit.number = revocation.number OFFSET 0) AS p
            ORDER BY revocation.revokedAt, revocation.number
            """, revocation)
    }

    func blacklist(includeRemoved: Bool) throws -> [BlacklistRecord] {
        try rows(HotReads.blacklist(includeRemoved: includeRemoved).query, Self.blacklistEntry)
    }

    static func blacklistEntry(_ r: Row) throws -> BlacklistRecord {
        guard let kind = BlacklistRecord.Kind(rawValue: try r("kind")) else { throw StoreError(.io, "a blacklist row has an unknown kind") }
        var b = BlacklistRecord(kind: kind, value: try r("value"), reason: try r("reason"), until: try r("until"),
                                addedAt: Millis.date(try r("addedAt") as Int64), actor: try r("actor"))
        b.id = try r("id")
        b.removedAt = Millis.date(try r("removedAt") as Int64?)
        b.removedReason = try r("removedReason")
        return b
    }

    func auditCheckpoints() throws -> [AuditCheckpointRecord] {
        try rows("SELECT * FROM auditCheckpoint ORDER BY length, id") { r in
            var c = AuditCheckpointRecord(length: try r("length"), headHash: try r("headHash"), at: Millis.date(try r("at") as Int64),
                                          signerKid: try r("signerKid"), signature: try r("signature"))
            c.id = try r("id")
            return c
        }
    }

    private func signedRequest(_ r: Row) throws -> SignedRequestRecord {
        var s = SignedRequestRecord(action: try r("action"), signerKid: try r("signerKid"), nonce: try r("nonce"),
                                    signedAt: Millis.date(try r("signedAt") as Int64), receivedAt: Millis.date(try r("receivedAt") as Int64),
                                    cose: try r("cose"))
        s.id = try r("id")
        return s
    }

    func signedRequests() throws -> [SignedRequestRecord] {
        try rows("SELECT * FROM signedRequest ORDER BY id", signedRequest)
    }

    func signedRequest(nonce: String) throws -> SignedRequestRecord? {
        try row("SELECT * FROM signedRequest WHERE nonce = \(nonce)", signedRequest)
    }

    // MARK: writes

    /// A savepoint waits to be sent until its body sends something (`unsentSavepoints`): a body
    /// that only writes (an application and its rows, a revocation) then costs no statement of
    /// its own, nor do the savepoints opened inside it (a combined writer's, then each of its
    /// decisions'), whose writes then go on together with the next writers'. If it throws, its
    /// writes are still kept here and are dropped; if it returns, they go with what follows, and a failure among them, reported outside the savepoint,
    /// runs the whole transaction again with every savepoint sent and waited for
    /// (`TransactionFailure.needsSavepoints`), where it is undone alone, as in SQLite. A
    /// savepoint that was sent is not waited for at its end either, on the same terms: a group of
    /// decisions, each in its savepoint, then waits only where its rules read.
    func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepoints += 1
        let name = "s\(savepoints)"
        let (audit, moved, issued, read) = (lastAudit, counters, issuedByPlate, readAhead)
        let start = batch.count
        if lazySavepoints, abortedBy == nil {
            unsentSavepoints.append((name, start))
        } else {
            try enqueue(PostgresQuery(unsafeSQL: "SAVEPOINT \(name)"))
        }
        /// Whether this savepoint is still waiting to be sent: then the body's writes are all kept
        /// here. (The savepoints its body opened have ended, so it is the innermost.)
        func unsent() -> Bool { unsentSavepoints.last?.name == name }
        do {
            let result = try body()
            if unsent() {
                unsentSavepoints.removeLast()
                if batch.count > start { unsavedWrites = true }
                return result
            }
            if lazySavepoints {
                // Not waited for either: the body's writes go on with what follows, and a failure
                // among them, reported outside the savepoint, runs the transaction again as below.
                try enqueue(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
                unsavedWrites = true
                return result
            }
            // The body's queued writes are waited for here: a failure among them is the body's,
            // undone alone.
            try flush()
            try enqueue(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
            return result
        } catch {
            // Undoes only what the body wrote, and makes an aborted transaction usable again.
            // What the body read after its own writes is forgotten with them.
            (lastAudit, counters, issuedByPlate, readAhead) = (audit, moved, issued, read)
            if unsent() {
                unsentSavepoints.removeLast()
                batch.removeSubrange(start...)
                throw error
            }
            // Writes not yet sent are the body's own (SAVEPOINT sent those before it).
            batch = []
            _ = try? send(PostgresQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(name)"))
            if (try? send(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))) != nil { abortedBy = nil }
            throw error
        }
    }

    func setAuthority(_ a: AuthorityRecord) throws {
        try execute("""
            INSERT INTO authority (code, name, nameEn, phone, maxDays, createdAt)
            VALUES (\(a.code), \(a.name), \(a.nameEn), \(a.phone), \(a.maxDays), \(Millis.from(a.createdAt)))
            ON CONFLICT (code) DO UPDATE SET name = excluded.name, nameEn = excluded.nameEn, phone = excluded.phone,
              maxDays = excluded.maxDays, createdAt = excluded.createdAt
            """)
        try execute("INSERT INTO serial (authority, last) VALUES (\(a.code), 0) ON CONFLICT (authority) DO NOTHING")
    }

    func insertKey(_ k: KeyRecord) throws {
        issuerKeysWritten = true
        try execute("""
            INSERT INTO key (kid, role, alg, spki, notBefore, notAfter)
            VALUES (\(k.kid), \(k.role.rawValue), \(k.alg), \(k.spki), \(Millis.from(k.notBefore)), \(k.notAfter.map(Millis.from)))
            """)
    }

    func retireKey(kid: String, role: KeyRecord.Role, at: Date) throws {
        issuerKeysWritten = true
        try execute("UPDATE key SET notAfter = \(Millis.from(at)) WHERE kid = \(kid) AND role = \(role.rawValue) AND notAfter IS NULL")
    }

    /// The id of a row inserted by `query`, which ends in `RETURNING id`.
    private func insertReturningID(_ query: PostgresQuery) throws -> Int64 {
        takeLockIfNeeded()
        guard let id = try scalar(query, Int64.self) else { throw StoreError(.io, "an insert returned no id") }
        return id
    }

    func insertPartyKey(_ k: PartyKeyRecord) throws -> PartyKeyRecord {
        var r = k
        r.id = try insertReturningID("""
            INSERT INTO partyKey (id, kind, party, name, kid, alg, spki, addedAt)
            SELECT COALESCE(MAX(id), 0) + 1, \(k.kind.rawValue), \(k.party), \(k.name), \(k.kid), \(k.alg), \(k.spki), \(Millis.from(k.addedAt))
            FROM partyKey RETURNING id
            """)
        return r
    }

    func removePartyKey(id: Int64, at: Date, reason: String) throws {
        try execute("UPDATE partyKey SET removedAt = \(Millis.from(at)), removedReason = \(reason) WHERE id = \(id) AND removedAt IS NULL")
    }

    func insertApplication(_ a: ApplicationRecord) throws -> ApplicationRecord {
        var r = a
        // Looked up again from the database from now on (`readAhead`).
        referencesKnown.remove(ReferenceKey(creditCode: a.creditCode, reference: a.reference))
        defer { track(r) }
        if let context = try readContext() {
            let id = (counters.applicationID ?? context.applicationID) + 1
            try write(DeferredWrite("""
                INSERT INTO application (id, reference, creditCode, plate, state, document, digest, submission, applicantKid, routing,
                                         routingHash, submittedAt, closedAt, closeReason, permitNumber, amends)
                VALUES (\(id), \(a.reference), \(a.creditCode), \(a.plate), \(a.state.rawValue), \(a.document), \(a.digest),
                        \(a.submission), \(a.applicantKid), \(a.routing), \(a.routingHash), \(Millis.from(a.submittedAt)),
                        \(a.closedAt.map(Millis.from)), \(a.closeReason), \(a.permitNumber), \(a.amends))
                """).row("\(id)"))
            counters.applicationID = id
            r.id = id
            return r
        }
        r.id = try insertReturningID("""
            INSERT INTO application (id, reference, creditCode, plate, state, document, digest, submission, applicantKid, routing,
                                     routingHash, submittedAt, closedAt, closeReason, permitNumber, amends)
            SELECT COALESCE(MAX(id), 0) + 1, \(a.reference), \(a.creditCode), \(a.plate), \(a.state.rawValue), \(a.document), \(a.digest),
                   \(a.submission), \(a.applicantKid), \(a.routing), \(a.routingHash), \(Millis.from(a.submittedAt)),
                   \(a.closedAt.map(Millis.from)), \(a.closeReason), \(a.permitNumber), \(a.amends)
            FROM application RETURNING id
            """)
        return r
    }

    func updateApplication(_ a: ApplicationRecord) throws {
        if let id = a.id {
            follow(id) {
                $0.application.state = a.state
                $0.application.closedAt = a.closedAt.map(Self.stored)
                $0.application.closeReason = a.closeReason
                $0.application.permitNumber = a.permitNumber
            }
        }
        let key = ReferenceKey(creditCode: a.creditCode, reference: a.reference)
        if referencesKnown.remove(key) != nil { referencesFound[key] = nil }
        track(a)
        try write(DeferredWrite("""
            UPDATE application SET state = \(a.state.rawValue), closedAt = \(a.closedAt.map(Millis.from)), closeReason = \(a.closeReason),
              permitNumber = \(a.permitNumber) WHERE id = \(a.id)
            """).row(a.id.map { "\($0)" }))
    }

    func insertRequiredDepartment(_ r: RequiredDepartmentRecord) throws {
        follow(r.applicationID) {
            var stored = r
            stored.dueAt = Self.stored(r.dueAt)
            stored.decidedAt = r.decidedAt.map(Self.stored)
            $0.required.append(stored)
            $0.required.sort { $0.department < $1.department }
        }
        try write(DeferredWrite("""
            INSERT INTO requiredDepartment (applicationID, department, state, dueAt, decidedAt)
            VALUES (\(r.applicationID), \(r.department), \(r.state.rawValue), \(Millis.from(r.dueAt)), \(r.decidedAt.map(Millis.from)))
            """).row("\(r.applicationID) \(r.department)"))
    }

    func updateRequiredDepartment(_ r: RequiredDepartmentRecord) throws {
        follow(r.applicationID) {
            for n in $0.required.indices where $0.required[n].department == r.department {
                $0.required[n].state = r.state
                $0.required[n].decidedAt = r.decidedAt.map(Self.stored)
            }
        }
        try write(DeferredWrite("""
            UPDATE requiredDepartment SET state = \(r.state.rawValue), decidedAt = \(r.decidedAt.map(Millis.from))
            WHERE applicationID = \(r.applicationID) AND department = \(r.department)
            """).row("\(r.applicationID) \(r.department)"))
    }

    func insertDecision(_ d: DecisionRecord) throws -> DecisionRecord {
        // Kept up to date below with the row as written, id included; the other path reads it again.
        let ahead = readAhead.removeValue(forKey: d.applicationID)
        let conditions = d.conditions.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(d.conditions), as: UTF8.self)
        var r = d
        if let context = try readContext() {
            let id = (counters.decisionID ?? context.decisionID) + 1
            try write("""
                INSERT INTO decision (id, applicationID, department, decision, conditions, reason, decidedAt, approverID, approverKid, signature,
                                      carriedFrom)
                VALUES (\(id), \(d.applicationID), \(d.department), \(d.decision.rawValue), \(conditions), \(d.reason),
                        \(Millis.from(d.decidedAt)), \(d.approverID), \(d.approverKid), \(d.signature), \(d.carriedFrom))
                """)
            counters.decisionID = id
            r.id = id
            if var ahead {
                var stored = r
                stored.decidedAt = Self.stored(r.decidedAt)
                stored.storedDecision = nil
                ahead.decisions.append(stored)
                readAhead[d.applicationID] = ahead
            }
            return r
        }
        r.id = try insertReturningID("""
            INSERT INTO decision (id, applicationID, department, decision, conditions, reason, decidedAt, approverID, approverKid, signature,
                                  carriedFrom)
            SELECT COALESCE(MAX(id), 0) + 1, \(d.applicationID), \(d.department), \(d.decision.rawValue), \(conditions), \(d.reason),
                   \(Millis.from(d.decidedAt)), \(d.approverID), \(d.approverKid), \(d.signature), \(d.carriedFrom)
            FROM decision RETURNING id
            """)
        return r
    }

    func insertPermit(_ p: PermitRecord) throws {
        try write(DeferredWrite("""
            INSERT INTO permit (number, applicationID, authority, serial, issuedAt, validFrom, validTo, payload, document,
                                issuerKid, signatureHash, decisionToIssueMicros)
            VALUES (\(p.number), \(p.applicationID), \(p.authority), \(p.serial), \(Millis.from(p.issuedAt)), \(p.validFrom), \(p.validTo),
                    \(p.payload), \(p.document), \(p.issuerKid), \(p.signatureHash), \(p.decisionToIssueMicros))
            """).row(p.number))
    }

    func nextSerial(authority: String) throws -> Int {
        if let context = try readContext(), context.authority == authority, let last = counters.serial ?? context.serial {
            let next = last + 1
            guard next <= 999_999 else {
                throw StoreError(.serialsExhausted, "authority \(authority) has issued serial 999999, the last a 12-digit number allows; nothing was issued")
            }
            // The counter's row is written once, at COMMIT, with the last serial taken (`commit`):
            // as one UPDATE of one row it could not go in one statement with another.
            counters.serial = next
            serialAuthority = authority
            return next
        }
        // One statement that reads and writes the counter under its row lock: gap-free even
        // without the transaction's advisory lock. A serial past 999999 is refused below, and the
        // refusal rolls the increment back with everything else.
        guard let next = try scalar("""
            INSERT INTO serial (authority, last) VALUES (\(authority), 1)
            ON CONFLICT (authority) DO UPDATE SET last = serial.last + 1 RETURNING last
            """, Int.self) else { throw StoreError(.io, "the serial counter returned nothing") }
        if holdsLock, contextUsable { counters.serial = next }
        guard next <= 999_999 else {
            throw StoreError(.serialsExhausted, "authority \(authority) has issued serial 999999, the last a 12-digit number allows; nothing was issued")
        }
        return next
    }

    func admitNonce(_ nonce: String, kid: String, expires: Date, now: Date) throws -> Bool {
        // Without the authority's lock (see the type's comment); a lock already held stays held.
        let bypassing = bypassLock
        bypassLock = true
        defer { bypassLock = bypassing }
        try execute("DELETE FROM requestNonce WHERE expiresAt < \(Millis.from(now))")
        let inserted = try run("""
            INSERT INTO requestNonce (nonce, kid, expiresAt) VALUES (\(nonce), \(kid), \(Millis.from(expires))) ON CONFLICT (nonce) DO NOTHING
            """)
        return inserted.metadata.rows == 1
    }

    func insertRevocation(_ r: RevocationRecord) throws {
        try write("""
            INSERT INTO revocation (number, revokedAt, reason, actor) VALUES (\(r.number), \(Millis.from(r.revokedAt)), \(r.reason), \(r.actor))
            """)
    }

    func linkSupersession(old: String, new: String) throws {
        try write(DeferredWrite("UPDATE permit SET supersededBy = \(new) WHERE number = \(old)").row(old))
        try write(DeferredWrite("UPDATE permit SET supersedes = \(old) WHERE number = \(new)").row(new))
    }

    func insertBlacklist(_ b: BlacklistRecord) throws -> BlacklistRecord {
        var r = b
        r.id = try insertReturningID("""
            INSERT INTO blacklist (id, kind, value, reason, until, addedAt, actor)
            SELECT COALESCE(MAX(id), 0) + 1, \(b.kind.rawValue), \(b.value), \(b.reason), \(b.until), \(Millis.from(b.addedAt)), \(b.actor)
            FROM blacklist RETURNING id
            """)
        return r
    }

    func removeBlacklist(id: Int64, at: Date, reason: String) throws {
        try execute("UPDATE blacklist SET removedAt = \(Millis.from(at)), removedReason = \(reason) WHERE id = \(id) AND removedAt IS NULL")
    }

    func nextSequence(name: String, atLeast: Int) throws -> Int {
        takeLockIfNeeded()
        guard let next = try scalar("""
            INSERT INTO listSequence (name, last) VALUES (\(name), GREATEST(1, \(atLeast)))
            ON CONFLICT (name) DO UPDATE SET last = GREATEST(listSequence.last + 1, \(atLeast)) RETURNING last
            """, Int.self) else { throw StoreError(.io, "the sequence \(name) returned nothing") }
        return next
    }

    func insertAuditCheckpoint(_ c: AuditCheckpointRecord) throws -> AuditCheckpointRecord {
        var r = c
        r.id = try insertReturningID("""
            INSERT INTO auditCheckpoint (id, length, headHash, at, signerKid, signature)
            SELECT COALESCE(MAX(id), 0) + 1, \(c.length), \(c.headHash), \(Millis.from(c.at)), \(c.signerKid), \(c.signature)
            FROM auditCheckpoint RETURNING id
            """)
        return r
    }

    func insertSignedRequest(_ s: SignedRequestRecord) throws -> SignedRequestRecord {
        var r = s
        r.id = try insertReturningID("""
            INSERT INTO signedRequest (id, action, signerKid, nonce, signedAt, receivedAt, cose)
            SELECT COALESCE(MAX(id), 0) + 1, \(s.action), \(s.signerKid), \(s.nonce), \(Millis.from(s.signedAt)), \(Millis.from(s.receivedAt)),
                   \(s.cose)
            FROM signedRequest RETURNING id
            """)
        return r
    }

    func insertAuditEvent(_ e: AuditEvent) throws {
        lastAudit = nil
        try write("""
            INSERT INTO audit (seq, at, actor, action, subject, content, prevHash, hash)
            VALUES (\(e.seq), \(Millis.from(e.at)), \(e.actor), \(e.action), \(e.subject), \(e.content), \(e.prevHash), \(e.hash))
            """)
        if holdsLock { lastAudit = .some(e) }
    }
}

/// A row read by column name. PostgreSQL folds unquoted names to lower case, so the schema's
/// camelCase names are looked up folded.
struct Row {
    let row: PostgresRandomAccessRow
    /// Put before every column's name: the columns of one table among others in a wide row (`WriterStart`).
    private var prefix = ""
    init(_ row: PostgresRandomAccessRow) { self.row = row }

    /// The same row, its columns read under `prefix`.
    func prefixed(_ prefix: String) -> Row {
        var r = self
        r.prefix = prefix
        return r
    }

    func callAsFunction<V: PostgresDecodable>(_ column: String) throws -> V {
        let name = prefix + column.lowercased()
        guard row.contains(name) else { throw StoreError(.io, "a row read from PostgreSQL has no column \(name)") }
        return try row[name].decode(V.self)
    }

    func first<V: PostgresDecodable>(_ type: V.Type) throws -> V {
        guard row.count > 0 else { throw StoreError(.io, "a row read from PostgreSQL has no column") }
        return try row[0].decode(V.self)
    }
}

/// A statement whose shape depends on the filter: the SQL holds only `$n` placeholders, and the
/// values go into the bindings.
struct QueryBuilder {
    var sql: String
    private var binds = PostgresBindings()

    init(_ sql: String) { self.sql = sql }

    /// Binds `value` and returns its placeholder.
    mutating func bind<V: PostgresDynamicTypeEncodable>(_ value: V) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
    var bindings: PostgresBindings { binds }
}

/// Waits for a connection's answers on a transaction thread, and stops waiting when the
/// connection closes. postgres-nio hands a statement to a channel that has already closed (the
/// server ended the session, or restarted) without ever answering it, so a plain `wait()` could
/// wait for ever; the close is the answer then. Each connection's close is watched once, not
/// once per statement, so a long-lived pooled connection gathers no callbacks.
final class ConnectionWatch: @unchecked Sendable {
    static let shared = ConnectionWatch()

    private final class Entry {
        var closed = false
        var waiter: DispatchSemaphore?
        /// The async waiter's (`answer(on:_:)`), told once when the connection closes.
        var onClose: (() -> Void)?
    }

    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    private func entry(for connection: PostgresConnection) -> Entry {
        let id = ObjectIdentifier(connection)
        let (entry, isNew): (Entry, Bool) = lock.withLock {
            if let e = entries[id] { return (e, false) }
            let e = Entry()
            entries[id] = e
            return (e, true)
        }
        if isNew {
            connection.closeFuture.whenComplete { [self] _ in
                let (waiter, onClose): (DispatchSemaphore?, (() -> Void)?) = lock.withLock {
                    entry.closed = true
                    entries[id] = nil
                    return (entry.waiter, entry.onClose)
                }
                waiter?.signal()
                onClose?()
            }
        }
        return entry
    }

    /// Starts `operation` and waits for its result, or for the connection to close.
    func wait<T>(for connection: PostgresConnection, _ operation: () -> EventLoopFuture<T>) throws -> T {
        let entry = entry(for: connection)
        let done = DispatchSemaphore(value: 0)
        let closedAlready: Bool = lock.withLock {
            entry.waiter = done
            return entry.closed
        }
        defer { lock.withLock { entry.waiter = nil } }
        if closedAlready || connection.isClosed { throw ConnectionClosed() }
        let result = Unchecked(Box<Result<T, any Error>>())
        operation().whenComplete { outcome in
            result.value.set(outcome)
            done.signal()
        }
        done.wait()
        guard let outcome = result.value.get() else { throw ConnectionClosed() }
        return try outcome.get()
    }

    /// The same for a caller in a task (a prepared statement, run without a transaction thread):
    /// `operation`'s outcome, or `ConnectionClosed` once the connection has closed first. A
    /// connection is used by one caller at a time (its lease), so it has one waiter at a time.
    func answer<T: Sendable>(on connection: PostgresConnection, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let entry = entry(for: connection)
        defer { lock.withLock { entry.onClose = nil } }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let once = ResumeOnce(continuation)
            let closedAlready: Bool = lock.withLock {
                entry.onClose = { once.resume(with: .failure(ConnectionClosed())) }
                return entry.closed
            }
            if closedAlready || connection.isClosed {
                once.resume(with: .failure(ConnectionClosed()))
                return
            }
            // Left waiting on a closed connection, this task ends only with the process: postgres-nio
            // never answers a statement handed to a closed channel.
            Task {
                do {
                    once.resume(with: .success(try await operation()))
                } catch {
                    once.resume(with: .failure(error))
                }
            }
        }
    }

    private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<T, any Error>?
        init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = continuation }
        func resume(with result: Result<T, any Error>) {
            let c: CheckedContinuation<T, any Error>? = lock.withLock {
                defer { continuation = nil }
                return continuation
            }
            c?.resume(with: result)
        }
    }

    private final class Box<V>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: V?
        func set(_ v: V) { lock.withLock { if value == nil { value = v } } }
        func get() -> V? { lock.withLock { value } }
    }
}

/// A time set on the event loop and read on the transaction thread: the advisory lock's grant,
/// a read-ahead's answer (for the lock trace).
final class GrantTime: @unchecked Sendable {
    private let lock = NSLock()
    private var time: UInt64 = 0
    func set(_ t: UInt64) { lock.withLock { time = t } }
    var value: UInt64 { lock.withLock { time } }
}

/// The connection closed before it answered.
struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the connection to the database closed" }
}

/// What a writer needs of its authority's counters, read behind the advisory lock in the same
/// statement that takes it (`WriterStart.function`), so that it costs no round trip of its own: the
/// authority and its last serial, the largest application and decision ids (new rows take the
/// next, as SQLite's AUTOINCREMENT would), the issuer keys (a permit is sealed with the current
/// one: a rotation, which takes the same lock, is either wholly before or wholly after), and
/// the last audit event (the next one links to it). Under the lock no other writer can move
/// any of them, so the transaction keeps them itself from there (`Counters`) and writes its
/// rows with their ids and serials bound, without waiting for a `RETURNING`.
struct Context {
    var authority: String?
    var serial: Int?
    var applicationID: Int64
    var decisionID: Int64
    var issuerKeys: [KeyRecord]
    var lastAudit: AuditEvent?
}

/// The counters as a writer has moved them since it read its `Context` (nil: not moved).
struct Counters {
    var serial: Int?
    var applicationID: Int64?
    var decisionID: Int64?
}
