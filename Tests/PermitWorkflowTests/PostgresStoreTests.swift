import Foundation
import Logging
import PostgresNIO
import PermitAPI
import PermitTestSupport
import XCTest
@testable import PermitModel
@testable import PermitSeal
@testable import PermitStore
@testable import PermitStorePostgres
@testable import PermitWorkflow

/// The PostgreSQL store itself: its URLs, schema, rules and failures, and several instances
/// writing one database at once.
final class PostgresStoreTests: XCTestCase {
    func testURLsAreReadIntoTheConfigurationOrRefusedWithTheReason() throws {
        let tcp = try PostgresLocation(url: "postgres://permit:s%40cret@db.internal:6543/permits?sslmode=disable")
        XCTAssertEqual(tcp.endpoint, .tcp(host: "db.internal", port: 6543))
        XCTAssertEqual(tcp.user, "permit")
        XCTAssertEqual(tcp.password, "s@cret")
        XCTAssertEqual(tcp.database, "permits")
        XCTAssertEqual(tcp.tls, .disable)
        XCTAssertEqual(tcp.redacted, "postgres://permit:***@db.internal:6543/permits?sslmode=disable")
        XCTAssertFalse(tcp.redacted.contains("cret"))

        let plain = try PostgresLocation(url: "postgresql://permit@127.0.0.1/permits")
        XCTAssertEqual(plain.endpoint, .tcp(host: "127.0.0.1", port: 5432))
        XCTAssertNil(plain.password)
        XCTAssertEqual(plain.tls, .prefer)
        XCTAssertEqual(try PostgresLocation(url: "postgres://u@[::1]:5433/d").endpoint, .tcp(host: "::1", port: 5433))
        let socket = try PostgresLocation(url: "postgres://postgres@/permits?host=/run/postgresql")
        XCTAssertEqual(socket.endpoint, .socket(path: "/run/postgresql/.s.PGSQL.5432"))
        XCTAssertEqual(socket.configuration.unixSocketPath, "/run/postgresql/.s.PGSQL.5432")
        XCTAssertEqual(plain.configuration.host, "127.0.0.1")

        let refused: [(String, String)] = [
            ("mysql://u@h/d", "scheme"), ("postgres://h/d", "no user"), ("postgres://u@h", "no database"), ("postgres://u@h/", "no database"),
            ("postgres://u@h:99999/d", "port"), ("postgres://u@h:x/d", "port"), ("postgres://u@/d", "no host"),
            ("postgres://u@h/d?sslmode=maybe", "sslmode"), ("postgres://u@h/d?timeout=3", "parameter"),
            ("postgres://u@h/d?host=relative", "absolute"), ("postgres://u:pw@h/d?host=/tmp", "both"),
        ]
        for (url, reason) in refused {
            XCTAssertThrowsError(try PostgresLocation(url: url), url) { error in
                let problem = (error as? ProblemConvertible)?.problems.first
                XCTAssertEqual(problem?.code, "database.url", url)
                XCTAssertEqual(problem?.field, "database", url)
                XCTAssertTrue(problem?.message.contains(reason) ?? false, "\(url): \(problem?.message ?? "")")
                XCTAssertFalse(problem?.message.contains("pw@") ?? true, "the password is never shown: \(problem?.message ?? "")")
            }
        }
    }

    func testTheSchemaIsMigratedUnderSQLitesNamesAndKeepsEvidenceUnchanged() async throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let store = try await PostgresPermitStore(url: url)
        let applied = try await store.appliedMigrations()
        XCTAssertEqual(applied, PostgresSchema.migrations.map(\.identifier))
        XCTAssertEqual(applied, SQLitePermitStore.migrator.migrations)
        // Opening again (a second instance) finds nothing left to do.
        let again = try await PostgresPermitStore(url: url)
        let v1 = try await again.appliedMigrations()
        XCTAssertEqual(v1, applied)

