import Foundation
import PermitTestSupport
import PermitFoundation
import PermitAPI
import GRDB
import XCTest
@testable import PermitModel
@testable import PermitSeal
@testable import PermitStore
@testable import PermitWorkflow

/// Issue #13, item 1: every stored value derived from a signed document is held to it. Each test
/// edits the database as an insider with the file would (the sqlite3 tool, or GRDB), on a fresh
/// copy of one database, and expects `audit verify` to name exactly the row and column edited.
final class AuditColumnsTests: XCTestCase {

    /// A data directory with every kind of row: permits with conditions, superseded, revoked and
    /// amended; applications pending, rejected, cancelled and blacklisted; a revocation list and a
    /// stored checkpoint.
    struct Fleet {
        let h: Harness
        /// A consistent copy of the database (SQLite's online backup).
        let golden: URL
        var ids: [String: String] = [:]      // a1…a10 → A000001…
        var rows: [String: Int64] = [:]      // a1…a10 → row id
        var numbers: [String: String] = [:] // p1…p6 → permit number
        var decisions: [String: Int64] = [:] // d1 (a1 HEALTH), d5 (a5 reject), d7 (a7 POSTAL), d10 (a10 carried)
    }

    static func makeFleet() async throws -> Fleet {
        let h = try await Harness()
        var ids: [String: String] = [:]
        var numbers: [String: String] = [:]
        func tick() { h.clock.advance(by: 61) }
        func apply(_ name: String, _ app: Application) async throws -> String {
            tick()
            let r = try await h.workflow.apply([h.item(app)], key: h.firmKey)
            let id = try XCTUnwrap(r[0].id, "\(r[0].errors ?? [])")
            ids[name] = id
            return id
        }
        func approve(_ department: Department, _ id: String, conditions: [String] = []) async throws -> String? {
            tick()
            let d = try await h.workflow.decide(department: department, key: h.approvers[department]!, identifiers: [id], decision: .approve,
                                          conditions: conditions)
            XCTAssertNil(d[0].errors)
            return d[0].permitNumber
        }
        // p1: an active permit with a condition.
        let v22 = try await apply("a1", h.variant(1, categories: ["medical-supplies"]))
        let u1 = try await approve(.health, v22, conditions: ["限夜间通行"])
        numbers["p1"] = try XCTUnwrap(u1)
        // p2 superseded by p3: the same vehicle and route, overlapping.
        let v20 = try await apply("a2", h.variant(2, plate: "浙A55555"))
        let u2 = try await approve(.health, v20)
        numbers["p2"] = try XCTUnwrap(u2)
        let v18 = try await apply("a3", h.variant(3, plate: "浙A55555"))
        let u3 = try await approve(.health, v18)
        numbers["p3"] = try XCTUnwrap(u3)
        // p8: the same vehicle and route after p3's window: it supersedes nothing.
        let v16 = try await apply("a12", h.variant(12, plate: "浙A55555", from: "2026-12-16", to: "2026-12-20"))
        let u4 = try await approve(.health, v16)
        numbers["p8"] = try XCTUnwrap(u4)
        // p4 revoked by an admin.
        let v14 = try await apply("a4", h.variant(4))
        let u5 = try await approve(.health, v14)
        numbers["p4"] = try XCTUnwrap(u5)
        tick()
        try await h.workflow.revoke(number: numbers["p4"]!, reason: "违规", adminKey: h.admin)
        // a5 rejected, a6 cancelled, a7 pending with one of two departments approved, a8 blacklisted.
        let a5 = try await apply("a5", h.variant(5))
        tick()
        _ = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [a5], decision: .reject, reason: "资料不全")
        let a6 = try await apply("a6", h.variant(6))
        tick()
        _ = try await h.workflow.cancel(a6, key: h.firmKey, reason: "不需要了")
        let a7 = try await apply("a7", h.variant(7, categories: ["medical-supplies", "mail-and-parcels"]))
        let v13 = try await approve(.postal, a7)
        XCTAssertNil(v13)
        _ = try await apply("a8", h.variant(8))
        tick()
        _ = try await h.workflow.blacklistAdd(kind: .plate, value: h.variant(8).vehicle.plate, reason: "多次违规", until: nil, revokeActive: false, adminKey: h.admin)
        // p5 amended by a10 (crew only: the approval carries over) into p6, which supersedes it.
        let v11 = try await apply("a9", h.variant(9))
        let u6 = try await approve(.health, v11)
        numbers["p5"] = try XCTUnwrap(u6)
        var changed = h.variant(9)
        changed.crew[1].name = "李红梅"
        tick()
        let amended = try await h.workflow.amend(number: numbers["p5"]!, application: changed, key: h.firmKey)
        ids["a10"] = amended.id
        numbers["p6"] = try XCTUnwrap(amended.permitNumber)
        // p7: another firm's permit.
        var other = h.variant(11)
        other.applicant.creditCode = "91110108MA01AAAA1B".creditCodeFixed
        other.applicant.name = "北京某物流有限公司"
        tick()
        let r = try await h.workflow.apply([h.item(other)], key: h.otherFirmKey)
        ids["a11"] = try XCTUnwrap(r[0].id, "\(r[0].errors ?? [])")
        let v10 = try await approve(.health, ids["a11"]!)
        numbers["p7"] = try XCTUnwrap(v10)
        tick()
        try await h.workflow.exportRevocations(to: h.dir.revocations)
        _ = try await h.workflow.auditCheckpoint()

