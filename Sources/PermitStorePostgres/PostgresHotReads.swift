import Foundation
import PermitAPI
import PermitStore
import PostgresNIO

/// The statements a server runs for nearly every request, on their own: who signed it
/// (`requestSigners`), its nonce (`admitNonce`), an approver's queue, the blacklist that a firm's
/// applications are checked against. Each has a few fixed shapes, built here for both ways of
/// running them:
/// - in a transaction (`PostgresTransaction`), as any statement;
/// - on its own, for every authority of a database: prepared once per connection (postgres-nio's
///   `PostgresPreparedStatement`) and run from the caller's task on a leased connection, without
///   a transaction thread. PostgreSQL then parses the statement once per connection and, after
///   a few runs, plans it once, where a statement sent with its text is parsed and planned every
///   time: in the server bench that took PostgreSQL more time than running these statements
///   (pg_stat_statements' `total_plan_time` against `total_exec_time`, before parsing is even
///   counted). An added authority's tables are not on the connection's search path, so its
///   statements name their schema (`schema`), and are prepared under names of their own.
///
/// `schema`: nil for tables found on the search path (the first authority's, or a transaction's
/// after its `SET LOCAL search_path`), else an added authority's schema, which qualifies them.
enum HotReads {
    /// `name` as a statement names it: schema-qualified for an added authority. The schema is
    /// `a` and a division code (`PostgresPermitStore.schemaName`), quoted as the store made it.
    static func table(_ name: String, _ schema: String?) -> String {
        schema.map { "\"\($0)\".\(name)" } ?? name
    }

    static func requestSigners(kid: String, schema: String? = nil) -> QueryBuilder {
        var q = QueryBuilder("""
            SELECT k.alg AS adminAlg, k.spki AS adminSpki, k.notBefore AS adminNotBefore, p.*
            FROM (SELECT 1) one
            LEFT JOIN \(table("key", schema)) k ON k.role = 'admin' AND k.notAfter IS NULL AND k.kid = 
            """)
        q.sql += q.bind(kid) + "\nLEFT JOIN \(table("partyKey", schema)) p ON p.removedAt IS NULL AND p.kid = " + q.bind(kid) + "\nORDER BY p.kind, p.id"
        return q
    }

    /// The department's pending rows in the order of `requiredDepartment_queue`, each
    /// application by its key (`OFFSET 0`, as `byEach` at `PostgresTransaction.issuedOnly`), so
    /// that a page reads its rows and stops. As a join, PostgreSQL planned it from the
    /// statistics of a young database as a hash join of every pending application, or a bitmap
    /// scan of them for each row: 1.2–9 ms a page in the server bench (`auto_explain`), 0.69 ms
    /// on average over its 2,943 pages (`pg_stat_statements`).
    static func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?, schema: String? = nil) -> QueryBuilder {
        var q = QueryBuilder("""
            SELECT a.*, r.applicationID AS rApplicationID, r.department AS rDepartment, r.dueAt AS rDueAt
            FROM \(table("requiredDepartment", schema)) r
              CROSS JOIN LATERAL (SELECT * FROM \(table("application", schema)) WHERE id = r.applicationID AND state = 'pending' OFFSET 0) a
            WHERE r.department = 
            """)
        q.sql += q.bind(department) + " AND r.state = 'pending'"
        if let dueBefore { q.sql += " AND r.dueAt < \(q.bind(Millis.from(dueBefore)))" }
        if let afterID { q.sql += " AND r.applicationID > \(q.bind(afterID))" }
        q.sql += " ORDER BY r.applicationID"
        if let limit { q.sql += " LIMIT \(q.bind(limit))" }
        return q
    }

    /// Two texts, not `$1 OR removedAt IS NULL`: PostgreSQL planned that one anew each time,
    /// since a plan for either value costs less than one for both.
    static func blacklist(includeRemoved: Bool, schema: String? = nil) -> QueryBuilder {
        let blacklist = table("blacklist", schema)
        return QueryBuilder(includeRemoved ? "SELECT * FROM \(blacklist) ORDER BY id" : "SELECT * FROM \(blacklist) WHERE removedAt IS NULL ORDER BY id")
    }

    /// A nonce kept and not expired is a replay (no row comes back); an expired one is replaced.
    static func admitNonce(nonce: String, kid: String, expires: Date, now: Date, schema: String? = nil) -> QueryBuilder {
        var q = QueryBuilder("INSERT INTO \(table("requestNonce", schema)) AS kept (nonce, kid, expiresAt) VALUES (")
        q.sql += [q.bind(nonce), q.bind(kid), q.bind(Millis.from(expires))].joined(separator: ", ")
        q.sql += ") ON CONFLICT (nonce) DO UPDATE SET kid = EXCLUDED.kid, expiresAt = EXCLUDED.expiresAt WHERE kept.expiresAt < "
        q.sql += q.bind(Millis.from(now)) + " RETURNING 1"
        return q
    }
}