        // The audit trail refuses a second event with the same number, and edits (the trigger).
        let event = AuditChain.event(after: nil, at: Date(timeIntervalSince1970: 1_800_000_000), actor: "a", action: "b", subject: "c", content: Data("x".utf8))
        try await store.write { try $0.insertAuditEvent(event) }
        await XCTAssertThrowsErrorAsync(try await store.write { try $0.insertAuditEvent(event) }) {
            XCTAssertEqual(($0 as? StoreError)?.code, .constraint, "\($0)")
        }
        let db = TestPostgres.databaseName(of: url)
        for sql in ["UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"] {
            XCTAssertThrowsError(try TestPostgres.shared().psql(database: db, sql), sql) {
                XCTAssertTrue("\($0)".contains("append-only"), "\($0)")
            }
        }
        let v2 = try await store.read { try $0.lastAuditEvent() }
        XCTAssertEqual(v2, event)
        // A failure inside a savepoint is undone alone, as in SQLite, and the transaction goes on.
        // (A savepoint that only writes is sent lazily: the failure shows at COMMIT, and the
        // transaction runs again with its savepoints sent, where the body sees it; the run that
        // commits is the one that counts.)
        let second = AuditChain.event(after: event, at: event.at, actor: "a", action: "b", subject: "c", content: Data())
        var runs = 0, threwInCommittedRun = false
        try await store.write { tx in
            runs += 1
            threwInCommittedRun = (try? tx.savepoint { try tx.insertAuditEvent(event) }) == nil
            try tx.insertAuditEvent(second)
        }
        XCTAssertTrue(threwInCommittedRun)
        XCTAssertEqual(runs, 2, "a first run with the savepoint not sent, then one with it sent")
        let v3 = try await store.read { try $0.auditEvents(subject: nil) }.count
        XCTAssertEqual(v3, 2)
        // A body that throws in a savepoint never sent leaves nothing of what it wrote.
        let third = AuditChain.event(after: second, at: event.at, actor: "a", action: "b", subject: "c", content: Data("3".utf8))
        try await store.write { tx in
            XCTAssertThrowsError(try tx.savepoint { () throws -> Void in
                try tx.insertAuditEvent(third)
                throw StoreError(.io, "the body refuses")
            })
        }
        let v4 = try await store.read { try $0.auditEvents(subject: nil) }.count
        XCTAssertEqual(v4, 2)
        // A failure the body swallows outside a savepoint still fails the transaction.
        await XCTAssertThrowsErrorAsync(try await store.write { tx in _ = try? tx.insertAuditEvent(event) }) {
            XCTAssertEqual(($0 as? StoreError)?.code, .constraint, "\($0)")
        }
        await store.close()
        await again.close()
    }

    func testADroppedConnectionRetriesTheWholeTransaction() async throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let store = try await PostgresPermitStore(url: url)
        let db = TestPostgres.databaseName(of: url)
        var attempts = 0
        let event = AuditChain.event(after: nil, at: Date(timeIntervalSince1970: 1_800_000_000), actor: "a", action: "b", subject: "c", content: Data())
        try await store.write { tx in
            attempts += 1
            try tx.insertAuditEvent(event)
            if attempts == 1 {
                // Another session ends this one's connection mid-transaction, as a restart would.
                try TestPostgres.shared().psql(database: "postgres", """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(db)' AND pid <> pg_backend_pid()
                    """)
                Thread.sleep(forTimeInterval: 0.3)
            }
            _ = try tx.lastAuditEvent()
        }
        XCTAssertEqual(attempts, 2)
        let v1 = try await store.read { try $0.auditEvents(subject: nil) }
        XCTAssertEqual(v1, [event], "the first attempt left nothing behind")
        await store.close()
    }

    /// postgres-nio never answers a statement handed to a connection that has already closed; a
    /// statement run from a task (the hot reads) ends with `ConnectionClosed` then instead of
    /// waiting for ever, as a transaction's wait does. And the hot reads go on answering while
    /// their connections are ended again and again, as a restart of the server ends them: each
    /// round of them ends within its bound, answered (on a new connection) or refused.
    func testAHotReadOnAClosedConnectionEndsInsteadOfWaitingForEver() async throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let location = try PostgresLocation(url: url)
        let logger = Logger(label: "test")
        let connection = try await PostgresConnection.connect(configuration: location.connectionConfiguration, id: 1, logger: logger)
        try await connection.close()
        do {
            _ = try await ConnectionWatch.shared.answer(on: connection) { try await connection.query("SELECT 1", logger: logger).collect().count }
            XCTFail("a statement on a closed connection was answered")
        } catch {
            XCTAssertTrue(error is ConnectionClosed, "\(error)")
        }

        let store = try await PostgresPermitStore(url: url)
        let db = TestPostgres.databaseName(of: url)
        final class Outcomes: @unchecked Sendable {
            let lock = NSLock()
            var answered = 0, refused = 0
            func add(_ ok: Bool) { lock.withLock { if ok { answered += 1 } else { refused += 1 } } }
            var total: Int { lock.withLock { answered + refused } }
        }
        let outcomes = Outcomes()
        let perRound = 6, rounds = 10
        for round in 0..<rounds {
            try TestPostgres.shared().psql(database: "postgres", """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(db)' AND pid <> pg_backend_pid()
                """)
            for k in 0..<perRound {
                // Unstructured: a read that never ended would hold a task group for ever.
                Task {
                    do {
                        if k % 2 == 0 {
                            _ = try await store.requestSigners(kid: "00000000000000\(round)\(k)")
                        } else {
                            _ = try await store.admitNonce("nonce-\(round)-\(k)", kid: "k", expires: Date().addingTimeInterval(60), now: Date())
                        }
                        outcomes.add(true)
                    } catch {
                        outcomes.add(false)
                    }
                }
            }
            let deadline = Date().addingTimeInterval(15)
            while outcomes.total < (round + 1) * perRound, Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
            XCTAssertEqual(outcomes.total, (round + 1) * perRound, "round \(round): reads still waiting after 15 s")
            if outcomes.total < (round + 1) * perRound { break }
        }
        XCTAssertGreaterThan(outcomes.answered, 0)
        await store.close()
    }

    /// A read is first sent as one statement on its own, outside a transaction; a body that reads
    /// a second time runs again inside one REPEATABLE READ snapshot (a row written meanwhile by
    /// another session is not seen by its second statement), even when it swallowed the refusal
    /// of its second statement with `try?`.
    func testAReadOfSeveralStatementsRunsAgainInOneSnapshot() async throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let store = try await PostgresPermitStore(url: url)
        let db = TestPostgres.databaseName(of: url)
        let first = AuditChain.event(after: nil, at: Date(timeIntervalSince1970: 1_800_000_000), actor: "a", action: "b", subject: "c", content: Data())
        try await store.write { try $0.insertAuditEvent(first) }
        let second = AuditChain.event(after: first, at: Date(timeIntervalSince1970: 1_800_000_001), actor: "a", action: "b", subject: "c", content: Data())
        var single = 0
        let one = try await store.read { r -> Int in
            single += 1
            return try r.auditEvents(subject: nil).count
        }
        XCTAssertEqual(one, 1)
        XCTAssertEqual(single, 1, "a read of one statement runs once")
        var runs = 0
        let (before, after) = try await store.read { r -> (Int, Int?) in
            runs += 1
            let before = try r.auditEvents(subject: nil).count
            if runs == 2 {
                // Another session writes between the transaction's two statements.
                try TestPostgres.shared().psql(database: db, """
                    INSERT INTO audit (seq, at, actor, action, subject, content, prevHash, hash)
                    VALUES (\(second.seq), \(Int64(second.at.timeIntervalSince1970 * 1000)), 'a', 'b', 'c', ''::bytea, '\(second.prevHash)', '\(second.hash)')
                    """)
            }
            return (before, try? r.auditEvents(subject: nil).count)
        }
        XCTAssertEqual(runs, 2, "the second statement sent the read into a transaction")
        XCTAssertEqual(before, 1)
        XCTAssertEqual(after, 1, "both statements read one snapshot")
        let v2 = try await store.read { try $0.auditEvents(subject: nil).count }
        XCTAssertEqual(v2, 2)
        await store.close()
    }

    func testAnUnreachableServerIsAClearStoreError() async throws {
        let url = "postgres://postgres@/nowhere?host=/nonexistent-permit-socket-dir"
        await XCTAssertThrowsErrorAsync(try await PostgresPermitStore(url: url)) {
            XCTAssertEqual(($0 as? StoreError)?.code, .io)
            XCTAssertTrue("\($0)".contains("cannot connect"), "\($0)")
        }
        let database = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let missing = database.replacingOccurrences(of: TestPostgres.databaseName(of: database), with: "no_such_db")
        await XCTAssertThrowsErrorAsync(try await Workflow.openStore(database: missing)) {
            XCTAssertTrue("\($0)".contains("no_such_db"), "\($0)")
        }
    }

    /// The store's role at its connection limit while the pool holds no connection (found by
    /// scripts/chaos, pool-exhausted): a transaction is refused as `store.busy` once the
    /// connection wait is over, not queued for the pool's minute and then `store.io`; nothing is
    /// written, and once the database takes connections again the store works.
    func testNoConnectionToBeHadIsStoreBusyAfterTheConnectionWait() async throws {
        let pg = try TestPostgres.shared()
        let role = "limited_\(getpid())"
        let db = "limited_\(getpid())"
        try pg.psql(database: "postgres", "CREATE ROLE \(role) LOGIN")
        try pg.psql(database: "postgres", "CREATE DATABASE \(db) OWNER \(role)")
        // Opening migrates on a connection of its own and closes it: the pool holds none.
        let store = try await PostgresPermitStore(url: "postgres://\(role)@/\(db)?host=\(pg.socketDirectory)")
        store.connectionWait = .seconds(1)  // 5 s in service
        try pg.psql(database: "postgres", "ALTER ROLE \(role) CONNECTION LIMIT 0")
        let event = AuditChain.event(after: nil, at: Date(timeIntervalSince1970: 1_800_000_000), actor: "a", action: "b", subject: "c", content: Data())
        let began = Date()
        await XCTAssertThrowsErrorAsync(try await store.write { tx in try tx.insertAuditEvent(event) }) {
            XCTAssertEqual(($0 as? StoreError)?.code, .busy, "\($0)")
            XCTAssertTrue("\($0)".contains("no connection"), "\($0)")
        }
        let waited = Date().timeIntervalSince(began)
        let wait = Double(store.connectionWait.components.seconds)
        XCTAssertGreaterThanOrEqual(waited, wait - 0.2)
        XCTAssertLessThan(waited, wait + 10, "refused after the connection wait, not the pool's minute")
        XCTAssertEqual(try pg.psql(database: db, "SELECT COUNT(*) FROM audit"), "0")

        try pg.psql(database: "postgres", "ALTER ROLE \(role) CONNECTION LIMIT -1")
        try await store.write { tx in try tx.insertAuditEvent(event) }
        XCTAssertEqual(try pg.psql(database: db, "SELECT COUNT(*) FROM audit"), "1")
        await store.close()
    }

    /// The pool holds connections and may open no more (found by scripts/chaos, pool-exhausted):
    /// a burst wider than the pool makes it try to open one and fail, after which postgres-nio
    /// queues new leases even while connections are idle. A lone transaction after the burst is
    /// still served by an idle connection (the keep-alive hands it over), well within the wait.
    func testAPoolThatCannotGrowStillServesFromItsIdleConnections() async throws {
        let pg = try TestPostgres.shared()
        let role = "capped_\(getpid())"
        let db = "capped_\(getpid())"
        try pg.psql(database: "postgres", "CREATE ROLE \(role) LOGIN")
        try pg.psql(database: "postgres", "CREATE DATABASE \(db) OWNER \(role)")
        let store = try await PostgresPermitStore(url: "postgres://\(role)@/\(db)?host=\(pg.socketDirectory)")
        await withTaskGroup(of: Void.self) { group in  // the pool opens a few connections
            for _ in 0..<4 {
                group.addTask { _ = try? await store.read { r in Thread.sleep(forTimeInterval: 0.05); return try r.lastAuditEvent() } }
            }
        }
        let pooled = try XCTUnwrap(Int(try pg.psql(database: "postgres", "SELECT COUNT(*) FROM pg_stat_activity WHERE usename = '\(role)'")))
        XCTAssertGreaterThan(pooled, 0)
        try pg.psql(database: "postgres", "ALTER ROLE \(role) CONNECTION LIMIT \(pooled)")
        var busy = 0
        await withTaskGroup(of: Bool.self) { group in  // wider than the pool: it tries to grow, and fails
            for _ in 0..<(pooled + 8) {
                group.addTask {
                    do {
                        _ = try await store.read { r in Thread.sleep(forTimeInterval: 0.05); return try r.lastAuditEvent() }
                        return true
                    } catch { return false }
                }
            }
            for await ok in group where !ok { busy += 1 }
        }
        XCTAssertEqual(busy, 0, "the burst waits for the pool's own connections")
        for _ in 0..<3 {
            let began = Date()
            _ = try await store.read { try $0.lastAuditEvent() }
            XCTAssertLessThan(Date().timeIntervalSince(began), Double(PostgresPermitStore.connectionWait.components.seconds) - 1,
                              "a lone transaction is served by an idle connection, not refused after the wait")
        }
        try pg.psql(database: "postgres", "ALTER ROLE \(role) CONNECTION LIMIT -1")
        await store.close()
    }

    /// Two instances' decision groups over the same applications, one department's in ascending
    /// order and the other's in descending, while a firm cancels some of them on a third: every
    /// writer takes the authority's lock before it reads or locks a row, so none waits for
    /// another in a cycle. PostgreSQL reports no deadlock in its log
    /// (it would break one after a second and the store would run it again, hiding it from the
    /// results); every application ends issued once or cancelled, serials gap-free.
    func testOverlappingDecisionGroupsAndCancellationsNeverDeadlock() async throws {
        let h = try await Harness(store: .postgres)
        let pg = try TestPostgres.shared()
        func deadlocks() -> Int {
            let log = (try? String(contentsOfFile: pg.directory + "/log", encoding: .utf8)) ?? ""
            return log.components(separatedBy: "deadlock detected").count - 1
        }
        let before = deadlocks()
        var instances: [Workflow] = []
        for _ in 0..<3 { instances.append(try await Workflow(directory: h.dir, clock: h.clock, database: h.database)) }
        let apps = (0..<48).map { h.variant(300 + $0, categories: ["medical-supplies", "mail-and-parcels"]) }
        let ids = try await h.workflow.apply(apps.enumerated().map { h.item($0.element, index: $0.offset) }, key: h.firmKey).map { try XCTUnwrap($0.id) }
        let cancelled = Set(stride(from: 3, to: ids.count, by: 8).map { ids[$0] })
        for round in 0..<2 {
            let mine = Array(ids[(round * 24)..<((round + 1) * 24)])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (department, order) in [(Department.health, mine), (.postal, Array(mine.reversed()))] {
                    let workflow = instances[department == .health ? 0 : 1], key = h.approvers[department]!
                    for chunk in stride(from: 0, to: order.count, by: 6).map({ Array(order[$0..<min(order.count, $0 + 6)]) }) {
                        group.addTask { _ = try await workflow.decide(department: department, key: key, identifiers: chunk, decision: .approve) }
                    }
                }
                for id in mine where cancelled.contains(id) {
                    group.addTask { _ = try? await instances[2].cancel(id, key: h.firmKey, reason: "改期") }
                }
                try await group.waitForAll()
            }
        }
        XCTAssertEqual(deadlocks() - before, 0, "PostgreSQL broke a deadlock")
        var issued = 0
        for id in ids {
            let history = try await h.workflow.history(id)
            switch history.application.state {
            case .issued: issued += 1
            case .cancelled: XCTAssertTrue(cancelled.contains(id), "\(id) cancelled")
            default: XCTFail("\(id) is \(history.application.state)")
            }
        }
        let permits = try await h.workflow.store.read { try $0.permits(limit: nil) }
        XCTAssertEqual(permits.count, issued)
        XCTAssertGreaterThan(issued, 0)
        XCTAssertEqual(permits.map(\.serial), Array(1...max(issued, 1)))
        let audit = try await h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
    }

    /// Several server instances on one database, each its own Workflow and pool, issuing at
    /// once: every permit once, serials gap-free, the audit chain whole.
    /// Kept writes go as one statement; single-row inserts of the same SQL among them become one
    /// `INSERT … SELECT * FROM unnest(…)` of an array a column, in the order written, while an
    /// insert of another text (here with `ON CONFLICT`) and an update stay queries of their own;
    /// and the statement writes what each write says, NULLs included. A column of a type with
    /// no array type here (uuid) makes them one multi-row `INSERT … VALUES` instead.
    func testSingleRowInsertsOfOneTextGoAsOneMultiRowInsert() async throws {
        let writes: [DeferredWrite] = [
            "INSERT INTO t (a, b) VALUES (\(Int64(1)), \("x"))",
            "UPDATE u SET c = \(Int64(7)) WHERE id = \(Int64(1))",
            "INSERT INTO t (a, b) VALUES (\(Int64(2)), \(String?.none))",
            "INSERT INTO t (a, b) VALUES (\(Int64(3)), \("z")) ON CONFLICT (a) DO NOTHING",
            "INSERT INTO t (a, b) VALUES (\(Int64(4)), \("w"))",
        ]
        let query = try DeferredWrite.statement(writes)
        XCTAssertEqual(query.sql, "WITH w0 AS (INSERT INTO t (a, b) SELECT * FROM unnest($1, $2)), w1 AS (UPDATE u SET c = $3 WHERE id = $4) "
                       + "INSERT INTO t (a, b) VALUES ($5, $6) ON CONFLICT (a) DO NOTHING")
        XCTAssertEqual(query.binds.count, 6)
        let uuids = [UUID(), UUID()]
        let rowsOfValues: [DeferredWrite] = [
            "INSERT INTO t (a, b, g) VALUES (\(Int64(5)), \("v"), \(uuids[0]))",
            "INSERT INTO t (a, b, g) VALUES (\(Int64(6)), \(String?.none), \(uuids[1]))",
        ]
        XCTAssertEqual(try DeferredWrite.statement(rowsOfValues).sql, "INSERT INTO t (a, b, g) VALUES ($1, $2, $3), ($4, $5, $6)")

        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let db = TestPostgres.databaseName(of: url)
        try TestPostgres.shared().psql(database: db, "CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT, g UUID); CREATE TABLE u (id BIGINT PRIMARY KEY, c BIGINT); INSERT INTO u VALUES (1, 0)")
        let store = try await PostgresPermitStore(url: url)
        try await store.transaction(write: true) { tx in for w in writes { try tx.write(w) } }
        try await store.transaction(write: true) { tx in for w in rowsOfValues { try tx.write(w) } }
        let rows = try TestPostgres.shared().psql(database: db, "SELECT string_agg(a || ':' || COALESCE(b, 'null') || ':' || COALESCE(g::text, 'null'), ',' ORDER BY a) FROM t")
        XCTAssertEqual(rows.trimmingCharacters(in: .whitespacesAndNewlines),
                       "1:x:null,2:null:null,3:z:null,4:w:null,5:v:\(uuids[0].uuidString.lowercased()),6:null:\(uuids[1].uuidString.lowercased())")
        let c = try TestPostgres.shared().psql(database: db, "SELECT c FROM u")
        XCTAssertEqual(c.trimmingCharacters(in: .whitespacesAndNewlines), "7")
        await store.close()
    }

    /// Single-row updates of one text, each by its row's key, go as one `UPDATE … FROM unnest(…)`
    /// in the kept writes' statement; an update of another shape (an expression, no key) stays a
    /// query of its own; and each row gets what its update says, a column that only NULLs set
    /// included. With a column of a type that has no array type here (uuid), they go as one
    /// `UPDATE … FROM (VALUES …)`, whose first row types each column, and write the same.
    func testSingleRowUpdatesOfOneTextGoAsOneUpdateFromValues() async throws {
        func set(_ id: Int64, _ b: String?, _ c: Int64?) -> DeferredWrite {
            DeferredWrite("UPDATE t SET b = \(b), c = \(c)\nWHERE a = \(id) AND d = \("k")").row("\(id)")
        }
        let keyed = [set(1, "x", nil), set(2, nil, nil), set(3, "z", nil)]
        let expression: DeferredWrite = "UPDATE t SET c = c + \(Int64(1)) WHERE a = \(Int64(9))"
        let writes = [keyed[0], expression, keyed[1], keyed[2]]
        let query = try DeferredWrite.statement(writes)
        XCTAssertEqual(query.sql, "WITH w0 AS (UPDATE t AS u SET b = v.s0, c = v.s1 FROM unnest($1, $2, $3, $4) AS v (s0, s1, k0, k1) "
                       + "WHERE u.a = v.k0 AND u.d = v.k1) UPDATE t SET c = c + $5 WHERE a = $6")
        XCTAssertEqual(query.binds.count, 6)
        let g = UUID()
        func setG(_ id: Int64, _ b: String?, _ c: Int64?) -> DeferredWrite {
            DeferredWrite("UPDATE t SET b = \(b), c = \(c), g = \(g)\nWHERE a = \(id)").row("\(id)")
        }
        let rowsOfValues = [setG(4, nil, nil), setG(9, "y", nil)]
        XCTAssertEqual(try DeferredWrite.statement(rowsOfValues).sql, "UPDATE t AS u SET b = v.s0, c = v.s1, g = v.s2 FROM (VALUES "
                       + "((NULL::t).b, (NULL::t).c, (NULL::t).g, (NULL::t).a), ($1, $2, $3, $4), ($5, $6, $7, $8)) AS v (s0, s1, s2, k0) WHERE u.a = v.k0")

        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let db = TestPostgres.databaseName(of: url)
        try TestPostgres.shared().psql(database: db, """
            CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT, c BIGINT, d TEXT NOT NULL, g UUID);
            INSERT INTO t VALUES (1, 'old', 5, 'k'), (2, 'old', 5, 'k'), (3, 'old', 5, 'k'), (4, 'old', 5, 'k'), (9, 'old', 5, 'k')
            """)
        let store = try await PostgresPermitStore(url: url)
        // The keyed updates alone: one statement, whose column c only NULLs set.
        let sent = try await store.transaction(write: true) { tx -> Int in
            try tx.waitForLock()
            let before = tx.statements
            for w in keyed { try tx.write(w) }
            try tx.flush()
            return tx.statements - before
        }
        XCTAssertEqual(sent, 1)
        try await store.transaction(write: true) { tx in try tx.write(expression) }
        let rows = try TestPostgres.shared().psql(database: db, "SELECT string_agg(a || ':' || COALESCE(b, 'null') || ':' || COALESCE(c::text, 'null'), ',' ORDER BY a) FROM t")
        XCTAssertEqual(rows.trimmingCharacters(in: .whitespacesAndNewlines), "1:x:null,2:null:null,3:z:null,4:old:5,9:old:6")
        try await store.transaction(write: true) { tx in for w in rowsOfValues { try tx.write(w) } }
        let after = try TestPostgres.shared().psql(database: db, "SELECT string_agg(a || ':' || COALESCE(b, 'null') || ':' || COALESCE(c::text, 'null') || ':' || COALESCE(g::text, 'null'), ',' ORDER BY a) FROM t WHERE a IN (4, 9)")
        XCTAssertEqual(after.trimmingCharacters(in: .whitespacesAndNewlines), "4:null:null:\(g.uuidString.lowercased()),9:y:null:\(g.uuidString.lowercased())")
        await store.close()
    }

    /// A store on a database of its own holding one audit event, `first`, at the time `at`.
    private func storeWithFirstEvent(subject: String) async throws -> (store: PostgresPermitStore, at: Date, first: AuditEvent) {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let store = try await PostgresPermitStore(url: url)
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let first = try await store.write { try $0.appendAudit(at: at, actor: "t", action: "first", subject: subject, content: Data()) }
        return (store, at, first)
    }

    /// Savepoints inside savepoints whose bodies only write send nothing (`unsentSavepoints`): the
    /// writes wait to go together. One that throws still undoes only its own writes, whichever
    /// level it is at; and a broken rule that such writes meet only later, at COMMIT, runs the
    /// transaction again with every savepoint sent, where the savepoint that broke it is undone
    /// alone and the body that caught its error keeps the rest.
    func testNestedSavepointsThatOnlyWriteSendNothingAndStillUndoAlone() async throws {
        struct Refused: Error {}
        let (store, at, first) = try await storeWithFirstEvent(subject: "first")
        var runs = 0
        var sentInside: [Int] = []
        try await store.transaction(write: true) { tx in
            runs += 1
            func append(_ subject: String) throws { _ = try tx.appendAudit(at: at, actor: "t", action: "write", subject: subject, content: Data()) }
            try append("a")    // reads the lock's context: the one wait before the savepoints
            let before = tx.statements
            try tx.savepoint {
                try append("b")
                _ = try? tx.savepoint { try append("x1"); throw Refused() }
                try tx.savepoint { try append("c") }
            }
            _ = try? tx.savepoint {
                try append("x2")
                try tx.savepoint { try append("x3") }
                throw Refused()
            }
            try tx.savepoint {
                try append("d")
                // Breaks the audit's unique seq; sent only with the rest, so found at COMMIT.
                do { try tx.savepoint { try tx.insertAuditEvent(first) } } catch {}
            }
            sentInside.append(tx.statements - before)
            try append("e")
        }
        XCTAssertEqual(runs, 2, "the broken rule, found at COMMIT, ran the transaction again with its savepoints sent")
        XCTAssertEqual(sentInside.first, 0, "the first run sent nothing from its savepoints: \(sentInside)")
        XCTAssertGreaterThan(sentInside.last ?? 0, 0, "the run again sent its savepoints")
        let events = try await store.read { try $0.auditEvents(subject: nil) }
        XCTAssertEqual(events.map(\.subject), ["first", "a", "b", "c", "d", "e"])
        XCTAssertEqual(events.map(\.seq), Array(1...6))
        XCTAssertNil(AuditChain.firstBrokenLink(events))
        await store.close()
    }

    /// A harness on PostgreSQL with one application, variant `n`, pending for two departments,
    /// and the health department's registered approver.
    private func pendingForTwoDepartments(_ n: Int) async throws
        -> (h: Harness, id: String, rowID: Int64, store: PostgresPermitStore, kid: String, approver: PartyKeyRecord) {
        let h = try await Harness(store: .postgres)
        let results = try await h.workflow.apply([h.item(h.variant(n, categories: ["medical-supplies", "mail-and-parcels"]))], key: h.firmKey)
        let id = try XCTUnwrap(results.first?.id)
        let rowID = try XCTUnwrap(ApplicationRecord.rowID(of: id))
        let store = try XCTUnwrap(h.workflow.store as? PostgresPermitStore)
        let kid = h.approvers[.health]!.publicKey.kidHex
        let registered = try await store.read { try $0.activePartyKey(kind: .approver, kid: kid) }
        return (h, id, rowID, store, kid, try XCTUnwrap(registered))
    }

    /// What a writer read ahead follows the transaction's own writes of it, as the database has
    /// them once written (times in whole milliseconds, the decision's new id): a second
    /// department's decision on the same application, later in the same combined transaction,
    /// reads it without a wait and sees what a read after COMMIT sees.
    func testWhatWasReadAheadFollowsTheTransactionsOwnWritesAsTheDatabaseHasThem() async throws {
        let (_, id, rowID, store, kid, approver) = try await pendingForTwoDepartments(700)
        let at = Date(timeIntervalSince1970: 1_800_000_000.123_456)
        typealias Seen = (application: ApplicationRecord?, required: [RequiredDepartmentRecord], decisions: [DecisionRecord])
        let inside = try await store.write(readAhead: ReadAhead(applications: [id])) { t -> Seen in
            let tx = t as! PostgresTransaction
            guard var app = try tx.application(id: rowID) else { throw StoreError(.io, "\(id) not read") }
            var required = try tx.requiredDepartments(applicationID: rowID)
            guard required.count == 2 else { throw StoreError(.io, "\(id) has \(required.count) required departments") }
            let waits = tx.waits
            required[0].state = .approved
            required[0].decidedAt = at
            try tx.updateRequiredDepartment(required[0])
            _ = try tx.insertDecision(DecisionRecord(applicationID: rowID, department: required[0].department, decision: .approve, conditions: ["限速60"],
                                                     reason: nil, decidedAt: at, approverID: approver.id!, approverKid: kid, signature: Data([1, 2, 3])))
            app.state = .rejected
            app.closedAt = at
            app.closeReason = "测试"
            try tx.updateApplication(app)
            let seen = (try tx.application(id: rowID), try tx.requiredDepartments(applicationID: rowID), try tx.decisions(applicationID: rowID))
            XCTAssertEqual(tx.waits, waits, "read from what was read ahead, without a wait")
            return seen
        }
        let after = try await store.read { r -> Seen in
            (try r.application(id: rowID), try r.requiredDepartments(applicationID: rowID), try r.decisions(applicationID: rowID))
        }
        XCTAssertEqual(inside.application, after.application)
        XCTAssertEqual(inside.required, after.required)
        XCTAssertEqual(inside.decisions, after.decisions)
        XCTAssertEqual(after.application?.state, .rejected)
        XCTAssertEqual(after.required.filter { $0.state == .approved }.count, 1)
        XCTAssertEqual(after.decisions.count, 1)
    }

    /// A combined transaction's first answer (`WriterStart`) brings the lock, the counters and
    /// what its writers read first, as committed before the grant: here another instance (a
    /// second store on the same database) holds the lock while it records a decision, and the
    /// writer that asked meanwhile reads that decision, the application, its required
    /// departments and its reference from that one answer, with no wait of its own.
    func testACombinedTransactionsFirstAnswerBringsItsReadsAsCommittedBeforeTheGrant() async throws {
        let (h, id, rowID, store, kid, approver) = try await pendingForTwoDepartments(710)
        let other = try await PostgresPermitStore(url: try XCTUnwrap(h.database))
        let found = try await store.read { try $0.application(id: rowID) }
        let stored = try XCTUnwrap(found)
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let holding = Task {
            try await other.write { tx in
                var required = try tx.requiredDepartments(applicationID: rowID)
                guard let n = required.firstIndex(where: { $0.department == Department.health.rawValue }) else { throw StoreError(.io, "no health") }
                required[n].state = .approved
                required[n].decidedAt = at
                try tx.updateRequiredDepartment(required[n])
                _ = try tx.insertDecision(DecisionRecord(applicationID: rowID, department: Department.health.rawValue, decision: .approve,
                                                         conditions: [], reason: nil, decidedAt: at, approverID: approver.id!, approverKid: kid,
                                                         signature: Data([7])))
                Thread.sleep(forTimeInterval: 0.4)
            }
        }
        try await Task.sleep(nanoseconds: 150_000_000)
        typealias Seen = (waits: Int, decisions: [DecisionRecord], required: [RequiredDepartmentRecord], byReference: ApplicationRecord?,
                          missing: ApplicationRecord?, waitsAfter: Int)
        let seen = try await store.write(readAhead: ReadAhead(applications: [id], references: [(stored.creditCode, stored.reference),
                                                                                                 (stored.creditCode, "no-such-reference")])) { t -> Seen in
            let tx = t as! PostgresTransaction
            let waits = tx.waits
            let decisions = try tx.decisions(applicationID: rowID), required = try tx.requiredDepartments(applicationID: rowID)
            let byReference = try tx.application(creditCode: stored.creditCode, reference: stored.reference)
            let missing = try tx.application(creditCode: stored.creditCode, reference: "no-such-reference")
            return (waits, decisions, required, byReference, missing, tx.waits)
        }
        try await holding.value
        XCTAssertEqual(seen.waits, 1, "the grant, the counters and the reads: one answer")
        XCTAssertEqual(seen.waitsAfter, seen.waits, "every read answered from it")
        XCTAssertEqual(seen.decisions.map(\.signature), [Data([7])], "the decision committed while it waited for the grant")
        XCTAssertEqual(seen.required.first { $0.department == Department.health.rawValue }?.state, .approved)
        XCTAssertEqual(seen.required.count, 2)
        XCTAssertEqual(seen.byReference?.id, rowID)
        XCTAssertNil(seen.missing)
    }

    /// The reads of writers taken once the lock is held (`permit_read_ahead`): one statement and
    /// one wait for an application, its required departments and decisions, and references,
    /// found or not; every read after it is answered without a wait.
    func testReadingAheadBehindTheLockIsOneWait() async throws {
        let (_, id, rowID, store, _, _) = try await pendingForTwoDepartments(720)
        let found = try await store.read { try $0.application(id: rowID) }
        let stored = try XCTUnwrap(found)
        let seen = try await store.transaction(write: true) { tx -> (waits: Int, statements: Int, required: Int, decisions: Int, found: Int64?, missing: Bool) in
            try tx.waitForLock()
            let (waits, statements) = (tx.waits, tx.statements)
            try tx.readAhead([ReadAhead(applications: [id], references: [(stored.creditCode, stored.reference), (stored.creditCode, "none")])])
            let required = try tx.requiredDepartments(applicationID: rowID).count, decisions = try tx.decisions(applicationID: rowID).count
            let byReference = try tx.application(creditCode: stored.creditCode, reference: stored.reference)?.id
            let missing = try tx.application(creditCode: stored.creditCode, reference: "none") == nil
            _ = try tx.application(id: rowID)
            return (tx.waits - waits, tx.statements - statements, required, decisions, byReference, missing)
        }
        XCTAssertEqual(seen.waits, 1)
        XCTAssertEqual(seen.statements, 1)
        XCTAssertEqual(seen.required, 2)
        XCTAssertEqual(seen.decisions, 0)
        XCTAssertEqual(seen.found, rowID)
        XCTAssertTrue(seen.missing)
    }

    /// The writers' functions are made with one setting, a plan kept for any arguments
    /// (`WriterStart.setting`), and a store opened on a database whose functions lack it makes
    /// them again, with it.
    func testTheWritersFunctionsKeepOnePlanForAnyArguments() async throws {
        let url = try XCTUnwrap(try StoreKind.postgres.newDatabase())
        let db = TestPostgres.databaseName(of: url)
        func settings() throws -> String {
            try TestPostgres.shared().psql(database: db, """
                SELECT string_agg(proname || ':' || COALESCE(array_to_string(proconfig, ','), 'none'), ' ' ORDER BY proname)
                FROM pg_proc WHERE proname IN ('permit_writer_start', 'permit_read_ahead')
                """).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let expected = "permit_read_ahead:plan_cache_mode=force_generic_plan permit_writer_start:plan_cache_mode=force_generic_plan"
        await (try await PostgresPermitStore(url: url)).close()
        XCTAssertEqual(try settings(), expected)
        try TestPostgres.shared().psql(database: db, "ALTER FUNCTION permit_writer_start RESET ALL; ALTER FUNCTION permit_read_ahead RESET ALL")
        XCTAssertEqual(try settings(), "permit_read_ahead:none permit_writer_start:none")
        let store = try await PostgresPermitStore(url: url)
        XCTAssertEqual(try settings(), expected)
        let event = try await store.write { try $0.appendAudit(at: Date(timeIntervalSince1970: 1_800_000_000), actor: "t", action: "a", subject: "s", content: Data()) }
        XCTAssertEqual(event.seq, 1)
        await store.close()
    }

    /// The statements a server runs for nearly every request, run on their own as prepared
    /// statements (`HotReads`), answer what the same reads answer in a transaction: the signer
    /// of each kind of key, a queue's first and next pages, the blacklist with and without its
    /// removed entries; and a nonce is admitted once, again only once it has expired. For the
    /// deployment's first authority, and for one added after it (its own schema, not on the
    /// connection's search path: its statements name it).
    func testTheHotReadsOnTheirOwnAnswerAsInATransaction() async throws {
        let t = try await DeploymentTests.TwoAuthorities(store: .postgres)
        try await checkHotReads(t.first, admin: t.h.admin, approver: t.h.approvers[.health]!, firmKey: t.h.firmKey, h: t.h)
        try await checkHotReads(t.second, admin: t.secondAdmin, approver: t.secondApprovers[.health]!, firmKey: t.h.firmKey, h: t.h)
        let second = try XCTUnwrap(t.second.store as? PostgresPermitStore)
        XCTAssertEqual(second.schema, "a330106")
    }

    private func checkHotReads(_ workflow: Workflow, admin: PrivateKey, approver: PrivateKey, firmKey: PrivateKey, h: Harness,
                               file: StaticString = #filePath, line: UInt = #line) async throws {
        let store = try XCTUnwrap(workflow.store as? PostgresPermitStore)
        let code = workflow.authority.code
        _ = try await workflow.apply((0..<5).map { h.item(h.variant(800 + $0), index: $0) }, key: firmKey)
        _ = try await workflow.blacklistAdd(kind: .plate, value: "浙A99999", reason: "套牌", until: nil, revokeActive: false, adminKey: admin)
        let removed = try await workflow.blacklistAdd(kind: .plate, value: "浙A99998", reason: "误列", until: nil, revokeActive: false, adminKey: admin)
        _ = try await workflow.blacklistRemove(id: try XCTUnwrap(removed.entry.id), reason: "核实", adminKey: admin)

        for kid in [admin.publicKey.kidHex, approver.publicKey.kidHex, firmKey.publicKey.kidHex, "00000000deadbeef"] {
            // Twice on its own: a connection prepares the statement once, then runs it prepared.
            for _ in 0..<2 {
                let own = try await store.requestSigners(kid: kid)
                let inTransaction = try await store.read { try $0.requestSigners(kid: kid) }
                XCTAssertEqual(own.admin, inTransaction.admin, "\(code) \(kid)", file: file, line: line)
                XCTAssertEqual(own.parties, inTransaction.parties, "\(code) \(kid)", file: file, line: line)
            }
        }
        let adminSigner = try await store.requestSigners(kid: admin.publicKey.kidHex), firm = try await store.requestSigners(kid: firmKey.publicKey.kidHex)
        XCTAssertEqual(adminSigner.admin?.kid, admin.publicKey.kidHex, code, file: file, line: line)
        XCTAssertEqual(firm.parties.map(\.kind), [.applicant], code, file: file, line: line)

        let required = try await store.read { try $0.requiredDepartments(applicationID: 1) }
        let department = try XCTUnwrap(required.first?.department)
        var pages: [(Int64?, Int)] = [(nil, 50), (nil, 2)]
        let first = try await store.queue(department: department, dueBefore: nil, afterID: nil, limit: 2)
        pages.append((try XCTUnwrap(first.last?.0.id), 50))
        for (after, limit) in pages {
            let own = try await store.queue(department: department, dueBefore: nil, afterID: after, limit: limit)
            let inTransaction = try await store.read { try $0.queue(department: department, dueBefore: nil, afterID: after, limit: limit) }
            XCTAssertEqual(own.map(\.0), inTransaction.map(\.0), code, file: file, line: line)
            XCTAssertEqual(own.map(\.1), inTransaction.map(\.1), code, file: file, line: line)
            XCTAssertEqual(own.count, after == nil ? min(limit, 5) : 3, "\(code) after \(after.map(String.init) ?? "-"), limit \(limit)", file: file, line: line)
        }

        for includeRemoved in [false, true] {
            let own = try await store.blacklist(includeRemoved: includeRemoved)
            let inTransaction = try await store.read { try $0.blacklist(includeRemoved: includeRemoved) }
            XCTAssertEqual(own, inTransaction, code, file: file, line: line)
            XCTAssertEqual(own.count, includeRemoved ? 2 : 1, code, file: file, line: line)
        }

        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let kid = firmKey.publicKey.kidHex
        var admitted: [Bool] = []
        for at in [now, now.addingTimeInterval(1), now.addingTimeInterval(301)] {
            admitted.append(try await store.admitNonce("nonce-hot-1", kid: kid, expires: now.addingTimeInterval(300), now: at))
        }
        XCTAssertEqual(admitted, [true, false, true], "\(code): kept, a replay, expired and replaced", file: file, line: line)
    }

    /// Two authorities' stores share one pool, so one connection prepares both one's hot
    /// statements and the other's: each must read its own schema. Taken in turn, on one
    /// connection after another, each admin key is its own authority's signer and nobody at the
    /// other; each queue holds its own applications; one nonce is admitted once at each.
    func testAuthoritiesSharingAPoolEachReadTheirOwnSchemaWithTheHotStatements() async throws {
        let t = try await DeploymentTests.TwoAuthorities(store: .postgres)
        let stores = [try XCTUnwrap(t.first.store as? PostgresPermitStore), try XCTUnwrap(t.second.store as? PostgresPermitStore)]
        let admins = [t.h.admin.publicKey.kidHex, t.secondAdmin.publicKey.kidHex]
        _ = try await t.first.apply((0..<3).map { t.h.item(t.h.variant(900 + $0), index: $0) }, key: t.h.firmKey)
        _ = try await t.second.apply([t.h.item(t.h.variant(950))], key: t.h.firmKey)
        let required = try await stores[0].read { try $0.requiredDepartments(applicationID: 1) }
        let department = try XCTUnwrap(required.first?.department)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        // In turn, one at a time: the pool hands the idle connection back, so the same
        // connections prepare both authorities' statements.
        for round in 0..<12 {
            for (n, store) in stores.enumerated() {
                let own = try await store.requestSigners(kid: admins[n]), other = try await store.requestSigners(kid: admins[1 - n])
                XCTAssertEqual(own.admin?.kid, admins[n], "round \(round), authority \(n)")
                XCTAssertNil(other.admin, "round \(round), authority \(n) found the other's admin key")
                let queue = try await store.queue(department: department, dueBefore: nil, afterID: nil, limit: 50)
                XCTAssertEqual(queue.map(\.0.reference).sorted(), n == 0 ? ["QT-TEST-900", "QT-TEST-901", "QT-TEST-902"].sorted() : ["QT-TEST-950"],
                               "round \(round), authority \(n)")
                let admitted = try await store.admitNonce("nonce-shared-\(round)", kid: admins[n], expires: now.addingTimeInterval(300), now: now)
                XCTAssertTrue(admitted, "round \(round), authority \(n): its own first use of the nonce")
            }
        }
    }

    /// Writers waiting at once run together, in one transaction (`WriteCombiner`), each in its
    /// savepoint: one that refuses, one that breaks a rule of the database and one that swallows
    /// such a failure get their own error and leave nothing behind; the others are written, the
    /// audit chain stays linear, and far fewer transactions commit than there are writers.
    func testWritersWaitingAtOnceRunTogetherEachWithItsOwnOutcome() async throws {
        struct Refused: Error {}
        let (store, at, first) = try await storeWithFirstEvent(subject: "w-first")
        let writers = 24
        let outcomes = try await withThrowingTaskGroup(of: (Int, Result<Int64, any Error>).self) { group in
            // The first writer holds its transaction a while, so that the others queue behind it.
            group.addTask {
                do {
                    return (0, .success(try await store.write { tx -> Int64 in
                        Thread.sleep(forTimeInterval: 0.3)
                        return try tx.appendAudit(at: at, actor: "t", action: "slow", subject: "w0", content: Data()).seq
                    }))
                } catch {
                    return (0, .failure(error))
                }
            }
            try await Task.sleep(nanoseconds: 100_000_000)
            for k in 1..<writers {
                group.addTask {
                    do {
                        return (k, .success(try await store.write { tx -> Int64 in
                        let event = try tx.appendAudit(at: at, actor: "t", action: "write", subject: "w\(k)", content: Data())
                        switch k % 4 {
                        case 1: throw Refused()
                        case 2: try tx.insertAuditEvent(first)    // the same seq again: a unique key broken
                        case 3: try? tx.insertAuditEvent(first)   // the same, swallowed
                        default: break
                        }
                        return event.seq
                        }))
                    } catch {
                        return (k, .failure(error))
                    }
                }
            }
            var all: [Int: Result<Int64, any Error>] = [:]
            for try await (k, r) in group { all[k] = r }
            return all
        }
        var written: Set<String> = ["w-first"]
        for k in 0..<writers {
            switch (k % 4, outcomes[k]!) {
            case (0, .success):
                written.insert("w\(k)")
            case (1, .failure(let error)):
                XCTAssertTrue(error is Refused, "writer \(k): \(error)")
            case (2, .failure(let error)), (3, .failure(let error)):
                XCTAssertEqual((error as? StoreError)?.code, .constraint, "writer \(k): \(error)")
            case (let kind, let outcome):
                XCTFail("writer \(k) (kind \(kind)): \(outcome)")
            }
        }
        let events = try await store.read { try $0.auditEvents(subject: nil) }
        XCTAssertEqual(Set(events.map(\.subject)), written)
        XCTAssertEqual(events.count, written.count)
        XCTAssertNil(AuditChain.firstBrokenLink(events))
        XCTAssertEqual(events.map(\.seq), Array(1...Int64(written.count)))
        let committed = store.combiner.committed
        XCTAssertEqual(committed.writers, writers + 1)
        XCTAssertLessThanOrEqual(committed.transactions, 4, "writers waiting at once share a transaction: \(committed)")
    }

    func testSeveralInstancesIssuingAtOnceKeepSerialsGapFreeAndTheChainWhole() async throws {
        let h = try await Harness(store: .postgres)
        let instances = 4, perInstance = 12
        var workflows: [Workflow] = []
        for _ in 0..<instances {
            workflows.append(try await Workflow(directory: h.dir, clock: h.clock, database: h.database))
        }
        let apps = (0..<instances * perInstance).map { h.variant(100 + $0) }
        let ids = try await h.workflow.apply(apps.enumerated().map { h.item($0.element, index: $0.offset) }, key: h.firmKey).map { try XCTUnwrap($0.id) }
        XCTAssertEqual(ids.count, apps.count)
        let issued = try await withThrowingTaskGroup(of: [DecisionResult].self) { group in
            for (n, workflow) in workflows.enumerated() {
                let mine = Array(ids[(n * perInstance)..<((n + 1) * perInstance)])
                let key = h.approvers[.health]!
                // A group transaction each; two tasks per instance, as concurrent requests.
                for half in [mine.prefix(perInstance / 2), mine.suffix(perInstance / 2)] {
                    group.addTask { try await workflow.decide(department: .health, key: key, identifiers: Array(half), decision: .approve) }
                }
            }
            var all: [DecisionResult] = []
            for try await results in group { all += results }
            return all
        }
        XCTAssertEqual(issued.filter { $0.errors != nil }.map { "\($0.errors!)" }, [])
        XCTAssertEqual(issued.compactMap(\.permitNumber).count, apps.count)
        let permits = try await h.workflow.store.read { try $0.permits(limit: nil) }
        XCTAssertEqual(permits.map(\.serial), Array(1...apps.count))
        XCTAssertEqual(Set(permits.map(\.applicationID)).count, apps.count)
        let audit = try await h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
        let events = try await h.workflow.auditLog(subject: nil)
        XCTAssertNil(AuditChain.firstBrokenLink(events))
        XCTAssertEqual(events.filter { $0.action == "issue" }.count, apps.count)
    }
}
