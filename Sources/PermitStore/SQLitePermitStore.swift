import Foundation
import PermitAPI
import GRDB
import PermitFoundation
import PermitModel

/// The embedded default store: SQLite through GRDB, a `DatabasePool` in WAL mode, foreign keys
/// on, named append-only migrations.
public final class SQLitePermitStore: PermitStore, StoreBackup, @unchecked Sendable {
    public let path: String
    let pool: DatabasePool
    /// Copies the WAL back into the database in the background, so that commits on the
    /// issuance path rarely wait for a checkpoint's copying.
    private let checkpointer: BackgroundCheckpointer

    /// `PRAGMA synchronous` on every connection (WAL, from `DatabasePool`): a commit writes the
    /// WAL without an fsync; a crash of the process loses nothing, a power cut may lose the last
    /// commits but never corrupts. The server bench prints it beside PostgreSQL's settings.
    public static let synchronous = "NORMAL"

    /// Opens (and migrates) the database at `path`. `maxPageCount` caps its size in pages, as a
    /// full disk would: tests and drills use it to see what a full disk does.
    public init(path: String, maxPageCount: Int? = nil) throws {
        self.path = path
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL with synchronous=NORMAL: a commit does not fsync. The background checkpointer
            // copies most of the WAL into the database off the commit path; the writer's own
            // automatic checkpoint then finds little left to copy, and lets the WAL restart
            // (a checkpoint running beside a busy writer alone never catches up with it).
            // One automatic checkpoint per ~16 MiB of WAL, so that its fsync touches well under
            // 1% of commits.
            try db.execute(sql: "PRAGMA synchronous = \(SQLitePermitStore.synchronous)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 4000")
            if let maxPageCount { _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(maxPageCount)") }
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        var checkpointConfig = Configuration()
        checkpointConfig.busyMode = .timeout(10)
        checkpointer = BackgroundCheckpointer(connection: try DatabaseQueue(path: path, configuration: checkpointConfig))
    }

    deinit {
        // Waits for a checkpoint under way. Its block holds the checkpointer, never the store, so
        // this never runs on the checkpoint's queue (a sync onto the queue it runs on traps).
        checkpointer.queue.sync {}
    }

    public func write<T>(_ body: (any StoreTransaction) throws -> T) async throws -> T {
        let failure = FirstFailure()
        do {
            return try writeNow(body, failure: failure)
        } catch let error as DatabaseError {
            throw failure.explaining(error)
        }
    }

    public func read<T>(_ body: (any StoreReader) throws -> T) async throws -> T {
        try StoreError.mapping { try pool.read { db in try body(SQLiteTransaction(db: db, failure: FirstFailure())) } }
    }

    private func writeNow<T>(_ body: (any StoreTransaction) throws -> T, failure: FirstFailure) throws -> T {
        let result = try pool.write { db in try body(SQLiteTransaction(db: db, failure: failure)) }
        checkpointer.committed()
        return result
    }

    /// A consistent copy of the live database (SQLite's online backup).
    public func backup(to path: String) throws {
        let target = try DatabaseQueue(path: path)
        try pool.backup(to: target)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: authority, keys, applications, decisions, permits, audit") { db in
            try db.execute(sql: """
            CREATE TABLE authority (
              code TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, nameEn TEXT NOT NULL, phone TEXT NOT NULL,
              maxDays INTEGER NOT NULL, createdAt INTEGER NOT NULL);
            CREATE TABLE key (
              kid TEXT NOT NULL, role TEXT NOT NULL, alg TEXT NOT NULL, spki BLOB NOT NULL,
              notBefore INTEGER NOT NULL, notAfter INTEGER, PRIMARY KEY (kid, role));
            CREATE TABLE partyKey (
              id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, party TEXT NOT NULL, name TEXT NOT NULL,
              kid TEXT NOT NULL, alg TEXT NOT NULL, spki BLOB NOT NULL, addedAt INTEGER NOT NULL,
              removedAt INTEGER, removedReason TEXT);
            CREATE UNIQUE INDEX partyKey_active_kid ON partyKey(kind, kid) WHERE removedAt IS NULL;
            CREATE TABLE application (
              id INTEGER PRIMARY KEY AUTOINCREMENT, reference TEXT NOT NULL, creditCode TEXT NOT NULL,
              plate TEXT NOT NULL, state TEXT NOT NULL, document BLOB NOT NULL, digest TEXT NOT NULL,
              submission BLOB NOT NULL, applicantKid TEXT NOT NULL, routing BLOB NOT NULL, routingHash TEXT NOT NULL,
              submittedAt INTEGER NOT NULL, closedAt INTEGER, closeReason TEXT, permitNumber TEXT,
              UNIQUE (creditCode, reference));
            CREATE INDEX application_state ON application(state);
            CREATE INDEX application_plate ON application(plate);
            CREATE TABLE requiredDepartment (
              applicationID INTEGER NOT NULL REFERENCES application(id), department TEXT NOT NULL,
              state TEXT NOT NULL, dueAt INTEGER NOT NULL, decidedAt INTEGER,
              PRIMARY KEY (applicationID, department));
            CREATE INDEX requiredDepartment_queue ON requiredDepartment(department, state, applicationID);
            CREATE TABLE decision (
              id INTEGER PRIMARY KEY AUTOINCREMENT, applicationID INTEGER NOT NULL REFERENCES application(id),
              department TEXT NOT NULL, decision TEXT NOT NULL, conditions TEXT NOT NULL, reason TEXT,
              decidedAt INTEGER NOT NULL, approverID INTEGER NOT NULL REFERENCES partyKey(id),
              approverKid TEXT NOT NULL, signature BLOB NOT NULL);
            CREATE INDEX decision_application ON decision(applicationID);
            CREATE TABLE permit (
              number TEXT PRIMARY KEY NOT NULL, applicationID INTEGER NOT NULL UNIQUE REFERENCES application(id),
              authority TEXT NOT NULL, serial INTEGER NOT NULL, issuedAt INTEGER NOT NULL,
              validFrom TEXT NOT NULL, validTo TEXT NOT NULL, payload TEXT NOT NULL, document BLOB NOT NULL,
              issuerKid TEXT NOT NULL, signatureHash TEXT NOT NULL, decisionToIssueMicros INTEGER NOT NULL,
              UNIQUE (authority, serial));
            CREATE TABLE serial (authority TEXT PRIMARY KEY NOT NULL, last INTEGER NOT NULL);
            CREATE TABLE audit (
              seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
              subject TEXT NOT NULL, content BLOB NOT NULL, prevHash TEXT NOT NULL, hash TEXT NOT NULL);
            CREATE INDEX audit_subject ON audit(subject);
            -- The audit trail is append-only.
            CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
            CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
            """)
        }
        m.registerMigration("v2: revocations, supersession links, blacklist, list sequences, audit checkpoints") { db in
            try db.execute(sql: """
            CREATE TABLE revocation (
              number TEXT PRIMARY KEY NOT NULL REFERENCES permit(number), revokedAt INTEGER NOT NULL,
              reason TEXT NOT NULL, actor TEXT NOT NULL);
            ALTER TABLE permit ADD COLUMN supersedes TEXT REFERENCES permit(number);
            ALTER TABLE permit ADD COLUMN supersededBy TEXT REFERENCES permit(number);
            CREATE TABLE blacklist (
              id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL,
              until TEXT, addedAt INTEGER NOT NULL, actor TEXT NOT NULL, removedAt INTEGER, removedReason TEXT);
            CREATE UNIQUE INDEX blacklist_active ON blacklist(kind, value) WHERE removedAt IS NULL;
            CREATE TABLE listSequence (name TEXT PRIMARY KEY NOT NULL, last INTEGER NOT NULL);
            CREATE TABLE auditCheckpoint (
              id INTEGER PRIMARY KEY AUTOINCREMENT, length INTEGER NOT NULL, headHash TEXT NOT NULL, at INTEGER NOT NULL,
              signerKid TEXT NOT NULL, signature BLOB NOT NULL);
            """)
        }
        m.registerMigration("v3: amendments (application.amends) and carried-over decisions (decision.carriedFrom)") { db in
            try db.execute(sql: """
            ALTER TABLE application ADD COLUMN amends TEXT REFERENCES permit(number);
            CREATE INDEX application_amends ON application(amends) WHERE amends IS NOT NULL;
            ALTER TABLE decision ADD COLUMN carriedFrom INTEGER REFERENCES decision(id);
            """)
        }
        m.registerMigration("v4: signed requests (administrative actions and cancellations, kept as evidence)") { db in
            try db.execute(sql: """
            CREATE TABLE signedRequest (
              id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, signerKid TEXT NOT NULL,
              nonce TEXT NOT NULL UNIQUE, signedAt INTEGER NOT NULL, receivedAt INTEGER NOT NULL, cose BLOB NOT NULL);
            CREATE TRIGGER signedRequest_no_update BEFORE UPDATE ON signedRequest BEGIN SELECT RAISE(ABORT, 'signed requests are kept as sent'); END;
            """)
        }
        m.registerMigration("v5: HTTP request-signature nonces, kept until their signature expires") { db in
            try db.execute(sql: """
            CREATE TABLE requestNonce (nonce TEXT PRIMARY KEY, kid TEXT NOT NULL, expiresAt INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX requestNonce_expiry ON requestNonce(expiresAt);
            """)
        }
        m.registerMigration("v6: an index on application(submittedAt), for the report since a day") { db in
            try db.execute(sql: "CREATE INDEX application_submittedAt ON application(submittedAt)")
        }
        return m
    }
}