        let golden = FileManager.default.temporaryDirectory.appendingPathComponent("permit-audcol-golden-\(UUID().uuidString).sqlite")
        try h.workflow.backup(to: golden)
        var fleet = Fleet(h: h, golden: golden, ids: ids, numbers: numbers)
        for (name, id) in ids { fleet.rows[name] = ApplicationRecord.rowID(of: id) }
        let decisions = try await h.workflow.store.read { try $0.allDecisions() }
        func decision(_ app: String, _ department: String) throws -> Int64 {
            try XCTUnwrap(decisions.first { $0.applicationID == fleet.rows[app] && $0.department == department }?.id)
        }
        fleet.decisions = ["d1": try decision("a1", "HEALTH"), "d5": try decision("a5", "HEALTH"), "d7": try decision("a7", "POSTAL"),
                           "d10": try decision("a10", "HEALTH")]
        return fleet
    }

    /// A fresh data directory holding a copy of the golden database (and the same keys, trust
    /// list, revocation list and routing table).
    static func copy(_ fleet: Fleet) throws -> DataDirectory {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("permit-audcol-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fleet.h.dir.url, to: url)
        let dir = DataDirectory(url: url)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir.database.path + suffix) }
        try FileManager.default.copyItem(at: fleet.golden, to: dir.database)
        return dir
    }

    /// Runs SQL with the sqlite3 command-line tool on a database file, as an insider would.
    static func sqlite(_ database: URL, _ sql: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [database.path, sql]
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, "sqlite3: \(message)")
    }

    /// `table id column` for each finding; `-` when the finding names no column (the first pass:
    /// signatures, digests, the payload's number, plate and signature hash).
    static func keys(_ result: AuditVerification) -> Set<String> {
        Set(result.findings.map { "\($0.table) \($0.id) \($0.column ?? "-")" })
    }

    func testEveryColumnHeldToASignedDocumentIsNamedWhenEditedAlone() async throws {
        let fleet = try await Self.makeFleet()
        defer { try? FileManager.default.removeItem(at: fleet.golden) }
        let ids = fleet.ids, rows = fleet.rows, n = fleet.numbers, d = fleet.decisions
        let (a1, a5, a6, a7, a10) = (ids["a1"]!, ids["a5"]!, ids["a6"]!, ids["a7"]!, ids["a10"]!)
        let firm = fleet.h.application.applicant.name
        let otherCode = "91110108MA01AAAA1B".creditCodeFixed
        let otherKid = fleet.h.otherFirmKey.publicKey.kidHex
        let zeros = String(repeating: "0", count: 64)
        let firmKid = fleet.h.firmKey.publicKey.kidHex
        let firmApplications = Set((Array(1...10) + [12]).map { "application \(ids["a\($0)"]!) applicantKid" })

        // The untouched copy verifies clean, so that every case below can fail both ways.
        let clean = try Self.copy(fleet)
        defer { try? FileManager.default.removeItem(at: clean.url) }
        let untouched = try await Workflow(directory: clean, clock: fleet.h.clock).verifyAudit()
        XCTAssertTrue(untouched.ok, "\(untouched.findings)")
        XCTAssertEqual(untouched.permits, 8)
        XCTAssertEqual(untouched.applications, 12)
        XCTAssertTrue(untouched.trustListChecked)

        let cases: [(sql: String, expected: Set<String>)] = [
            // permit: each column against the sealed payload
            ("UPDATE permit SET validTo = '2099-12-31' WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) validTo"]),
            ("UPDATE permit SET validFrom = '2026-01-01' WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) validFrom"]),
            ("UPDATE permit SET issuedAt = issuedAt + 86400000 WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) issuedAt"]),
            ("UPDATE permit SET serial = 999 WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) serial"]),
            ("UPDATE permit SET authority = '330100' WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) authority"]),
            ("UPDATE permit SET issuerKid = 'deadbeef' WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) issuerKid"]),
            ("UPDATE permit SET signatureHash = '\(String(zeros.prefix(32)))' WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) -"]),
            ("UPDATE permit SET number = '330114999999' WHERE number = '\(n["p1"]!)'", ["permit 330114999999 -"]),
            // the permit document: a field outside the payload, and one in it (the firm's name)
            ("UPDATE permit SET document = CAST(replace(CAST(document AS TEXT), '\"QT-TEST-1\"', '\"QT-FORGED\"') AS BLOB) WHERE number = '\(n["p1"]!)'",
             ["permit \(n["p1"]!) document"]),
            ("UPDATE permit SET document = CAST(replace(CAST(document AS TEXT), '\(firm)', '伪造物流') AS BLOB) WHERE number = '\(n["p1"]!)'",
             ["permit \(n["p1"]!) document"]),
            // the permit moved onto another application: both applications' states no longer hold
            ("UPDATE permit SET applicationID = \(rows["a7"]!) WHERE number = '\(n["p1"]!)'",
             ["permit \(n["p1"]!) -", "application \(a1) state", "application \(a7) state"]),
            // supersession links, against the audit trail's supersede events
            ("UPDATE permit SET supersededBy = NULL WHERE number = '\(n["p2"]!)'", ["permit \(n["p2"]!) supersededBy"]),
            ("UPDATE permit SET supersededBy = '\(n["p1"]!)' WHERE number = '\(n["p2"]!)'", ["permit \(n["p2"]!) supersededBy"]),
            ("UPDATE permit SET supersedes = NULL WHERE number = '\(n["p3"]!)'", ["permit \(n["p3"]!) supersedes"]),
            ("UPDATE permit SET supersedes = '\(n["p4"]!)' WHERE number = '\(n["p1"]!)'", ["permit \(n["p1"]!) supersedes"]),
            ("UPDATE permit SET supersededBy = '\(n["p1"]!)' WHERE number = '\(n["p4"]!)'", ["permit \(n["p4"]!) supersededBy"]),
            // not derived from anything signed: a measurement, not held
            ("UPDATE permit SET decisionToIssueMicros = 1 WHERE number = '\(n["p1"]!)'", []),

            // application: against the signed submission and the document it signs
            ("UPDATE application SET reference = 'QT-FORGED' WHERE id = \(rows["a1"]!)", ["application \(a1) reference"]),
            ("UPDATE application SET creditCode = '\(otherCode)' WHERE id = \(rows["a1"]!)", ["application \(a1) creditCode"]),
            ("UPDATE application SET plate = '浙B99999' WHERE id = \(rows["a1"]!)", ["application \(a1) plate", "permit \(n["p1"]!) -"]),
            ("UPDATE application SET submittedAt = submittedAt + 86400000 WHERE id = \(rows["a1"]!)", ["application \(a1) submittedAt"]),
            ("UPDATE application SET digest = '\(zeros)' WHERE id = \(rows["a1"]!)",
             ["application \(a1) -", "application \(a1) digest", "decision \(d["d1"]!) -"]),
            ("UPDATE application SET applicantKid = '\(otherKid)' WHERE id = \(rows["a1"]!)", ["application \(a1) applicantKid"]),
            ("UPDATE application SET submission = X'00' WHERE id = \(rows["a1"]!)", ["application \(a1) submission"]),
            ("UPDATE application SET submission = substr(submission, 1, length(submission) - 1) || CASE WHEN substr(submission, -1) = X'00' THEN X'01' ELSE X'00' END WHERE id = \(rows["a1"]!)",
             ["application \(a1) submission"]),
            // the firm's registered key removed, or moved to another firm: every submission it signed
            ("DELETE FROM partyKey WHERE kid = '\(firmKid)'", firmApplications),
            ("UPDATE partyKey SET party = '\(otherCode)' WHERE kid = '\(firmKid)'", firmApplications),
            ("UPDATE application SET routing = CAST('x' AS BLOB) WHERE id = \(rows["a1"]!)", ["application \(a1) routing"]),
            ("UPDATE application SET routingHash = '\(zeros)' WHERE id = \(rows["a1"]!)", ["application \(a1) routingHash"]),
            ("UPDATE application SET routing = CAST(replace(CAST(routing AS TEXT), 'HEALTH', 'POSTAL') AS BLOB) WHERE id = \(rows["a1"]!)",
             ["application \(a1) routing"]),
            ("UPDATE application SET closedAt = closedAt + 86400000 WHERE id = \(rows["a1"]!)", ["application \(a1) closedAt"]),
            ("UPDATE application SET permitNumber = '\(n["p4"]!)' WHERE id = \(rows["a1"]!)", ["application \(a1) permitNumber", "permit \(n["p1"]!) -"]),
            ("UPDATE application SET amends = '\(n["p4"]!)' WHERE id = \(rows["a1"]!)", ["application \(a1) amends"]),
            ("UPDATE application SET amends = '\(n["p7"]!)' WHERE id = \(rows["a1"]!)", ["application \(a1) amends"]),
            ("UPDATE application SET amends = NULL WHERE id = \(rows["a10"]!)", ["application \(a10) amends", "decision \(d["d10"]!) -"]),
            ("UPDATE application SET closedAt = 1 WHERE id = \(rows["a7"]!)", ["application \(a7) closedAt"]),
            ("UPDATE application SET closeReason = 'x' WHERE id = \(rows["a7"]!)", ["application \(a7) closeReason"]),
            ("UPDATE application SET closeReason = 'x' WHERE id = \(rows["a1"]!)", ["application \(a1) closeReason"]),
            ("UPDATE application SET permitNumber = '330114999999' WHERE id = \(rows["a7"]!)", ["application \(a7) permitNumber"]),
            ("UPDATE application SET amends = '\(n["p1"]!)' WHERE id = \(rows["a10"]!)", ["application \(a10) amends", "decision \(d["d10"]!) -"]),
            ("UPDATE application SET closedAt = closedAt + 1000 WHERE id = \(rows["a5"]!)", ["application \(a5) closedAt"]),
            ("UPDATE application SET closeReason = 'x' WHERE id = \(rows["a5"]!)", ["application \(a5) closeReason"]),
            ("UPDATE application SET closeReason = 'x' WHERE id = \(rows["a6"]!)", ["application \(a6) closeReason"]),
            // application state: against the decisions, the permit and the audit trail
            ("UPDATE application SET state = 'pending' WHERE id = \(rows["a1"]!)", ["application \(a1) state"]),
            ("UPDATE application SET state = 'pending' WHERE id = \(rows["a5"]!)", ["application \(a5) state"]),
            ("UPDATE application SET state = 'pending' WHERE id = \(rows["a6"]!)", ["application \(a6) state"]),
            ("UPDATE application SET state = 'cancelled' WHERE id = \(rows["a7"]!)", ["application \(a7) state"]),
            ("UPDATE application SET state = 'issued' WHERE id = \(rows["a7"]!)", ["application \(a7) state"]),

            // decision: against the signed decision
            ("UPDATE decision SET decidedAt = decidedAt + 1000 WHERE id = \(d["d1"]!)", ["decision \(d["d1"]!) decidedAt"]),
            ("UPDATE decision SET reason = 'x' WHERE id = \(d["d1"]!)", ["decision \(d["d1"]!) reason"]),
            ("UPDATE decision SET conditions = '[\"x\"]' WHERE id = \(d["d5"]!)", ["decision \(d["d5"]!) conditions"]),
            ("UPDATE decision SET department = 'POSTAL' WHERE id = \(d["d1"]!)", ["decision \(d["d1"]!) -"]),
            ("UPDATE decision SET conditions = '[\"x\"]' WHERE id = \(d["d1"]!)", ["decision \(d["d1"]!) -"]),
            ("UPDATE decision SET reason = 'x' WHERE id = \(d["d5"]!)", ["decision \(d["d5"]!) -"]),
            ("UPDATE decision SET decision = 'approve' WHERE id = \(d["d5"]!)", ["decision \(d["d5"]!) -"]),
            ("UPDATE decision SET approverKid = 'deadbeef' WHERE id = \(d["d1"]!)", ["decision \(d["d1"]!) -"]),
            ("UPDATE decision SET carriedFrom = NULL WHERE id = \(d["d10"]!)", ["decision \(d["d10"]!) -"]),

            // requiredDepartment: against the routing and the signed decisions
            ("UPDATE requiredDepartment SET state = 'pending' WHERE applicationID = \(rows["a7"]!) AND department = 'POSTAL'",
             ["requiredDepartment \(a7)/POSTAL state"]),
            ("UPDATE requiredDepartment SET state = 'approved' WHERE applicationID = \(rows["a7"]!) AND department = 'HEALTH'",
             ["requiredDepartment \(a7)/HEALTH state"]),
            ("UPDATE requiredDepartment SET decidedAt = decidedAt + 1000 WHERE applicationID = \(rows["a1"]!)", ["requiredDepartment \(a1)/HEALTH decidedAt"]),
            ("UPDATE requiredDepartment SET dueAt = dueAt + 3600000 WHERE applicationID = \(rows["a7"]!) AND department = 'HEALTH'",
             ["requiredDepartment \(a7)/HEALTH dueAt"]),
            ("UPDATE requiredDepartment SET decidedAt = 1 WHERE applicationID = \(rows["a7"]!) AND department = 'HEALTH'",
             ["requiredDepartment \(a7)/HEALTH decidedAt"]),
            ("INSERT INTO requiredDepartment (applicationID, department, state, dueAt) SELECT applicationID, 'TRANSPORT', 'pending', dueAt FROM requiredDepartment WHERE applicationID = \(rows["a7"]!) AND department = 'HEALTH'",
             ["requiredDepartment \(a7)/TRANSPORT department"]),
            ("DELETE FROM requiredDepartment WHERE applicationID = \(rows["a7"]!) AND department = 'HEALTH'",
             ["requiredDepartment \(a7)/HEALTH department"]),

            // revocation: against its audit event and the signed revocation list
            ("UPDATE revocation SET reason = 'x' WHERE number = '\(n["p4"]!)'", ["revocation \(n["p4"]!) reason"]),
            ("UPDATE revocation SET actor = 'admin:x' WHERE number = '\(n["p4"]!)'", ["revocation \(n["p4"]!) actor"]),
            ("UPDATE revocation SET revokedAt = revokedAt + 1000 WHERE number = '\(n["p4"]!)'", ["revocation \(n["p4"]!) revokedAt"]),
            ("DELETE FROM revocation WHERE number = '\(n["p4"]!)'", ["revocation \(n["p4"]!) number"]),
            ("INSERT INTO revocation (number, revokedAt, reason, actor) VALUES ('\(n["p1"]!)', 1, '违规', 'admin:x')", ["revocation \(n["p1"]!) number"]),
            // a decision deleted: the permit's departments and the required row no longer hold
            ("DELETE FROM decision WHERE id = \(d["d1"]!)",
             ["permit \(n["p1"]!) approvedBy", "requiredDepartment \(a1)/HEALTH state", "requiredDepartment \(a1)/HEALTH decidedAt"]),
            // the permit moved onto another application, with that application made to match it
            ("""
             UPDATE permit SET applicationID = \(rows["a7"]!) WHERE number = '\(n["p1"]!)';
             UPDATE application SET permitNumber = '\(n["p1"]!)', plate = (SELECT plate FROM application WHERE id = \(rows["a1"]!)) WHERE id = \(rows["a7"]!);
             """, ["permit \(n["p1"]!) applicationID", "permit \(n["p1"]!) approvedBy", "application \(a7) plate", "application \(a7) state", "application \(a1) state"]),
            ("UPDATE revocation SET reason = '违规' WHERE number = '\(n["p2"]!)'", ["revocation \(n["p2"]!) reason"]),

            // auditCheckpoint: against the signed checkpoint it stores
            ("UPDATE auditCheckpoint SET length = length - 1", ["auditCheckpoint 1 length"]),
            ("UPDATE auditCheckpoint SET headHash = '\(zeros)'", ["auditCheckpoint 1 headHash"]),
            ("UPDATE auditCheckpoint SET at = at + 5000", ["auditCheckpoint 1 at"]),
            ("UPDATE auditCheckpoint SET signerKid = 'deadbeef'", ["auditCheckpoint 1 signerKid"]),
        ]
        for (sql, expected) in cases {
            let dir = try Self.copy(fleet)
            defer { try? FileManager.default.removeItem(at: dir.url) }
            try Self.sqlite(dir.database, sql)
            let result = try await Workflow(directory: dir, clock: fleet.h.clock).verifyAudit()
            var found = Self.keys(result)
            if sql.contains("FROM partyKey") || sql.contains("UPDATE partyKey") {
                // The firm's key row is also held to its signed registration, and the requests it
                // signed (its cancellation) to it: those checks name their own rows as well.
                let signedRequestChecks = Set(result.findings.filter { ["signedRequest", "partyKey", "audit"].contains($0.table) }
                    .map { "\($0.table) \($0.id) \($0.column ?? "-")" })
                XCTAssertFalse(signedRequestChecks.isEmpty, sql)
                found.subtract(signedRequestChecks)
            }
            XCTAssertEqual(found, expected, "\(sql)\n\(result.findings.map(\.message).joined(separator: "\n"))")
            for f in result.findings where f.column != nil {
                XCTAssertTrue(f.message.hasPrefix("\(f.table) \(f.id): "), f.message)
            }
        }

        // A revocation row is held twice: to its audit event and to the signed revocation list;
        // each source names it on its own.
        let p4 = n["p4"]!
        for (sql, withList, needles) in [
            ("UPDATE revocation SET reason = 'x' WHERE number = '\(p4)'", true, ["differs from its revoke event's \"违规\"", "differs from the signed revocation list's \"违规\""]),
            ("UPDATE revocation SET reason = 'x' WHERE number = '\(p4)'", false, ["differs from its revoke event's \"违规\""]),
            ("DELETE FROM revocation WHERE number = '\(p4)'", true, ["the audit trail records its revoke", "is on the signed revocation list"]),
            ("DELETE FROM revocation WHERE number = '\(p4)'", false, ["the audit trail records its revoke"]),
        ] {
            let dir = try Self.copy(fleet)
            defer { try? FileManager.default.removeItem(at: dir.url) }
            if !withList { try FileManager.default.removeItem(at: dir.revocations) }
            try Self.sqlite(dir.database, sql)
            let result = try await Workflow(directory: dir, clock: fleet.h.clock).verifyAudit()
            XCTAssertEqual(result.findings.count, needles.count, "\(sql) \(withList)\n\(result.findings.map(\.message))")
            for needle in needles {
                XCTAssertTrue(result.findings.contains { $0.table == "revocation" && $0.id == p4 && $0.message.contains(needle) },
                              "\(sql) \(withList): \(needle)\n\(result.findings.map(\.message))")
            }
        }

        // Checks that share a row and column with another one, told apart by their messages.
        let p1 = n["p1"]!
        for (sql, needles) in [
            ("UPDATE application SET submission = CAST(substr(submission, 1, length(submission) - 1) || CASE WHEN substr(submission, -1) = X'00' THEN X'01' ELSE X'00' END AS BLOB) WHERE id = \(rows["a1"]!)",
             [("application \(a1) submission", "does not verify with applicant key")]),
            ("UPDATE revocation SET reason = 'superseded' WHERE number = '\(p4)'",
             [("revocation \(p4) reason", "but it was recorded by a revoke event")]),
            ("""
             UPDATE permit SET applicationID = \(rows["a7"]!) WHERE number = '\(p1)';
             UPDATE application SET permitNumber = '\(p1)', plate = (SELECT plate FROM application WHERE id = \(rows["a1"]!)) WHERE id = \(rows["a7"]!);
             """,
             [("permit \(p1) applicationID", "but its sealed document is application \(a1)'s"),
              ("permit \(p1) applicationID", "the sealed payload is not of application \(a7)'s signed document")]),
        ] {
            let dir = try Self.copy(fleet)
            defer { try? FileManager.default.removeItem(at: dir.url) }
            try Self.sqlite(dir.database, sql)
            let result = try await Workflow(directory: dir, clock: fleet.h.clock).verifyAudit()
            for (key, needle) in needles {
                XCTAssertTrue(result.findings.contains { "\($0.table) \($0.id) \($0.column ?? "-")" == key && $0.message.contains(needle) },
                              "\(sql): \(key) \(needle)\n\(result.findings.map(\.message))")
            }
        }

        // The HEALTH approver (or whoever holds its key) re-signs p1's approval without its
        // condition: the decision holds, and the permit's sealed conditions no longer match it.
        let dir = try Self.copy(fleet)
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let q = try DatabaseQueue(path: dir.database.path)
        try await q.write { db in
            let row = try XCTUnwrap(try Row.fetchOne(db, sql: "SELECT decidedAt FROM decision WHERE id = ?", arguments: [d["d1"]!]))
            let digest: String = try XCTUnwrap(try String.fetchOne(db, sql: "SELECT digest FROM application WHERE id = ?", arguments: [rows["a1"]!]))
            let ms: Int64 = row["decidedAt"]
            let signature = DecisionSignature.sign(digest: Hex.decode(digest)!, department: .health, approve: true, conditions: [], reason: nil,
                                                   at: Date(timeIntervalSince1970: Double(ms) / 1000), key: fleet.h.approvers[.health]!)
            try db.execute(sql: "UPDATE decision SET signature = ?, conditions = '[]' WHERE id = ?", arguments: [Data(signature), d["d1"]!])
        }
        let resigned = try await Workflow(directory: dir, clock: fleet.h.clock).verifyAudit()
        XCTAssertEqual(Self.keys(resigned), ["permit \(p1) conditions"], "\(resigned.findings.map(\.message))")
    }

    /// An insider who also rewrites the audit trail (the chain rebuilt consistently, the stored
    /// checkpoints removed; only a kept checkpoint would show that) still cannot make a
    /// supersession or a revocation hash that the sealed payloads contradict.
    func testASupersessionOrRevocationForgedInTheRebuiltAuditTrailTooIsNamedByThePayloads() async throws {
        let fleet = try await Self.makeFleet()
        defer { try? FileManager.default.removeItem(at: fleet.golden) }
        let n = fleet.numbers
        let (p1, p2, p3, p4, p6, p8) = (n["p1"]!, n["p2"]!, n["p3"]!, n["p4"]!, n["p6"]!, n["p8"]!)
        let cases: [(action: String, number: String, from: String, to: String, sql: String, expected: Set<String>, needle: String)] = [
            // p2 "superseded by" p1, issued before it
            ("supersede", p2, "\"supersededBy\":\"\(p3)\"", "\"supersededBy\":\"\(p1)\"",
             "UPDATE permit SET supersededBy = '\(p1)' WHERE number = '\(p2)'; UPDATE permit SET supersedes = '\(p2)' WHERE number = '\(p1)'; UPDATE permit SET supersedes = NULL WHERE number = '\(p3)'",
             ["permit \(p2) supersededBy"], "which was not issued after it"),
            // p2 "superseded by" p6, another vehicle that does not amend it
            ("supersede", p2, "\"supersededBy\":\"\(p3)\"", "\"supersededBy\":\"\(p6)\"",
             "UPDATE permit SET supersededBy = '\(p6)' WHERE number = '\(p2)'; UPDATE permit SET supersedes = NULL WHERE number = '\(p3)'",
             ["permit \(p2) supersededBy"], "another vehicle or route"),
            // p2 "superseded by" p8, the same vehicle and route in a later window
            ("supersede", p2, "\"supersededBy\":\"\(p3)\"", "\"supersededBy\":\"\(p8)\"",
             "UPDATE permit SET supersededBy = '\(p8)' WHERE number = '\(p2)'; UPDATE permit SET supersedes = '\(p2)' WHERE number = '\(p8)'; UPDATE permit SET supersedes = NULL WHERE number = '\(p3)'",
             ["permit \(p2) supersededBy"], "whose validity does not overlap"),
            // p4's revocation recorded with another hash
            ("revoke", p4, "\"signatureHash\":\"", "\"signatureHash\":\"00", "SELECT 1", ["revocation \(p4) signatureHash"], "not the sealed payload's"),
        ]
        for c in cases {
            let dir = try Self.copy(fleet)
            defer { try? FileManager.default.removeItem(at: dir.url) }
            let workflow = try await Workflow(directory: dir, clock: fleet.h.clock)
            let v9 = try await workflow.auditLog(subject: nil).first {
                $0.action == c.action && String(decoding: $0.content, as: UTF8.self).contains("\"number\":\"\(c.number)\"")
            }
            let event = try XCTUnwrap(v9)
            let text = String(decoding: event.content, as: UTF8.self)
            XCTAssertTrue(text.contains(c.from), text)
            try AuditChainTests.rewrite(dir.database, seq: event.seq, content: Data(text.replacingOccurrences(of: c.from, with: c.to).utf8), relink: true)
            try Self.sqlite(dir.database, c.sql + "; DELETE FROM auditCheckpoint")
            let v8 = try await workflow.auditLog(subject: nil)
            XCTAssertNil(AuditChain.firstBrokenLink(v8))
            let result = try await workflow.verifyAudit()
            XCTAssertEqual(Self.keys(result), c.expected, "\(c.sql)\n\(result.findings.map(\.message).joined(separator: "\n"))")
            XCTAssertTrue(result.findings.contains { $0.message.contains(c.needle) }, "\(result.findings.map(\.message))")
        }
    }

    /// The reported case: `update permit set validTo='2099-12-31'` on every row. `permit list
    /// --state active` still reads the column, so the expired permit counts as active; the audit
    /// names every permit, the first one first, with the payload's own date.
    func testTheReportedValidToExtensionIsNamedForEveryPermit() async throws {
        let fleet = try await Self.makeFleet()
        defer { try? FileManager.default.removeItem(at: fleet.golden) }
        let dir = try Self.copy(fleet)
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let p1 = fleet.numbers["p1"]!
        let v7 = try await fleet.h.workflow.status(p1).permit.validTo
        let validTo = try XCTUnwrap(v7)
        try Self.sqlite(dir.database, "update permit set validTo='2099-12-31'")

        let clock = FixedClock(fleet.h.chinaTime("2027-01-10T04:00:00Z"))
        let workflow = try await Workflow(directory: dir, clock: clock)
        let v6 = try await workflow.status(p1).state
        XCTAssertEqual(v6, .active, "the state is still computed from the column")
        let result = try await workflow.verifyAudit()
        XCTAssertFalse(result.ok)
        XCTAssertEqual(result.findings.first?.table, "permit")
        XCTAssertEqual(result.findings.first?.id, p1)
        XCTAssertEqual(result.findings.first?.column, "validTo")
        XCTAssertEqual(result.findings.first?.message, "permit \(p1): validTo 2099-12-31 differs from the sealed payload's \(validTo)")
        XCTAssertEqual(Set(result.findings.map(\.id)), Set(fleet.numbers.values))
        XCTAssertEqual(Set(result.findings.map { $0.column ?? "-" }), ["validTo"])
    }
}
