import Foundation
import PermitAPI
import PermitTestSupport
import XCTest
@testable import PermitModel
@testable import PermitWorkflow

/// Issue #13, item 1 on PostgreSQL: columns that repeat a signed document, edited through psql as
/// an insider with access to the database would, are named by `audit verify` (table, row and
/// column), and each edit undone verifies clean again. `AuditColumnsTests` goes through every
/// column on SQLite; this holds the same checks to the PostgreSQL store for the permit's and the
/// application's columns, and for the reported validTo extension.
final class AuditColumnsPostgresTests: XCTestCase {
    struct Fleet {
        let h: Harness
        var ids: [String] = []      // A000001…
        var numbers: [String] = []  // the permits, in issue order
    }

    static func makeFleet() async throws -> Fleet {
        let h = try await Harness(store: .postgres)
        var fleet = Fleet(h: h)
        for n in 1...3 {
            h.clock.advance(by: 61)
            let applied = try await h.workflow.apply([h.item(h.variant(n, plate: "浙A7777\(n)"))], key: h.firmKey)
            let id = try XCTUnwrap(applied[0].id, "\(applied[0].errors ?? [])")
            h.clock.advance(by: 61)
            let decided = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)
            fleet.ids.append(id)
            fleet.numbers.append(try XCTUnwrap(decided[0].permitNumber, "\(decided[0].errors ?? [])"))
        }
        return fleet
    }

    static func keys(_ result: AuditVerification) -> Set<String> {
        Set(result.findings.map { "\($0.table) \($0.id) \($0.column ?? "-")" })
    }

    /// One value of the database, read through psql.
    static func value(_ h: Harness, _ sql: String) throws -> String {
        try TestPostgres.shared().psql(database: TestPostgres.databaseName(of: try XCTUnwrap(h.database)), sql)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testColumnsHeldToSignedDocumentsAreNamedOnPostgreSQL() async throws {
        let fleet = try await Self.makeFleet()
        let h = fleet.h
        let (p1, p2) = (fleet.numbers[0], fleet.numbers[1])
        let a1 = fleet.ids[0], row1 = try XCTUnwrap(ApplicationRecord.rowID(of: a1))
        let clean = try await h.workflow.verifyAudit()
        XCTAssertTrue(clean.ok, "\(clean.findings)")
        XCTAssertEqual(clean.permits, 3)

        // (column to edit, its row, the value it gets, the finding expected)
        let cases: [(table: String, column: String, key: String, value: String, expected: String)] = [
            ("permit", "validTo", "number = '\(p1)'", "'2099-12-31'", "permit \(p1) validTo"),
            ("permit", "validFrom", "number = '\(p1)'", "'2026-01-01'", "permit \(p1) validFrom"),
            ("permit", "issuedAt", "number = '\(p2)'", "issuedAt + 86400000", "permit \(p2) issuedAt"),
            ("permit", "serial", "number = '\(p2)'", "999", "permit \(p2) serial"),
            ("permit", "authority", "number = '\(p1)'", "'330100'", "permit \(p1) authority"),
            ("permit", "issuerKid", "number = '\(p1)'", "'deadbeef'", "permit \(p1) issuerKid"),
            ("application", "reference", "id = \(row1)", "'QT-FORGED'", "application \(a1) reference"),
            ("application", "plate", "id = \(row1)", "'浙B99999'", "application \(a1) plate"),
        ]
        for c in cases {
            let before = try Self.value(h, "SELECT \(c.column)::text FROM \(c.table) WHERE \(c.key)")
            XCTAssertFalse(before.isEmpty, "\(c.table).\(c.column)")
            try h.tamper("UPDATE \(c.table) SET \(c.column) = \(c.value) WHERE \(c.key)")
            let edited = try await h.workflow.verifyAudit()
            XCTAssertFalse(edited.ok, "\(c.table).\(c.column) edited, and audit verify passed")
            XCTAssertTrue(Self.keys(edited).contains(c.expected), "\(c.table).\(c.column): \(Self.keys(edited).sorted())")
            // Undone, the database verifies clean again, so the next case starts from a clean one.
            let quoted = c.column == "serial" || c.column == "issuedAt" ? before : "'\(before)'"
            try h.tamper("UPDATE \(c.table) SET \(c.column) = \(quoted) WHERE \(c.key)")
            let undone = try await h.workflow.verifyAudit()
            XCTAssertTrue(undone.ok, "\(c.table).\(c.column) undone: \(undone.findings)")
        }
    }

    /// The reported case, on PostgreSQL: every permit's validTo moved to 2099; the audit names
    /// every permit, the first one first, with the sealed payload's own date.
    func testTheReportedValidToExtensionIsNamedOnPostgreSQL() async throws {
        let fleet = try await Self.makeFleet()
        let h = fleet.h
        let p1 = fleet.numbers[0]
        let sealed = try await h.workflow.status(p1).permit.validTo
        try h.tamper("update permit set validTo='2099-12-31'")
        let result = try await h.workflow.verifyAudit()
        XCTAssertFalse(result.ok)
        XCTAssertEqual(result.findings.first?.table, "permit")
        XCTAssertEqual(result.findings.first?.id, p1)
        XCTAssertEqual(result.findings.first?.column, "validTo")
        XCTAssertEqual(result.findings.first?.message, "permit \(p1): validTo 2099-12-31 differs from the sealed payload's \(sealed)")
        XCTAssertEqual(Set(result.findings.map(\.id)), Set(fleet.numbers))
    }
}