extension SignedRequestRecord {
    init(row: Row) {
        self.init(action: row["action"], signerKid: row["signerKid"], nonce: row["nonce"], signedAt: Millis.date(row["signedAt"] as Int64),
                  receivedAt: Millis.date(row["receivedAt"] as Int64), cose: row["cose"])
        id = row["id"]
    }
}

/// Times are stored as integer milliseconds since 1970, so that the audit hash covers exact
/// values; every backend stores them so.
public enum Millis {
    public static func from(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    public static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
    public static func date(_ ms: Int64?) -> Date? { ms.map(date) }
}

/// The first failure a transaction met. SQLite rolls the whole transaction back after some
/// failures (a full disk among them), and every statement after that, the commit included,
/// reports only that the transaction was aborted: the first failure says why.
final class FirstFailure: @unchecked Sendable {
    private(set) var error: StoreError?

    func record(_ error: StoreError) {
        if self.error == nil { self.error = error }
    }

    func explaining(_ error: DatabaseError) -> StoreError {
        if error.resultCode == .SQLITE_ABORT, let first = self.error { return first }
        return StoreError(sqlite: error)
    }

    /// Runs `body`, mapping and remembering SQLite's failures.
    func mapping<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            let mapped = explaining(error)
            record(mapped)
            throw mapped
        }
    }
}