/// One shape of a `HotReads` statement, prepared under its own name: for the first authority
/// `name`, for an added one `name` and its schema (`permit_queue_v2_a330106`), each with its
/// own text. A connection serves every authority of its pool, so it may hold both.
protocol HotStatement {
    static var name: String { get }
    static func sql(schema: String?) -> String
}

extension HotStatement {
    static func name(schema: String?) -> String { schema.map { name + "_" + $0 } ?? name }
}

private enum RequestSignersStatement: HotStatement {
    static let name = "permit_request_signers_v1"
    static func sql(schema: String?) -> String { HotReads.requestSigners(kid: "", schema: schema).sql }
}

private enum QueueFirstPageStatement: HotStatement {
    static let name = "permit_queue_v2"
    static func sql(schema: String?) -> String { HotReads.queue(department: "", dueBefore: nil, afterID: nil, limit: 0, schema: schema).sql }
}

private enum QueueNextPageStatement: HotStatement {
    static let name = "permit_queue_after_v2"
    static func sql(schema: String?) -> String { HotReads.queue(department: "", dueBefore: nil, afterID: 0, limit: 0, schema: schema).sql }
}

private enum BlacklistStatement: HotStatement {
    static let name = "permit_blacklist_v1"
    static func sql(schema: String?) -> String { HotReads.blacklist(includeRemoved: false, schema: schema).sql }
}

private enum AdmitNonceStatement: HotStatement {
    static let name = "permit_admit_nonce_v1"
    static func sql(schema: String?) -> String { HotReads.admitNonce(nonce: "", kid: "", expires: Date(), now: Date(), schema: schema).sql }
}

/// The name and text of one `HotStatement` for one schema, made once (`of`) and kept: a hot
/// read looks them up instead of building the text again.
struct HotText: Sendable {
    let name: String
    let sql: String

    /// The statement a `Prepared` runs. postgres-nio asks a prepared statement's type for its
    /// name and text (static requirements) when `execute` is called, before its first
    /// suspension, and keeps both with the statement from there; so the caller binds this
    /// around that call, and the type names the statement of its store's schema.
    @TaskLocal static var current = HotText(name: "", sql: "")

    static func of<Statement: HotStatement>(_ statement: Statement.Type, schema: String?) -> HotText {
        Made.shared.text(statement, schema: schema)
    }

    private final class Made: @unchecked Sendable {
        static let shared = Made()
        private struct Key: Hashable {
            let statement: ObjectIdentifier
            let schema: String?
        }
        private let lock = NSLock()
        private var texts: [Key: HotText] = [:]

        func text<Statement: HotStatement>(_ statement: Statement.Type, schema: String?) -> HotText {
            let key = Key(statement: ObjectIdentifier(statement), schema: schema)
            return lock.withLock {
                if let text = texts[key] { return text }
                let text = HotText(name: Statement.name(schema: schema), sql: Statement.sql(schema: schema))
                texts[key] = text
                return text
            }
        }
    }
}

