import Foundation
import GRDB
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore
import PermitStorePostgres
import PermitTestSupport
import PermitWorkflow
import XCTest

/// `permit db copy`: a deployment with applications in every state, revocations, blacklist
/// entries, a rotated issuer key and a kept checkpoint, moved from SQLite to PostgreSQL (and
/// back) by the CLI; every table compared row by row through sqlite3 and psql; the audit, the
/// checkpoint and the append-only triggers on the target; the workflow carrying on there.
final class DatabaseCopyTests: XCTestCase {
    static let binary = CLITests.binary

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        func json() throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], stdout + stderr)
        }
    }

    /// The CLI on the harness's data directory, at the harness's time.
    func permit(_ h: Harness, _ arguments: String...) throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_HOME"] = h.dir.url.path
        env["PERMIT_NOW"] = RFC3339.string(h.clock.now())
        env["LANG"] = "C.UTF-8"
        env["PERMIT_DATABASE"] = nil
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (outData, errData) = readBoth(out, err)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw SetUpFailure("build the CLI first: swift build (looked for \(Self.binary.path))")
        }
    }

    // MARK: the deployment

    /// Applications in every state (issued, pending, rejected, cancelled, amended and
    /// superseded, revoked), a removed approver, blacklist entries (one lifted), a published
    /// revocation list, a rotated issuer key, a checkpoint kept in a file (then more events after
    /// it), and a request-signature nonce: a row in every table.
    func deployment() async throws -> (Harness, checkpoint: URL) {
        let h = try await Harness(store: .sqlite)
        let (_, first) = try await h.issue(h.variant(1))
        let applied = try await h.workflow.apply([h.item(h.variant(2)), h.item(h.variant(3)), h.item(h.variant(4))], key: h.firmKey)
        let rejected = try XCTUnwrap(applied[0].id), cancelled = try XCTUnwrap(applied[1].id)
        _ = try XCTUnwrap(applied[2].id)  // stays pending
        _ = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [rejected], decision: .reject, reason: "材料不全")
        _ = try await h.workflow.cancel(cancelled, key: h.firmKey, reason: "行程取消")
        let (_, revoked) = try await h.issue(h.variant(5))
        try await h.workflow.revoke(number: revoked, reason: "超载运输", adminKey: h.admin)
        var changed = h.variant(1)
        changed.crew[1].name = "李红梅"
        let amended = try await h.workflow.amend(number: first, application: changed, key: h.firmKey)
        XCTAssertEqual(amended.state, "issued")
        let extra = PrivateKey.generate(.edDSA)
        let removed = try await h.workflow.register(.approver, party: "HEALTH", name: "临时审批员", publicKey: extra.publicKey, adminKey: h.admin)
        _ = try await h.workflow.unregister(.approver, kid: removed.kid, reason: "调岗", adminKey: h.admin)
        let lifted = try await h.workflow.blacklistAdd(kind: .plate, value: "浙A99999", reason: "多次违规", until: nil, revokeActive: false, adminKey: h.admin)
        _ = try await h.workflow.blacklistRemove(id: try XCTUnwrap(lifted.entry.id), reason: "已整改", adminKey: h.admin)
        _ = try await h.workflow.blacklistAdd(kind: .plate, value: "浙A88888", reason: "伪造证件", until: "2027-06-30", revokeActive: false, adminKey: h.admin)
        _ = try await h.workflow.signRevocations()
        h.clock.advance(by: 3600)
        _ = try await h.workflow.rotateIssuerKey(algorithm: .es256, adminKey: h.admin, rootKey: try PrivateKey.load(path: h.dir.rootKey.path))
        _ = try await h.issue(h.variant(6))
        let (_, bytes) = try await h.workflow.auditCheckpoint()
        let checkpoint = h.dir.url.deletingLastPathComponent().appendingPathComponent("checkpoint-\(UUID().uuidString).cose")
        try Data(bytes).write(to: checkpoint)
        _ = try await h.issue(h.variant(7))
        _ = try await h.workflow.store.write { tx in
            try tx.admitNonce("bm9uY2Utb2YtYS1yZXF1ZXN0", kid: removed.kid, expires: h.clock.now().addingTimeInterval(300), now: h.clock.now())
        }
        return (h, checkpoint)
    }

    // MARK: reading tables with the databases' own tools

    /// Every row of every table, as text made by sqlite3: integers in decimal, text and blobs
    /// in hex, NULL as ∅; rows sorted (the two databases order text differently).
    func sqliteRows(_ path: String) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for table in StoredTable.all {
            let cells = table.columns.map { c -> String in
                switch c.kind {
                // hex(NULL) is '' in SQLite, so NULL is told apart first.
                case .integer: return "(CASE WHEN \(c.name) IS NULL THEN '∅' ELSE CAST(\(c.name) AS TEXT) END)"
                case .text: return "(CASE WHEN \(c.name) IS NULL THEN '∅' ELSE lower(hex(CAST(\(c.name) AS BLOB))) END)"
                case .blob: return "(CASE WHEN \(c.name) IS NULL THEN '∅' ELSE lower(hex(\(c.name))) END)"
                }
            }.joined(separator: " || '|' || ")
            out[table.name] = try sqlite3(path, "SELECT \(cells) FROM \(table.name)").split(separator: "\n").map(String.init).sorted()
        }
        return out
    }

    /// The same text made by psql.
    func postgresRows(_ url: String) throws -> [String: [String]] {
        let db = TestPostgres.databaseName(of: url)
        var out: [String: [String]] = [:]
        for table in StoredTable.all {
            let cells = table.columns.map { c -> String in
                switch c.kind {
                case .integer: return "coalesce(\(c.name)::text, '∅')"
                case .text: return "coalesce(encode(convert_to(\(c.name), 'UTF8'), 'hex'), '∅')"
                case .blob: return "coalesce(encode(\(c.name), 'hex'), '∅')"
                }
            }.joined(separator: " || '|' || ")
            out[table.name] = try TestPostgres.shared().psql(database: db, "SELECT \(cells) FROM \(table.name)")
                .split(separator: "\n").map(String.init).sorted()
        }
        return out
    }

    func sqlite3(_ path: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, sql]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let (data, errors) = readBoth(out, err)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestPostgresError("sqlite3: " + String(decoding: errors, as: UTF8.self)) }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    /// The URL with a password in it, which the cluster (trust authentication) never asks for:
    /// what the CLI prints must hide it.
    func withPassword(_ url: String) -> String {
        url.replacingOccurrences(of: "postgres://postgres@", with: "postgres://postgres:hunter2@")
    }

    /// No row in any table (a target refused before it was opened has no tables at all).
    func assertEveryTableEmpty(_ url: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let db = TestPostgres.databaseName(of: url)
        if try TestPostgres.shared().psql(database: db, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == "0" { return }
        for table in StoredTable.all {
            XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT count(*) FROM \(table.name)"), "0", table.name, file: file, line: line)
        }
    }

    // MARK: tests

    func testSQLiteToPostgreSQLCopiesEveryRowAndTheWorkflowCarriesOnThere() async throws {
        let (h, checkpoint) = try await deployment()
        defer { try? FileManager.default.removeItem(at: checkpoint) }
        let source = try sqliteRows(h.dir.database.path)
        for table in StoredTable.all { XCTAssertFalse(source[table.name]!.isEmpty, "the deployment has a row in \(table.name)") }
        let url = try TestPostgres.shared().createDatabase()

        let run = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", withPassword(url), "--json")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertFalse((run.stdout + run.stderr).contains("hunter2"), "the password is never printed")
        let summary = try run.json()
        XCTAssertEqual(summary["from"] as? String, "sqlite:" + h.dir.database.path)
        XCTAssertEqual(summary["to"] as? String, withPassword(url).replacingOccurrences(of: "hunter2", with: "***"))
        let tables = try XCTUnwrap(summary["tables"] as? [[String: Any]])
        XCTAssertEqual(tables.map { $0["table"] as? String }, StoredTable.all.map(\.name))
        for t in tables { XCTAssertEqual(t["rows"] as? Int, source[t["table"] as! String]!.count, "\(t)") }
        XCTAssertEqual((summary["sourceAudit"] as? [String: Any])?["ok"] as? Bool, true)
        XCTAssertEqual((summary["targetAudit"] as? [String: Any])?["ok"] as? Bool, true)
        XCTAssertEqual((summary["migrations"] as? [String])?.count, 6)
        XCTAssertNotNil(summary["seconds"] as? Double)

        // Every row of every table, value for value, through the databases' own tools.
        let copied = try postgresRows(url)
        for table in StoredTable.all { XCTAssertEqual(copied[table.name]!, source[table.name]!, table.name) }

        // The audit, and the checkpoint kept before the move, verify on the target.
        let verified = try permit(h, "audit", "verify", "--database", url, "--json")
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
        let withCheckpoint = try permit(h, "audit", "verify", "--database", url, "--checkpoint", checkpoint.path, "--json")
        XCTAssertEqual(withCheckpoint.status, 0, withCheckpoint.stdout + withCheckpoint.stderr)
        XCTAssertEqual(try withCheckpoint.json()["checkpoints"] as? Int, 2, "the stored checkpoint and the file")

        // The append-only triggers are in force on the target.
        let db = TestPostgres.databaseName(of: url)
        for sql in ["UPDATE audit SET actor = 'x' WHERE seq = 1", "DELETE FROM audit WHERE seq = 1", "TRUNCATE audit",
                    "UPDATE signedRequest SET action = 'x' WHERE id = 1"] {
            XCTAssertThrowsError(try TestPostgres.shared().psql(database: db, sql), sql)
        }
        XCTAssertEqual(try postgresRows(url)["audit"]!, source["audit"]!)

        // Back to SQLite: the same rows again, and the same AUTOINCREMENT counters.
        let back = h.dir.url.deletingLastPathComponent().appendingPathComponent("back-\(UUID().uuidString).sqlite").path
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: back + s) } }
        let home = try permit(h, "db", "copy", "--from", url, "--to", "sqlite:" + back)
        XCTAssertEqual(home.status, 0, home.stdout + home.stderr)
        XCTAssertTrue(home.stdout.contains("target: audit OK"), home.stdout)
        XCTAssertEqual(try sqliteRows(back), source)
        let sequences = "SELECT name || '=' || seq FROM sqlite_sequence ORDER BY name"
        XCTAssertEqual(try sqlite3(back, sequences), try sqlite3(h.dir.database.path, sequences))

        // The workflow carries on on the target: the next serial, row ids and audit events follow the copied ones.
        let lastSerial = try XCTUnwrap(Int(try sqlite3(h.dir.database.path, "SELECT last FROM serial")))
        let lastApplication = try XCTUnwrap(Int64(try sqlite3(h.dir.database.path, "SELECT max(id) FROM application")))
        let lastSeq = try XCTUnwrap(Int64(try sqlite3(h.dir.database.path, "SELECT max(seq) FROM audit")))
        let target = try await Workflow(directory: h.dir, clock: h.clock, database: url)
        let applied = try await target.apply([h.item(h.variant(30))], key: h.firmKey)
        let id = try XCTUnwrap(applied[0].id, "\(applied[0].errors ?? [])")
        let history = try await target.history(id)
        XCTAssertEqual(history.application.id, lastApplication + 1)
        let decided = try await target.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)
        let number = try XCTUnwrap(decided[0].permitNumber, "\(decided[0].errors ?? [])")
        XCTAssertEqual(number, "330114" + String(format: "%06d", lastSerial + 1))
        XCTAssertGreaterThan(try XCTUnwrap(Int64(try TestPostgres.shared().psql(database: db, "SELECT min(seq) FROM audit WHERE seq > \(lastSeq)"))),
                             lastSeq)
        XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT count(*) FROM audit WHERE seq > \(lastSeq)"),
                       try TestPostgres.shared().psql(database: db, "SELECT max(seq) - \(lastSeq) FROM audit"))
        let after = try permit(h, "audit", "verify", "--database", url, "--checkpoint", checkpoint.path)
        XCTAssertEqual(after.status, 0, after.stdout + after.stderr)
        XCTAssertTrue(after.stdout.contains("audit OK"), after.stdout)

        // A target that holds anything is refused, named (password hidden), and left as it was.
        let before = try postgresRows(url)
        let again = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", withPassword(url), "--json")
        XCTAssertEqual(again.status, 2, again.stdout + again.stderr)
        let error = try XCTUnwrap((try again.json()["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(error["code"] as? String, "copy.targetNotEmpty")
        XCTAssertEqual(error["value"] as? String, withPassword(url).replacingOccurrences(of: "hunter2", with: "***"))
        XCTAssertTrue((error["message"] as? String ?? "").contains("application"), "\(error)")
        XCTAssertNotNil(error["rule"] as? String)
        XCTAssertFalse(again.stdout.contains("hunter2"))
        XCTAssertEqual(try postgresRows(url), before, "nothing written")
        let text = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", url, "--lang", "zh")
        XCTAssertEqual(text.status, 2)
        XCTAssertTrue(text.stderr.contains("不是空库"), text.stderr)
    }

    /// A deployment of two authorities moves one store at a time: the first into `public`, the
    /// added one (`--authority`) into its schema; each audits on the target, the added one's
    /// rows are there, a second copy into it is refused, and a code the deployment does not
    /// hold is refused before anything is opened for writing.
    func testAnAddedAuthorityIsCopiedIntoItsSchema() async throws {
        let h = try await Harness(store: .sqlite)
        _ = try await h.issue(h.variant(1))
        let added = try permit(h, "authority", "add", "--code", "330106", "--name", "杭州市西湖区交通运输局", "--phone", "0571-87000000", "--json")
        XCTAssertEqual(added.status, 0, added.stdout + added.stderr)
        let admin = try XCTUnwrap(try added.json()["adminKey"] as? String)
        let firmKey = h.dir.url.deletingLastPathComponent().appendingPathComponent("firm-\(UUID().uuidString).pem")
        let one = h.dir.url.deletingLastPathComponent().appendingPathComponent("one-\(UUID().uuidString).jsonl")
        defer { for f in [firmKey, one] { try? FileManager.default.removeItem(at: f) } }
        let registered = try permit(h, "applicant", "add", "--authority", "330106", "--credit-code", "91330114MA24WY722X", "--name", "杭州钱塘物流有限公司",
                                    "--generate", firmKey.path, "--admin-key", admin)
        XCTAssertEqual(registered.status, 0, registered.stdout + registered.stderr)
        let line = try XCTUnwrap(try String(contentsOf: CLITests.examples, encoding: .utf8).split(separator: "\n").first)
        try (line + "\n").write(to: one, atomically: true, encoding: .utf8)
        let applied = try permit(h, "apply", "--authority", "330106", "--key", firmKey.path, one.path, "--json")
        XCTAssertEqual(applied.status, 0, applied.stdout + applied.stderr)
        let addedDatabase = h.dir.addedAuthority("330106").database.path
        let source = try sqliteRows(addedDatabase)
        XCTAssertEqual(source["application"]?.count, 1)

        let url = try TestPostgres.shared().createDatabase()
        let first = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", url, "--json")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let second = try permit(h, "db", "copy", "--from", "sqlite:" + addedDatabase, "--to", url, "--authority", "330106", "--json")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        let summary = try second.json()
        XCTAssertEqual(summary["to"] as? String, url + " (schema a330106)")
        XCTAssertEqual((summary["sourceAudit"] as? [String: Any])?["ok"] as? Bool, true)
        XCTAssertEqual((summary["targetAudit"] as? [String: Any])?["ok"] as? Bool, true)
        let db = TestPostgres.databaseName(of: url)
        for table in ["application", "audit", "partyKey", "key"] {
            XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT count(*) FROM a330106.\(table)"), String(source[table]!.count), table)
        }
        XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT code FROM a330106.authority"), "330106")
        XCTAssertEqual(try TestPostgres.shared().psql(database: db, "SELECT code FROM public.authority"), "330114")
        let verified = try permit(h, "audit", "verify", "--database", url, "--authority", "330106", "--json")
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)

        let again = try permit(h, "db", "copy", "--from", "sqlite:" + addedDatabase, "--to", url, "--authority", "330106", "--json")
        XCTAssertEqual(again.status, 2, again.stdout + again.stderr)
        XCTAssertEqual((try again.json()["errors"] as? [[String: Any]])?.first?["code"] as? String, "copy.targetNotEmpty")
        let unknown = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", try TestPostgres.shared().createDatabase(),
                                 "--authority", "110101", "--json")
        XCTAssertEqual(unknown.status, 2, unknown.stdout + unknown.stderr)
        XCTAssertEqual((try unknown.json()["errors"] as? [[String: Any]])?.first?["code"] as? String, "authority.unknown")
    }

    /// A target that fails half-way (here a trigger refusing revocations, which are copied
    /// after the applications, decisions, permits and the audit trail) keeps nothing.
    func testACopyThatFailsHalfWayLeavesTheTargetEmpty() async throws {
        let (h, checkpoint) = try await deployment()
        defer { try? FileManager.default.removeItem(at: checkpoint) }
        let url = try TestPostgres.shared().createDatabase()
        let store = try await PostgresPermitStore(url: url)  // the schema, as any verb would make it
        await store.close()
        let db = TestPostgres.databaseName(of: url)
        try TestPostgres.shared().psql(database: db, """
            CREATE FUNCTION refuse_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the disk went away'; END $$;
            CREATE TRIGGER revocation_fails BEFORE INSERT ON revocation FOR EACH ROW EXECUTE FUNCTION refuse_revocation();
            """)
        let run = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", url, "--json")
        XCTAssertEqual(run.status, 2, run.stdout + run.stderr)
        let error = try XCTUnwrap((try run.json()["errors"] as? [[String: Any]])?.first)
        XCTAssertTrue((error["code"] as? String ?? "").hasPrefix("store."), "\(error)")
        XCTAssertTrue((error["message"] as? String ?? "").contains("the disk went away"), "\(error)")
        try assertEveryTableEmpty(url)

        // Without the failing trigger the same target takes the copy.
        try TestPostgres.shared().psql(database: db, "DROP TRIGGER revocation_fails ON revocation")
        let retried = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", url, "--json")
        XCTAssertEqual(retried.status, 0, retried.stdout + retried.stderr)
        XCTAssertEqual(try postgresRows(url), try sqliteRows(h.dir.database.path))

        // PostgreSQL to PostgreSQL.
        let other = try TestPostgres.shared().createDatabase()
        let moved = try permit(h, "db", "copy", "--from", url, "--to", other, "--json")
        XCTAssertEqual(moved.status, 0, moved.stdout + moved.stderr)
        XCTAssertEqual(try postgresRows(other), try postgresRows(url))
        XCTAssertEqual(try permit(h, "audit", "verify", "--database", other, "--checkpoint", checkpoint.path).status, 0)
    }

    /// A source whose audit fails is refused with nothing written; `--allow-unverified` copies
    /// it as it is, and the target's audit names the same row.
    func testASourceThatFailsItsAuditIsRefusedUnlessAllowed() async throws {
        let h = try await Harness(store: .sqlite)
        let (_, number) = try await h.issue(h.variant(1))
        try h.tamper("UPDATE permit SET validTo = '2099-12-31' WHERE number = '\(number)'")
        let url = try TestPostgres.shared().createDatabase()
        let refused = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", url, "--json")
        XCTAssertEqual(refused.status, 1, refused.stdout + refused.stderr)
        let error = try XCTUnwrap((try refused.json()["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(error["code"] as? String, "copy.sourceUnverified")
        XCTAssertTrue((error["message"] as? String ?? "").contains(number), "\(error)")
        try assertEveryTableEmpty(url)

        let allowed = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", url, "--allow-unverified", "--json")
        XCTAssertEqual(allowed.status, 1, "copied, and the target's audit fails as the source's did")
        let summary = try allowed.json()
        let findings = try XCTUnwrap((summary["targetAudit"] as? [String: Any])?["findings"] as? [[String: Any]])
        XCTAssertTrue(findings.contains { ($0["id"] as? String) == number }, "\(findings)")
        XCTAssertEqual(try postgresRows(url), try sqliteRows(h.dir.database.path))
    }

    /// The copy's table list is the schema's: every table and column SQLite and PostgreSQL
    /// hold (a migration that adds one must add it to `StoredTable.all`).
    func testTheCopyKnowsEveryTableAndColumnOfTheSchema() async throws {
        let h = try await Harness(store: .sqlite)
        var sqlite: [String: [String]] = [:]
        for table in try sqlite3(h.dir.database.path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").split(separator: "\n") {
            let name = String(table)
            if ["grdb_migrations", "sqlite_sequence"].contains(name) { continue }
            sqlite[name] = try sqlite3(h.dir.database.path, "SELECT name FROM pragma_table_info('\(name)') ORDER BY cid").split(separator: "\n").map(String.init)
        }
        XCTAssertEqual(sqlite, Dictionary(uniqueKeysWithValues: StoredTable.all.map { ($0.name, $0.columnNames) }))

        let url = try TestPostgres.shared().createDatabase()
        let store = try await PostgresPermitStore(url: url)
        await store.close()
        let db = TestPostgres.databaseName(of: url)
        var postgres: [String: [String]] = [:]
        for line in try TestPostgres.shared().psql(database: db, """
            SELECT table_name || ' ' || column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name <> 'schemamigration' ORDER BY table_name, ordinal_position
            """).split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            postgres[parts[0], default: []].append(parts[1])
        }
        XCTAssertEqual(postgres, Dictionary(uniqueKeysWithValues: StoredTable.all.map { ($0.name.lowercased(), $0.columnNames.map { $0.lowercased() }) }))
    }

    /// Locations that are neither kind, a missing SQLite source and the same store twice are
    /// refused before anything is opened or written.
    func testLocationsAreCheckedFirst() async throws {
        let h = try await Harness(store: .sqlite)
        let bad = try permit(h, "db", "copy", "--from", "mysql://x", "--to", "sqlite:" + FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString)").path, "--json")
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stdout.contains("\"code\":\"copy.location\""), bad.stdout)
        let missingPath = FileManager.default.temporaryDirectory.appendingPathComponent("none-\(UUID().uuidString).sqlite").path
        let missing = try permit(h, "db", "copy", "--from", "sqlite:" + missingPath, "--to", "sqlite:" + FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString)").path, "--json")
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stdout.contains("\"code\":\"copy.sourceMissing\""), missing.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missingPath), "the source is not made")
        let same = try permit(h, "db", "copy", "--from", "sqlite:" + h.dir.database.path, "--to", "sqlite:" + h.dir.database.path, "--json")
        XCTAssertEqual(same.status, 2)
        XCTAssertTrue(same.stdout.contains("\"code\":\"copy.sameDatabase\""), same.stdout)
        let help = try permit(h, "db", "copy", "--help")
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("permit db copy --from sqlite:"), help.stdout)
    }
}