struct SQLiteTransaction: StoreTransaction {
    let db: Database
    let failure: FirstFailure

    // Statements are compiled once per connection and reused (GRDB's statement cache): the
    // issuance path runs the same dozen statements for every permit.
    private func exec(_ sql: String, arguments: StatementArguments = []) throws {
        try failure.mapping { try db.cachedStatement(sql: sql).execute(arguments: arguments) }
    }

    private func oneRow(_ sql: String, arguments: StatementArguments = []) throws -> Row? {
        try failure.mapping { try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) }
    }

    private func allRows(_ sql: String, arguments: StatementArguments = []) throws -> [Row] {
        try failure.mapping { try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments) }
    }

    private func oneInt(_ sql: String, arguments: StatementArguments = []) throws -> Int? {
        try failure.mapping { try Int.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) }
    }

    // MARK: reads

    func authority() throws -> AuthorityRecord? {
        try oneRow("SELECT * FROM authority LIMIT 1").map {
            AuthorityRecord(code: $0["code"], name: $0["name"], nameEn: $0["nameEn"], phone: $0["phone"],
                            maxDays: $0["maxDays"], createdAt: Millis.date($0["createdAt"] as Int64))
        }
    }

    func keys(role: KeyRecord.Role?) throws -> [KeyRecord] {
        let rows = role == nil
            ? try allRows("SELECT * FROM key ORDER BY notBefore")
            : try allRows("SELECT * FROM key WHERE role = ? ORDER BY notBefore", arguments: [role!.rawValue])
        return rows.map {
            KeyRecord(kid: $0["kid"], role: KeyRecord.Role(rawValue: $0["role"])!, alg: $0["alg"], spki: $0["spki"],
                      notBefore: Millis.date($0["notBefore"] as Int64), notAfter: Millis.date($0["notAfter"] as Int64?))
        }
    }

    private func partyKey(_ row: Row) -> PartyKeyRecord {
        var r = PartyKeyRecord(kind: PartyKeyRecord.Kind(rawValue: row["kind"])!, party: row["party"], name: row["name"],
                               kid: row["kid"], alg: row["alg"], spki: row["spki"], addedAt: Millis.date(row["addedAt"] as Int64))
        r.id = row["id"]
        r.removedAt = Millis.date(row["removedAt"] as Int64?)
        r.removedReason = row["removedReason"]
        return r
    }

    func partyKeys(kind: PartyKeyRecord.Kind, includeRemoved: Bool) throws -> [PartyKeyRecord] {
        try allRows("SELECT * FROM partyKey WHERE kind = ?" + (includeRemoved ? "" : " AND removedAt IS NULL") + " ORDER BY party, id",
                         arguments: [kind.rawValue]).map(partyKey)
    }

    func activePartyKey(kind: PartyKeyRecord.Kind, kid: String) throws -> PartyKeyRecord? {
        try oneRow("SELECT * FROM partyKey WHERE kind = ? AND kid = ? AND removedAt IS NULL",
                         arguments: [kind.rawValue, kid]).map(partyKey)
    }

    func partyKey(id: Int64) throws -> PartyKeyRecord? {
        try oneRow("SELECT * FROM partyKey WHERE id = ?", arguments: [id]).map(partyKey)
    }

    private func application(_ row: Row) -> ApplicationRecord {
        var a = ApplicationRecord(reference: row["reference"], creditCode: row["creditCode"], plate: row["plate"],
                                  document: row["document"], digest: row["digest"], submission: row["submission"],
                                  applicantKid: row["applicantKid"], routing: row["routing"], routingHash: row["routingHash"],
                                  submittedAt: Millis.date(row["submittedAt"] as Int64))
        a.id = row["id"]
        a.state = ApplicationState(rawValue: row["state"])!
        a.closedAt = Millis.date(row["closedAt"] as Int64?)
        a.closeReason = row["closeReason"]
        a.permitNumber = row["permitNumber"]
        a.amends = row["amends"]
        return a
    }

    func application(id: Int64) throws -> ApplicationRecord? {
        try oneRow("SELECT * FROM application WHERE id = ?", arguments: [id]).map(application)
    }

    func application(creditCode: String, reference: String) throws -> ApplicationRecord? {
        try oneRow("SELECT * FROM application WHERE creditCode = ? AND reference = ?",
                         arguments: [creditCode, reference]).map(application)
    }

    func application(permitNumber: String) throws -> ApplicationRecord? {
        try oneRow("SELECT application.* FROM application JOIN permit ON permit.applicationID = application.id WHERE permit.number = ?",
                         arguments: [permitNumber]).map(application)
    }

    func amendments(permitNumber: String) throws -> [ApplicationRecord] {
        try allRows("SELECT * FROM application WHERE amends = ? ORDER BY id", arguments: [permitNumber]).map(application)
    }

    func decision(id: Int64) throws -> DecisionRecord? {
        try oneRow("SELECT * FROM decision WHERE id = ?", arguments: [id]).map(decision)
    }

    func applications(_ filter: ApplicationFilter) throws -> [ApplicationRecord] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let states = filter.states, !states.isEmpty {
            clauses.append("state IN (" + states.map { _ in "?" }.joined(separator: ",") + ")")
            for s in states { _ = arguments.append(contentsOf: [s.rawValue]) }
        }
        if let c = filter.creditCode { clauses.append("creditCode = ?"); _ = arguments.append(contentsOf: [c]) }
        if let p = filter.plate { clauses.append("plate = ?"); _ = arguments.append(contentsOf: [p]) }
        if let d = filter.department {
            clauses.append("EXISTS (SELECT 1 FROM requiredDepartment rd WHERE rd.applicationID = application.id AND rd.department = ?)")
            _ = arguments.append(contentsOf: [d])
        }
        if let after = filter.afterID { clauses.append("id > ?"); _ = arguments.append(contentsOf: [after]) }
        if let since = filter.submittedSince {
            clauses.append("submittedAt >= ?")
            _ = arguments.append(contentsOf: [Millis.from(since)])
        }
        if let (state, today) = filter.permitState {
            let live = "p.supersededBy IS NULL AND NOT EXISTS (SELECT 1 FROM revocation r WHERE r.number = p.number)"
            let condition: String
            switch state {
            case .superseded: condition = "p.supersededBy IS NOT NULL"
            case .revoked: condition = "p.supersededBy IS NULL AND EXISTS (SELECT 1 FROM revocation r WHERE r.number = p.number)"
            case .expired: condition = live + " AND p.validTo < ?"
            default: condition = live + " AND p.validTo >= ?"
            }
            // Correlated, so that a first page reads only as many rows as it needs.
            clauses.append("EXISTS (SELECT 1 FROM permit p WHERE p.applicationID = application.id AND \(condition))")
            if state != .superseded && state != .revoked { _ = arguments.append(contentsOf: [today]) }
        }
        var sql = "SELECT * FROM application"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        // `+id` with `submittedSince`: SQLite's planner (no statistics) would otherwise walk the
        // whole table in id order to spare a sort, rather than take `application_submittedAt`
        // and sort only the recent rows.
        sql += filter.submittedSince == nil ? " ORDER BY id" : " ORDER BY +id"
        if let limit = filter.limit { sql += " LIMIT ?"; _ = arguments.append(contentsOf: [limit]) }
        return try allRows(sql, arguments: arguments).map(application)
    }

    private func required(_ row: Row) -> RequiredDepartmentRecord {
        RequiredDepartmentRecord(applicationID: row["applicationID"], department: row["department"],
                                 state: RequiredDepartmentRecord.State(rawValue: row["state"])!,
                                 dueAt: Millis.date(row["dueAt"] as Int64), decidedAt: Millis.date(row["decidedAt"] as Int64?))
    }

    func requiredDepartments(applicationID: Int64) throws -> [RequiredDepartmentRecord] {
        try allRows("SELECT * FROM requiredDepartment WHERE applicationID = ? ORDER BY department",
                         arguments: [applicationID]).map(required)
    }

    func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) throws -> [(ApplicationRecord, RequiredDepartmentRecord)] {
        var sql = """
        SELECT application.*, requiredDepartment.applicationID AS rApplicationID, requiredDepartment.department AS rDepartment,
               requiredDepartment.state AS rState, requiredDepartment.dueAt AS rDueAt
        FROM requiredDepartment JOIN application ON application.id = requiredDepartment.applicationID
        WHERE requiredDepartment.department = ? AND requiredDepartment.state = 'pending' AND application.state = 'pending'
        """
        var arguments: StatementArguments = [department]
        if let due = dueBefore {
            sql += " AND requiredDepartment.dueAt < ?"
            _ = arguments.append(contentsOf: [Millis.from(due)])
        }
        if let afterID {
            sql += " AND application.id > ?"
            _ = arguments.append(contentsOf: [afterID])
        }
        sql += " ORDER BY application.id"
        if let limit {
            sql += " LIMIT ?"
            _ = arguments.append(contentsOf: [limit])
        }
        return try allRows(sql, arguments: arguments).map { row in
            (application(row), RequiredDepartmentRecord(applicationID: row["rApplicationID"], department: row["rDepartment"],
                                                        state: .pending, dueAt: Millis.date(row["rDueAt"] as Int64)))
        }
    }

    func decisions(applicationID: Int64) throws -> [DecisionRecord] {
        try allRows("SELECT * FROM decision WHERE applicationID = ? ORDER BY id", arguments: [applicationID]).map(decision)
    }

    private func decision(_ row: Row) -> DecisionRecord {
        // A decision value that is not ours (a tampered row) reads as a rejection with the raw
        // value kept, so that an audit can name it instead of crashing.
        let raw: String = row["decision"]
        var d = DecisionRecord(applicationID: row["applicationID"], department: row["department"],
                               decision: DecisionRecord.Decision(rawValue: raw) ?? .reject,
                               conditions: Self.conditions(row["conditions"]),
                               reason: row["reason"], decidedAt: Millis.date(row["decidedAt"] as Int64),
                               approverID: row["approverID"], approverKid: row["approverKid"], signature: row["signature"])
        d.id = row["id"]
        d.carriedFrom = row["carriedFrom"]
        if DecisionRecord.Decision(rawValue: raw) == nil { d.storedDecision = raw }
        return d
    }

    static func conditions(_ json: String) -> [String] {
        json == "[]" ? [] : (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    private func permit(_ row: Row) -> PermitRecord {
        var p = PermitRecord(number: row["number"], applicationID: row["applicationID"], authority: row["authority"], serial: row["serial"],
                             issuedAt: Millis.date(row["issuedAt"] as Int64), validFrom: row["validFrom"], validTo: row["validTo"],
                             payload: row["payload"], document: row["document"], issuerKid: row["issuerKid"],
                             signatureHash: row["signatureHash"], decisionToIssueMicros: row["decisionToIssueMicros"])
        p.supersedes = row["supersedes"]
        p.supersededBy = row["supersededBy"]
        return p
    }

    func permit(number: String) throws -> PermitRecord? {
        try oneRow("SELECT * FROM permit WHERE number = ?", arguments: [number]).map(permit)
    }

    func permit(applicationID: Int64) throws -> PermitRecord? {
        try oneRow("SELECT * FROM permit WHERE applicationID = ?", arguments: [applicationID]).map(permit)
    }

    /// Rows of the applications submitted at or after the bound time (milliseconds), found
    /// through `application_submittedAt` and each table's index on `applicationID`.
    private static let ofApplicationsSince = "applicationID IN (SELECT id FROM application WHERE submittedAt >= ?)"

    func liveCounts() throws -> (permits: Int, pending: [String: Int]) {
        let permits = try Int.fetchOne(db, sql: "SELECT count(*) FROM permit") ?? 0
        var pending: [String: Int] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT requiredDepartment.department AS department, count(*) AS n
            FROM requiredDepartment JOIN application ON application.id = requiredDepartment.applicationID
            WHERE requiredDepartment.state = 'pending' AND application.state = 'pending'
            GROUP BY requiredDepartment.department
            """) {
            pending[row["department"]] = row["n"]
        }
        return (permits, pending)
    }

    func permits(limit: Int?, submittedSince: Date?) throws -> [PermitRecord] {
        if let submittedSince {
            var arguments: StatementArguments = [Millis.from(submittedSince)]
            var sql = "SELECT * FROM permit WHERE \(Self.ofApplicationsSince) ORDER BY authority, serial"
            if let limit { sql += " LIMIT ?"; _ = arguments.append(contentsOf: [limit]) }
            return try allRows(sql, arguments: arguments).map(permit)
        }
        if let limit { return try allRows("SELECT * FROM permit ORDER BY authority, serial LIMIT ?", arguments: [limit]).map(permit) }
        return try allRows("SELECT * FROM permit ORDER BY authority, serial").map(permit)
    }

    private func audit(_ row: Row) -> AuditEvent {
        AuditEvent(seq: row["seq"], at: Millis.date(row["at"] as Int64), actor: row["actor"], action: row["action"],
                   subject: row["subject"], content: row["content"], prevHash: row["prevHash"], hash: row["hash"])
    }

    func auditEvents(subject: String?) throws -> [AuditEvent] {
        if let subject {
            return try allRows("SELECT * FROM audit WHERE subject = ? ORDER BY seq", arguments: [subject]).map(audit)
        }
        return try allRows("SELECT * FROM audit ORDER BY seq").map(audit)
    }

    func auditEvents(subject: String?, afterSeq: Int64, limit: Int) throws -> [AuditEvent] {
        if let subject {
            return try allRows("SELECT * FROM audit WHERE subject = ? AND seq > ? ORDER BY seq LIMIT ?",
                               arguments: [subject, afterSeq, limit]).map(audit)
        }
        return try allRows("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [afterSeq, limit]).map(audit)
    }

    func lastAuditEvent() throws -> AuditEvent? {
        try oneRow("SELECT * FROM audit ORDER BY seq DESC LIMIT 1").map(audit)
    }

    func allDecisions(submittedSince: Date?) throws -> [DecisionRecord] {
        if let submittedSince {
            return try allRows("SELECT * FROM decision WHERE \(Self.ofApplicationsSince) ORDER BY id",
                               arguments: [Millis.from(submittedSince)]).map(decision)
        }
        return try allRows("SELECT * FROM decision ORDER BY id").map(decision)
    }

    func allRequiredDepartments(submittedSince: Date?) throws -> [RequiredDepartmentRecord] {
        if let submittedSince {
            return try allRows("SELECT * FROM requiredDepartment WHERE \(Self.ofApplicationsSince) ORDER BY applicationID, department",
                               arguments: [Millis.from(submittedSince)]).map(required)
        }
        return try allRows("SELECT * FROM requiredDepartment ORDER BY applicationID, department").map(required)
    }

    private func revocation(_ row: Row) -> RevocationRecord {
        var r = RevocationRecord(number: row["number"], revokedAt: Millis.date(row["revokedAt"] as Int64), reason: row["reason"], actor: row["actor"])
        r.signatureHash = row["signatureHash"]
        r.supersededBy = row["supersededBy"]
        return r
    }

    func revocation(number: String) throws -> RevocationRecord? {
        try oneRow("""
            SELECT revocation.*, permit.signatureHash, permit.supersededBy FROM revocation JOIN permit ON permit.number = revocation.number
            WHERE revocation.number = ?
            """, arguments: [number]).map(revocation)
    }

    func revocations() throws -> [RevocationRecord] {
        try allRows("""
            SELECT revocation.*, permit.signatureHash, permit.supersededBy FROM revocation JOIN permit ON permit.number = revocation.number
            ORDER BY revocation.revokedAt, revocation.number
            """).map(revocation)
    }

    func blacklist(includeRemoved: Bool) throws -> [BlacklistRecord] {
        try allRows("SELECT * FROM blacklist" + (includeRemoved ? "" : " WHERE removedAt IS NULL") + " ORDER BY id").map { row in
            var b = BlacklistRecord(kind: BlacklistRecord.Kind(rawValue: row["kind"])!, value: row["value"], reason: row["reason"],
                                    until: row["until"], addedAt: Millis.date(row["addedAt"] as Int64), actor: row["actor"])
            b.id = row["id"]
            b.removedAt = Millis.date(row["removedAt"] as Int64?)
            b.removedReason = row["removedReason"]
            return b
        }
    }

    func auditCheckpoints() throws -> [AuditCheckpointRecord] {
        try allRows("SELECT * FROM auditCheckpoint ORDER BY length, id").map { row in
            var c = AuditCheckpointRecord(length: row["length"], headHash: row["headHash"], at: Millis.date(row["at"] as Int64),
                                          signerKid: row["signerKid"], signature: row["signature"])
            c.id = row["id"]
            return c
        }
    }

    func signedRequests() throws -> [SignedRequestRecord] {
        try allRows("SELECT * FROM signedRequest ORDER BY id").map(SignedRequestRecord.init(row:))
    }

    func signedRequest(nonce: String) throws -> SignedRequestRecord? {
        try allRows("SELECT * FROM signedRequest WHERE nonce = ?", arguments: [nonce]).first.map(SignedRequestRecord.init(row:))
    }

    // MARK: writes

    func insertSignedRequest(_ r: SignedRequestRecord) throws -> SignedRequestRecord {
        try exec("INSERT INTO signedRequest (action, signerKid, nonce, signedAt, receivedAt, cose) VALUES (?, ?, ?, ?, ?, ?)",
                 arguments: [r.action, r.signerKid, r.nonce, Millis.from(r.signedAt), Millis.from(r.receivedAt), r.cose])
        var out = r
        out.id = db.lastInsertedRowID
        return out
    }

    func admitNonce(_ nonce: String, kid: String, expires: Date, now: Date) throws -> Bool {
        try exec("DELETE FROM requestNonce WHERE expiresAt < ?", arguments: [Millis.from(now)])
        try exec("INSERT OR IGNORE INTO requestNonce (nonce, kid, expiresAt) VALUES (?, ?, ?)",
                 arguments: [nonce, kid, Millis.from(expires)])
        return db.changesCount == 1
    }

    func insertRevocation(_ r: RevocationRecord) throws {
        try exec("INSERT INTO revocation (number, revokedAt, reason, actor) VALUES (?, ?, ?, ?)",
                 arguments: [r.number, Millis.from(r.revokedAt), r.reason, r.actor])
    }

    func linkSupersession(old: String, new: String) throws {
        try exec("UPDATE permit SET supersededBy = ? WHERE number = ?", arguments: [new, old])
        try exec("UPDATE permit SET supersedes = ? WHERE number = ?", arguments: [old, new])
    }

    func insertBlacklist(_ b: BlacklistRecord) throws -> BlacklistRecord {
        try exec("INSERT INTO blacklist (kind, value, reason, until, addedAt, actor) VALUES (?, ?, ?, ?, ?, ?)",
                 arguments: [b.kind.rawValue, b.value, b.reason, b.until, Millis.from(b.addedAt), b.actor])
        var r = b
        r.id = db.lastInsertedRowID
        return r
    }

    func removeBlacklist(id: Int64, at: Date, reason: String) throws {
        try exec("UPDATE blacklist SET removedAt = ?, removedReason = ? WHERE id = ? AND removedAt IS NULL",
                 arguments: [Millis.from(at), reason, id])
    }

    func nextSequence(name: String, atLeast: Int) throws -> Int {
        let last = try oneInt("SELECT last FROM listSequence WHERE name = ?", arguments: [name]) ?? 0
        let next = max(last + 1, atLeast)
        try exec("INSERT INTO listSequence (name, last) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET last = excluded.last",
                 arguments: [name, next])
        return next
    }

    func insertAuditCheckpoint(_ c: AuditCheckpointRecord) throws -> AuditCheckpointRecord {
        try exec("INSERT INTO auditCheckpoint (length, headHash, at, signerKid, signature) VALUES (?, ?, ?, ?, ?)",
                 arguments: [c.length, c.headHash, Millis.from(c.at), c.signerKid, c.signature])
        var r = c
        r.id = db.lastInsertedRowID
        return r
    }

    func setAuthority(_ a: AuthorityRecord) throws {
        try exec("INSERT OR REPLACE INTO authority (code, name, nameEn, phone, maxDays, createdAt) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [a.code, a.name, a.nameEn, a.phone, a.maxDays, Millis.from(a.createdAt)])
        try exec("INSERT OR IGNORE INTO serial (authority, last) VALUES (?, 0)", arguments: [a.code])
    }

    func insertKey(_ k: KeyRecord) throws {
        try exec("INSERT INTO key (kid, role, alg, spki, notBefore, notAfter) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [k.kid, k.role.rawValue, k.alg, k.spki, Millis.from(k.notBefore), k.notAfter.map(Millis.from)])
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try failure.mapping {
            try db.inSavepoint {
                result = try body()
                return .commit
            }
        }
        return result!
    }

    func retireKey(kid: String, role: KeyRecord.Role, at: Date) throws {
        try exec("UPDATE key SET notAfter = ? WHERE kid = ? AND role = ? AND notAfter IS NULL",
                 arguments: [Millis.from(at), kid, role.rawValue])
    }

    func insertPartyKey(_ k: PartyKeyRecord) throws -> PartyKeyRecord {
        try exec("INSERT INTO partyKey (kind, party, name, kid, alg, spki, addedAt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: [k.kind.rawValue, k.party, k.name, k.kid, k.alg, k.spki, Millis.from(k.addedAt)])
        var r = k
        r.id = db.lastInsertedRowID
        return r
    }

    func removePartyKey(id: Int64, at: Date, reason: String) throws {
        try exec("UPDATE partyKey SET removedAt = ?, removedReason = ? WHERE id = ? AND removedAt IS NULL",
                       arguments: [Millis.from(at), reason, id])
    }

    func insertApplication(_ a: ApplicationRecord) throws -> ApplicationRecord {
        try exec("""
            INSERT INTO application (reference, creditCode, plate, state, document, digest, submission, applicantKid, routing,
                                     routingHash, submittedAt, closedAt, closeReason, permitNumber, amends)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [a.reference, a.creditCode, a.plate, a.state.rawValue, a.document, a.digest, a.submission, a.applicantKid,
                             a.routing, a.routingHash, Millis.from(a.submittedAt), a.closedAt.map(Millis.from), a.closeReason, a.permitNumber,
                             a.amends])
        var r = a
        r.id = db.lastInsertedRowID
        return r
    }

    func updateApplication(_ a: ApplicationRecord) throws {
        try exec("UPDATE application SET state = ?, closedAt = ?, closeReason = ?, permitNumber = ? WHERE id = ?",
                       arguments: [a.state.rawValue, a.closedAt.map(Millis.from), a.closeReason, a.permitNumber, a.id])
    }

    func insertRequiredDepartment(_ r: RequiredDepartmentRecord) throws {
        try exec("INSERT INTO requiredDepartment (applicationID, department, state, dueAt, decidedAt) VALUES (?, ?, ?, ?, ?)",
                       arguments: [r.applicationID, r.department, r.state.rawValue, Millis.from(r.dueAt), r.decidedAt.map(Millis.from)])
    }

    func updateRequiredDepartment(_ r: RequiredDepartmentRecord) throws {
        try exec("UPDATE requiredDepartment SET state = ?, decidedAt = ? WHERE applicationID = ? AND department = ?",
                       arguments: [r.state.rawValue, r.decidedAt.map(Millis.from), r.applicationID, r.department])
    }

    func insertDecision(_ d: DecisionRecord) throws -> DecisionRecord {
        let conditions = d.conditions.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(d.conditions), as: UTF8.self)
        try exec("""
            INSERT INTO decision (applicationID, department, decision, conditions, reason, decidedAt, approverID, approverKid, signature,
                                  carriedFrom)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [d.applicationID, d.department, d.decision.rawValue, conditions, d.reason, Millis.from(d.decidedAt),
                             d.approverID, d.approverKid, d.signature, d.carriedFrom])
        var r = d
        r.id = db.lastInsertedRowID
        return r
    }

    func insertPermit(_ p: PermitRecord) throws {
        try exec("""
            INSERT INTO permit (number, applicationID, authority, serial, issuedAt, validFrom, validTo, payload, document,
                                issuerKid, signatureHash, decisionToIssueMicros)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [p.number, p.applicationID, p.authority, p.serial, Millis.from(p.issuedAt), p.validFrom, p.validTo,
                             p.payload, p.document, p.issuerKid, p.signatureHash, p.decisionToIssueMicros])
    }

    func nextSerial(authority: String) throws -> Int {
        let last = try oneInt("SELECT last FROM serial WHERE authority = ?", arguments: [authority]) ?? 0
        guard last < 999_999 else {
            throw StoreError(.serialsExhausted, "authority \(authority) has issued serial 999999, the last a 12-digit number allows; nothing was issued")
        }
        try exec("INSERT INTO serial (authority, last) VALUES (?, ?) ON CONFLICT(authority) DO UPDATE SET last = excluded.last",
                       arguments: [authority, last + 1])
        return last + 1
    }

    func insertAuditEvent(_ e: AuditEvent) throws {
        try exec("INSERT INTO audit (seq, at, actor, action, subject, content, prevHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 arguments: [e.seq, Millis.from(e.at), e.actor, e.action, e.subject, e.content, e.prevHash, e.hash])
    }
}