/// A `HotStatement` with its values, as postgres-nio prepares and runs it.
private struct Prepared<Statement: HotStatement>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { HotText.current.name }
    static var sql: String { HotText.current.sql }
    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

extension PostgresPermitStore {
    public func requestSigners(kid: String) async throws -> (admin: KeyRecord?, parties: [PartyKeyRecord]) {
        let rows = try await run(RequestSignersStatement.self, HotReads.requestSigners(kid: kid, schema: schema))
        return try PostgresTransaction.requestSigners(kid: kid, rows: rows)
    }

    public func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) async throws -> [(ApplicationRecord, RequiredDepartmentRecord)] {
        guard dueBefore == nil, limit != nil else {
            return try await read { try $0.queue(department: department, dueBefore: dueBefore, afterID: afterID, limit: limit) }
        }
        let query = HotReads.queue(department: department, dueBefore: nil, afterID: afterID, limit: limit, schema: schema)
        let rows = afterID == nil ? try await run(QueueFirstPageStatement.self, query) : try await run(QueueNextPageStatement.self, query)
        return try PostgresTransaction.decode(rows, PostgresTransaction.queueEntry)
    }

    public func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord] {
        guard !includeRemoved else { return try await read { try $0.blacklist(includeRemoved: includeRemoved) } }
        return try PostgresTransaction.decode(try await run(BlacklistStatement.self, HotReads.blacklist(includeRemoved: false, schema: schema)),
                                              PostgresTransaction.blacklistEntry)
    }

    /// A nonce's admission is one statement of its own (autocommit), with no lock, `BEGIN` or
    /// `COMMIT`: every signed request waits for it before its own transaction (prepared, as
    /// above). A nonce already kept and not expired is a replay; an
    /// expired one is replaced, as `StoreTransaction.admitNonce` replaces it. Expired nonces
    /// are swept by a statement of their own, at most once a second.
    public func admitNonce(_ nonce: String, kid: String, expires: Date, now: Date) async throws -> Bool {
        let table = HotReads.table("requestNonce", schema)
        let query = HotReads.admitNonce(nonce: nonce, kid: kid, expires: expires, now: now, schema: schema)
        let sweep = NonceSweep.shared.due(table: location.redacted + " " + table)
        guard !sweep else {
            return try await transaction(write: true, autocommit: true) { tx in
                if sweep { try tx.enqueue("DELETE FROM \(unescaped: table) WHERE expiresAt < \(Millis.from(now))") }
                return try tx.run(query.query).rows.count == 1
            }
        }
        return try await run(AdmitNonceStatement.self, query).count == 1
    }

    /// Runs one prepared `HotStatement` of this store's schema with `query`'s values (which must
    /// be of its shape) on a leased connection; a failure that may be retried (a dropped
    /// connection) is tried again, as a transaction would be.
    private func run<Statement: HotStatement>(_ statement: Statement.Type, _ query: QueryBuilder) async throws -> [Row] {
        let text = HotText.of(Statement.self, schema: schema)
        guard query.sql == text.sql else {
            throw StoreError(.io, "the statement \(text.name) was asked for with the text of another")
        }
        let prepared = Prepared<Statement>(bindings: query.bindings)
        let logger = self.logger
        var attempt = 0
        while true {
            attempt += 1
            do {
                let rows = try await leased { connection in
                    // postgres-nio never answers a statement handed to a connection that has
                    // closed (the server restarted): the close is the answer then.
                    try await ConnectionWatch.shared.answer(on: connection) {
                        var rows: [PostgresRow] = []
                        let answer = try await HotText.$current.withValue(text) { try await connection.execute(prepared, logger: logger) }
                        for try await row in answer { rows.append(row) }
                        return rows
                    }
                }
                return rows.map { Row($0.makeRandomAccess()) }
            } catch let failure as TransactionFailure {
                guard failure.retryable, attempt < Self.maxAttempts else {
                    throw failure.retryable ? failure.exhausted(attempts: attempt) : failure.error
                }
                try await Task.sleep(nanoseconds: Self.backOff(attempt: attempt))
            }
        }
    }
}
