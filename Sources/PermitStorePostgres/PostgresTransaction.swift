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
/// **Fewer waits.** Statements whose answer the body does not need and that cannot fail for a
/// reason of the data (`BEGIN`, the advisory lock, `SAVEPOINT`, `RELEASE SAVEPOINT`) are queued
/// on the connection without waiting (`enqueue`); the next statement that is waited for waits
/// for them too, and reports the first of their failures as its own (postgres-nio runs one
/// connection's statements in order). The thread then sleeps and wakes once where it used to
/// for each. A writer's advisory lock is queued just before its first statement (`lockFirst`),
/// except the statements of `admitNonce`, which need no lock: the nonce's primary key decides
/// between two requests that carry the same nonce, as SQLite's single writer would. Within a
/// transaction that holds the lock, the last audit event is remembered once this transaction
/// has read or appended it: no other writer can append meanwhile.
final class PostgresTransaction: StoreTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// The first failure of the database in this transaction.
    private(set) var firstFailure: TransactionFailure?
    /// The failure that aborted the transaction, until a savepoint is rolled back to.
    private(set) var abortedBy: TransactionFailure?
    private var savepoints = 0
    /// Statements sent so far, and the waits for their answers, for the bench's lock trace.
    private(set) var statements = 0
    private(set) var waits = 0
    private(set) var waitNanos: UInt64 = 0
    /// Statements queued and not yet waited for.
    private var pending: [EventLoopFuture<PostgresQueryResult>] = []
    /// The advisory lock, to be queued before the writer's first statement that needs it.
    private var lockFirst: PostgresQuery?
    private var bypassLock = false
    /// When the lock was queued, and when the server granted it (0 until then).
    private(set) var lockQueued: UInt64 = 0
    private let lockGranted = GrantTime()
    /// The last audit event as this transaction left it (only while it holds the lock).
    private var lastAudit: AuditEvent??

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// A writer: `lock` is queued before its first statement other than `admitNonce`'s.
    func lockBeforeFirstStatement(_ lock: PostgresQuery) {
        lockFirst = lock
    }

    var lockedAt: UInt64 { lockGranted.value }
    var holdsLock: Bool { lockQueued != 0 }

    // MARK: statements

    /// Runs one statement and waits for all its rows (and for the statements queued before it).
    @discardableResult
    func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
        if let abortedBy { throw abortedBy.error }
        takeLockIfNeeded()
        return try send(query)
    }

    func execute(_ query: PostgresQuery) throws {
        try run(query)
    }

    /// Queues a statement without waiting for its answer (see the type's comment): only for
    /// statements that fail only when the connection or the transaction already has.
    func enqueue(_ query: PostgresQuery) throws {
        if let abortedBy { throw abortedBy.error }
        takeLockIfNeeded()
        statements += 1
        pending.append(connection.query(query, logger: logger))
    }

    /// COMMIT, without taking a lock that the body never needed.
    func commit() throws -> PostgresQueryResult {
        if let abortedBy { throw abortedBy.error }
        return try send("COMMIT")
    }

    private func takeLockIfNeeded() {
        guard !bypassLock, let lock = lockFirst else { return }
        lockFirst = nil
        statements += 1
        lockQueued = LockTrace.now()
        let future = connection.query(lock, logger: logger)
        let granted = lockGranted
        future.whenSuccess { _ in granted.set(LockTrace.now()) }
        pending.append(future)
    }

    /// Sends a statement even in an aborted transaction (`ROLLBACK TO SAVEPOINT` must), and
    /// waits for it and for whatever was queued before it.
    private func send(_ query: PostgresQuery) throws -> PostgresQueryResult {
        statements += 1
        let before = pending
        pending = []
        let t0 = LockTrace.now()
        defer {
            waits += 1
            waitNanos += LockTrace.now() - t0
        }
        do {
            return try ConnectionWatch.shared.wait(for: connection) {
                let answer = connection.query(query, logger: logger)
                guard let first = before.first else { return answer }
                // The queued statements' first failure, else this statement's outcome.
                return EventLoopFuture.andAllSucceed(before, on: first.eventLoop).flatMap { answer }
            }
        } catch {
            let failure = TransactionFailure(error)
            if firstFailure == nil { firstFailure = failure }
            if abortedBy == nil { abortedBy = failure }
            throw failure.error
        }
    }

    /// Rolls back whatever is open; a connection that cannot even do that is closed, so that
    /// the pool never hands out a connection inside a transaction.
    func rollback() {
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
        let result = try run(query)
        do {
            return try result.rows.map { try transform(Row($0.makeRandomAccess())) }
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
        if let role {
            return try rows("SELECT * FROM key WHERE role = \(role.rawValue) ORDER BY notBefore", transform)
        }
        return try rows("SELECT * FROM key ORDER BY notBefore", transform)
    }

    private func partyKey(_ r: Row) throws -> PartyKeyRecord {
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

    func partyKey(id: Int64) throws -> PartyKeyRecord? {
        try row("SELECT * FROM partyKey WHERE id = \(id)", partyKey)
    }

    private func application(_ r: Row) throws -> ApplicationRecord {
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
        try row("SELECT * FROM application WHERE id = \(id)", application)
    }

    func application(creditCode: String, reference: String) throws -> ApplicationRecord? {
        try row("SELECT * FROM application WHERE creditCode = \(creditCode) AND reference = \(reference)", application)
    }

    func application(permitNumber: String) throws -> ApplicationRecord? {
        try row("""
            SELECT application.* FROM application JOIN permit ON permit.applicationID = application.id WHERE permit.number = \(permitNumber)
            """, application)
    }

    func amendments(permitNumber: String) throws -> [ApplicationRecord] {
        try rows("SELECT * FROM application WHERE amends = \(permitNumber) ORDER BY id", application)
    }

    func applications(_ filter: ApplicationFilter) throws -> [ApplicationRecord] {
        var q = QueryBuilder("SELECT * FROM application")
        var clauses: [String] = []
        if let states = filter.states, !states.isEmpty { clauses.append("state = ANY(\(q.bind(states.map(\.rawValue))))") }
        if let c = filter.creditCode { clauses.append("creditCode = \(q.bind(c))") }
        if let p = filter.plate { clauses.append("plate = \(q.bind(p))") }
        if let d = filter.department {
            clauses.append("EXISTS (SELECT 1 FROM requiredDepartment rd WHERE rd.applicationID = application.id AND rd.department = \(q.bind(d)))")
        }
        if let after = filter.afterID { clauses.append("id > \(q.bind(after))") }
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
        try rows("SELECT * FROM requiredDepartment WHERE applicationID = \(applicationID) ORDER BY department", required)
    }

    func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) throws -> [(ApplicationRecord, RequiredDepartmentRecord)] {
        var q = QueryBuilder("""
            SELECT application.*, requiredDepartment.applicationID AS rApplicationID, requiredDepartment.department AS rDepartment,
                   requiredDepartment.dueAt AS rDueAt
            FROM requiredDepartment JOIN application ON application.id = requiredDepartment.applicationID
            WHERE requiredDepartment.department = 
            """)
        q.sql += q.bind(department) + " AND requiredDepartment.state = 'pending' AND application.state = 'pending'"
        if let dueBefore { q.sql += " AND requiredDepartment.dueAt < \(q.bind(Millis.from(dueBefore)))" }
        if let afterID { q.sql += " AND application.id > \(q.bind(afterID))" }
        q.sql += " ORDER BY application.id"
        if let limit { q.sql += " LIMIT \(q.bind(limit))" }
        return try rows(q.query) { r in
            (try application(r), RequiredDepartmentRecord(applicationID: try r("rApplicationID"), department: try r("rDepartment"),
                                                          state: .pending, dueAt: Millis.date(try r("rDueAt") as Int64)))
        }
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
        try rows("SELECT * FROM decision WHERE applicationID = \(applicationID) ORDER BY id", decision)
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

    func permits(limit: Int?) throws -> [PermitRecord] {
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
        let last = try row("SELECT * FROM audit ORDER BY seq DESC LIMIT 1", audit)
        if holdsLock { lastAudit = .some(last) }
        return last
    }

    func allDecisions() throws -> [DecisionRecord] {
        try rows("SELECT * FROM decision ORDER BY id", decision)
    }

    func allRequiredDepartments() throws -> [RequiredDepartmentRecord] {
        try rows("SELECT * FROM requiredDepartment ORDER BY applicationID, department", required)
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

    func revocations() throws -> [RevocationRecord] {
        try rows("""
            SELECT revocation.*, permit.signatureHash, permit.supersededBy FROM revocation JOIN permit ON permit.number = revocation.number
            ORDER BY revocation.revokedAt, revocation.number
            """, revocation)
    }

    func blacklist(includeRemoved: Bool) throws -> [BlacklistRecord] {
        try rows("SELECT * FROM blacklist WHERE \(includeRemoved) OR removedAt IS NULL ORDER BY id") { r in
            guard let kind = BlacklistRecord.Kind(rawValue: try r("kind")) else { throw StoreError(.io, "a blacklist row has an unknown kind") }
            var b = BlacklistRecord(kind: kind, value: try r("value"), reason: try r("reason"), until: try r("until"),
                                    addedAt: Millis.date(try r("addedAt") as Int64), actor: try r("actor"))
            b.id = try r("id")
            b.removedAt = Millis.date(try r("removedAt") as Int64?)
            b.removedReason = try r("removedReason")
            return b
        }
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

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepoints += 1
        let name = "s\(savepoints)"
        try enqueue(PostgresQuery(unsafeSQL: "SAVEPOINT \(name)"))
        let audit = lastAudit
        do {
            let result = try body()
            try enqueue(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
            return result
        } catch {
            // Undoes only what the body wrote, and makes an aborted transaction usable again.
            lastAudit = audit
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
        try execute("""
            INSERT INTO key (kid, role, alg, spki, notBefore, notAfter)
            VALUES (\(k.kid), \(k.role.rawValue), \(k.alg), \(k.spki), \(Millis.from(k.notBefore)), \(k.notAfter.map(Millis.from)))
            """)
    }

    func retireKey(kid: String, role: KeyRecord.Role, at: Date) throws {
        try execute("UPDATE key SET notAfter = \(Millis.from(at)) WHERE kid = \(kid) AND role = \(role.rawValue) AND notAfter IS NULL")
    }

    /// The id of a row inserted by `query`, which ends in `RETURNING id`.
    private func insertReturningID(_ query: PostgresQuery) throws -> Int64 {
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
        try execute("""
            UPDATE application SET state = \(a.state.rawValue), closedAt = \(a.closedAt.map(Millis.from)), closeReason = \(a.closeReason),
              permitNumber = \(a.permitNumber) WHERE id = \(a.id)
            """)
    }

    func insertRequiredDepartment(_ r: RequiredDepartmentRecord) throws {
        try execute("""
            INSERT INTO requiredDepartment (applicationID, department, state, dueAt, decidedAt)
            VALUES (\(r.applicationID), \(r.department), \(r.state.rawValue), \(Millis.from(r.dueAt)), \(r.decidedAt.map(Millis.from)))
            """)
    }

    func updateRequiredDepartment(_ r: RequiredDepartmentRecord) throws {
        try execute("""
            UPDATE requiredDepartment SET state = \(r.state.rawValue), decidedAt = \(r.decidedAt.map(Millis.from))
            WHERE applicationID = \(r.applicationID) AND department = \(r.department)
            """)
    }

    func insertDecision(_ d: DecisionRecord) throws -> DecisionRecord {
        let conditions = d.conditions.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(d.conditions), as: UTF8.self)
        var r = d
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
        try execute("""
            INSERT INTO permit (number, applicationID, authority, serial, issuedAt, validFrom, validTo, payload, document,
                                issuerKid, signatureHash, decisionToIssueMicros)
            VALUES (\(p.number), \(p.applicationID), \(p.authority), \(p.serial), \(Millis.from(p.issuedAt)), \(p.validFrom), \(p.validTo),
                    \(p.payload), \(p.document), \(p.issuerKid), \(p.signatureHash), \(p.decisionToIssueMicros))
            """)
    }

    func nextSerial(authority: String) throws -> Int {
        // One statement that reads and writes the counter under its row lock: gap-free even
        // without the transaction's advisory lock. A serial past 999999 is refused below, and the
        // refusal rolls the increment back with everything else.
        guard let next = try scalar("""
            INSERT INTO serial (authority, last) VALUES (\(authority), 1)
            ON CONFLICT (authority) DO UPDATE SET last = serial.last + 1 RETURNING last
            """, Int.self) else { throw StoreError(.io, "the serial counter returned nothing") }
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
        try execute("""
            INSERT INTO revocation (number, revokedAt, reason, actor) VALUES (\(r.number), \(Millis.from(r.revokedAt)), \(r.reason), \(r.actor))
            """)
    }

    func linkSupersession(old: String, new: String) throws {
        try execute("UPDATE permit SET supersededBy = \(new) WHERE number = \(old)")
        try execute("UPDATE permit SET supersedes = \(old) WHERE number = \(new)")
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
        try execute("""
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
    init(_ row: PostgresRandomAccessRow) { self.row = row }

    func callAsFunction<V: PostgresDecodable>(_ column: String) throws -> V {
        let name = column.lowercased()
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
                let waiter: DispatchSemaphore? = lock.withLock {
                    entry.closed = true
                    entries[id] = nil
                    return entry.waiter
                }
                waiter?.signal()
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

    private final class Box<V>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: V?
        func set(_ v: V) { lock.withLock { if value == nil { value = v } } }
        func get() -> V? { lock.withLock { value } }
    }
}

/// When the advisory lock was granted, set on the event loop and read on the transaction thread.
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