extension StoreError {
    /// Runs `body`, turning SQLite's failures into the store's stable codes; errors of the
    /// workflow's own (refusals thrown inside a transaction) pass through unchanged.
    static func mapping<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw StoreError(sqlite: error)
        }
    }

    init(sqlite error: DatabaseError) {
        switch error.resultCode {
        case .SQLITE_FULL:
            self.init(.full, "the disk that holds the database is full (\(error.message ?? "SQLITE_FULL")); nothing was written. Free some space and send the request again")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            self.init(.busy, "the database stayed locked by another writer (\(error.message ?? "SQLITE_BUSY")); nothing was written. Send the request again")
        case .SQLITE_CONSTRAINT:
            self.init(.constraint, "a row broke a rule of the schema: \(error.message ?? "SQLITE_CONSTRAINT"); nothing was written")
        default:
            self.init(.io, "the database failed: \(error)")
        }
    }
}

/// A second connection that copies the WAL back into the database in the background: every
/// `commitsPerCheckpoint` commits, a PASSIVE checkpoint on a queue of its own, one at a time.
/// Its own object, so that the block running a checkpoint holds this and not the store: were the
/// store released while a checkpoint ran, the block's release would otherwise run the store's
/// deinit on the checkpoint's queue, whose wait for that queue traps (seen in `permit-bench server`).
final class BackgroundCheckpointer: @unchecked Sendable {
    static let commitsPerCheckpoint = 32
    let connection: DatabaseQueue
    let queue = DispatchQueue(label: "permit-store.checkpoint")
    private let lock = NSLock()
    private var commitsSinceCheckpoint = 0
    private var running = false

    init(connection: DatabaseQueue) { self.connection = connection }

    /// Counts a commit, and starts a checkpoint when one is due and none is running.
    func committed() {
        lock.lock()
        commitsSinceCheckpoint += 1
        let due = commitsSinceCheckpoint >= Self.commitsPerCheckpoint && !running
        if due {
            commitsSinceCheckpoint = 0
            running = true
        }
        lock.unlock()
        guard due else { return }
        queue.async { [self] in
            // PASSIVE: copies what it can without blocking the writer or readers.
            _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            lock.lock()
            running = false
            lock.unlock()
        }
    }
}

// MARK: copying (`StoreCopy`)

extension SQLitePermitStore: CopyableStore {
    public var copyDescription: String { "sqlite:" + path }

    public func appliedMigrations() async throws -> [String] {
        try StoreError.mapping { try pool.read { db in try Self.migrator.appliedMigrations(db) } }
    }

    public func readStoredTables<T>(_ body: (any StoreTableAccess) throws -> T) async throws -> T {
        try StoreError.mapping { try pool.read { db in try body(SQLiteTableAccess(db: db)) } }
    }

    public func writeStoredTables<T>(_ body: (any StoreTableAccess) throws -> T) async throws -> T {
        try StoreError.mapping { try pool.write { db in try body(SQLiteTableAccess(db: db)) } }
    }
}

/// The schema's tables row for row on SQLite. A value whose storage class is not its column's
/// (SQLite keeps what it is given) is refused: the other backend could not store it as it is.
struct SQLiteTableAccess: StoreTableAccess {
    let db: Database

    func storedRows(_ table: StoredTable) throws -> [[StoredValue]] {
        let sql = "SELECT \(table.columnNames.joined(separator: ", ")) FROM \(table.name)"
        let rows = try Row.fetchAll(db.cachedStatement(sql: sql))
        return try rows.map { row in
            try table.columns.enumerated().map { i, column in
                let value: DatabaseValue = row[i]
                switch (value.storage, column.kind) {
                case (.null, _): return .null
                case let (.int64(v), .integer): return .integer(v)
                case let (.string(s), .text): return .text(s)
                case let (.blob(d), .blob): return .blob(d)
                default:
                    throw StoreCopyError(Problem(code: "copy.value",
                        message: "\(table.name).\(column.name) holds \(value) where the schema has \(column.kind); it cannot be copied as it is",
                        field: "\(table.name).\(column.name)", value: "\(value)", rule: "each value of the column's type (INTEGER, TEXT or BLOB)"))
                }
            }
        }
    }

    func storedRowCount(_ table: StoredTable) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.name)") ?? 0
    }

    func insertStoredRows(_ rows: [[StoredValue]], into table: StoredTable) throws {
        let marks = Array(repeating: "?", count: table.columns.count).joined(separator: ", ")
        let statement = try db.cachedStatement(sql: "INSERT INTO \(table.name) (\(table.columnNames.joined(separator: ", "))) VALUES (\(marks))")
        for row in rows {
            try statement.execute(arguments: StatementArguments(row.map(\.databaseValue)))
        }
    }

    func updateStoredValue(_ table: StoredTable, column: String, value: StoredValue, key: [(String, StoredValue)]) throws {
        let condition = key.map { "\($0.0) = ?" }.joined(separator: " AND ")
        try db.execute(sql: "UPDATE \(table.name) SET \(column) = ? WHERE \(condition)",
                       arguments: StatementArguments([value.databaseValue] + key.map(\.1.databaseValue)))
    }
}

extension StoredValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .integer(let v): return v.databaseValue
        case .text(let s): return s.databaseValue
        case .blob(let d): return d.databaseValue
        }
    }
}
