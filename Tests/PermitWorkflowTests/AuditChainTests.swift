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

/// The audit chain's two deeper checks, each exercised alone: an event rewritten with a correctly
/// recomputed hash is revealed only by the next event's link; a chain rebuilt consistently from
/// an event on is revealed only by a checkpoint kept elsewhere.
class AuditChainTests: StoreTestCase {

    /// Rewrites event `seq`'s content, as an insider who drops the append-only trigger would, and
    /// stores its correctly recomputed hash; with `relink`, every later event is re-linked and
    /// re-hashed too, so the chain is whole again.
    static func rewrite(_ database: URL, seq: Int64, content: Data, relink: Bool) throws {
        let q = try DatabaseQueue(path: database.path)
        try q.write { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS audit_no_update")
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE seq >= ? ORDER BY seq", arguments: [seq])
            var prev: String?
            for row in rows {
                let s: Int64 = row["seq"]
                guard s == seq || relink else { break }
                let body: Data = s == seq ? content : row["content"]
                let prevHash: String = prev ?? row["prevHash"]
                let hash = AuditChain.hash(seq: s, atMillis: row["at"], actor: row["actor"], action: row["action"], subject: row["subject"],
                                           content: body, prevHash: prevHash)
                try db.execute(sql: "UPDATE audit SET content = ?, prevHash = ?, hash = ? WHERE seq = ?", arguments: [body, prevHash, hash, s])
                prev = hash
            }
        }
    }

    /// The `apply` event of the first application: content no other check reads.
    static func applyEvent(_ h: Harness) async throws -> AuditEvent {
        let v5 = try await h.workflow.auditLog(subject: nil).first { $0.action == "apply" }
        return try XCTUnwrap(v5)
    }

    func testAnEventRewrittenWithItsHashRecomputedIsNamedByTheNextEventsLink() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.issue(h.application)
        _ = try await h.issue(h.variant(1))
        let v4 = try await h.workflow.verifyAudit().ok
        XCTAssertTrue(v4)
        let target = try await Self.applyEvent(h)
        let forged = Data(String(decoding: target.content, as: UTF8.self).replacingOccurrences(of: h.application.reference, with: "FORGED").utf8)
        XCTAssertNotEqual(forged, target.content)
        try await h.rewriteAudit(seq: target.seq, content: forged, relink: false)

        // The event's own hash holds: only the next event's link reveals it.
        let events = try await h.workflow.auditLog(subject: nil)
        let edited = try XCTUnwrap(events.first { $0.seq == target.seq })
        XCTAssertEqual(edited.content, forged)
        XCTAssertEqual(AuditChain.hash(seq: edited.seq, atMillis: Int64((edited.at.timeIntervalSince1970 * 1000).rounded()), actor: edited.actor,
                                       action: edited.action, subject: edited.subject, content: edited.content, prevHash: edited.prevHash), edited.hash)
        let result = try await h.workflow.verifyAudit()
        XCTAssertEqual(result.findings.count, 1, "\(result.findings)")
        XCTAssertEqual(result.findings.first?.table, "audit")
        XCTAssertEqual(result.findings.first?.id, String(target.seq + 1))
        XCTAssertEqual(result.findings.first?.message, "audit event \(target.seq + 1): its previous-hash link does not match event \(target.seq)")
    }

    func testAChainRebuiltFromAnEventOnIsNamedOnlyByAKeptCheckpoint() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.issue(h.application)
        let early = h.dir.url.appendingPathComponent("early.cose")
        try await Data(try h.workflow.auditCheckpoint().1).write(to: early)
        let earlyLength = try await h.workflow.auditLog(subject: nil).count
        _ = try await h.issue(h.variant(1))
        _ = try await h.issue(h.variant(2))
        let kept = h.dir.url.appendingPathComponent("kept.cose")
        let (checkpoint, bytes) = try await h.workflow.auditCheckpoint()
        try Data(bytes).write(to: kept)
        let v3 = try await h.workflow.verifyAudit(checkpointFiles: [early, kept]).ok
        XCTAssertTrue(v3)

        // Rewrite the apply event of variant 1 (past the early checkpoint) and rebuild every
        // later event; the stored checkpoints go too, as an insider would remove them.
        let v2 = try await h.workflow.auditLog(subject: nil).first { $0.action == "apply" && $0.seq > Int64(earlyLength) }
        let target = try XCTUnwrap(v2)
        let forged = Data(String(decoding: target.content, as: UTF8.self).replacingOccurrences(of: "QT-TEST-1", with: "FORGED").utf8)
        XCTAssertNotEqual(forged, target.content)
        try await h.rewriteAudit(seq: target.seq, content: forged, relink: true)
        try h.tamper("DELETE FROM auditCheckpoint")

        // The chain is whole and nothing in the database says otherwise…
        let v1 = try await h.workflow.auditLog(subject: nil)
        XCTAssertNil(AuditChain.firstBrokenLink(v1))
        let alone = try await h.workflow.verifyAudit()
        XCTAssertTrue(alone.ok, "\(alone.findings)")
        // …but the checkpoint kept elsewhere names the range past the last one that still matches.
        let result = try await h.workflow.verifyAudit(checkpointFiles: [early, kept])
        XCTAssertEqual(result.findings.count, 1, "\(result.findings)")
        XCTAssertEqual(result.findings.first?.table, "audit")
        XCTAssertEqual(result.findings.first?.id, String(earlyLength + 1))
        let message = try XCTUnwrap(result.findings.first?.message)
        XCTAssertTrue(message.hasPrefix("rebuilt: checkpoint kept.cose"), message)
        XCTAssertTrue(message.contains("events \(earlyLength + 1)…\(checkpoint.length) differ"), message)
    }

    /// `audit verify --since-checkpoint`: refused with no checkpoint; from the latest one it
    /// names an event tampered after it, but not one tampered before it, which only the full
    /// verify names (as the help and the README say).
    func testSinceCheckpointNamesATamperedEventAfterTheCheckpointAndOnlyTheFullVerifyOneBefore() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.issue(h.application)
        do {
            _ = try await h.workflow.verifyAuditSinceCheckpoint()
            XCTFail("verified with no checkpoint")
        } catch let error as WorkflowError {
            XCTAssertEqual(error.problems.first?.code, "audit.noCheckpoint")
            XCTAssertTrue(error.description.contains("permit audit checkpoint"), error.description)
        }
        let (checkpoint, _) = try await h.workflow.auditCheckpoint()
        _ = try await h.issue(h.variant(1))
        let clean = try await h.workflow.verifyAuditSinceCheckpoint()
        XCTAssertTrue(clean.ok, "\(clean.findings)")
        let since = try XCTUnwrap(clean.sinceCheckpoint)
        let events = try await h.workflow.auditLog(subject: nil)
        XCTAssertEqual(since.length, checkpoint.length)
        XCTAssertEqual(since.head, checkpoint.head)
        XCTAssertEqual(since.eventsVerified, events.count - Int(checkpoint.length))
        XCTAssertGreaterThan(since.eventsVerified, 0)
        XCTAssertEqual(clean.events, since.eventsVerified)
        XCTAssertNotNil(clean.seconds)

        let before = try XCTUnwrap(events.first { $0.action == "apply" && $0.seq < checkpoint.length })
        let after = try XCTUnwrap(events.first { $0.action == "apply" && $0.seq > checkpoint.length })
        func forged(_ e: AuditEvent, _ reference: String) -> Data {
            Data(String(decoding: e.content, as: UTF8.self).replacingOccurrences(of: reference, with: "FORGED").utf8)
        }
        XCTAssertNotEqual(forged(before, h.application.reference), before.content)
        XCTAssertNotEqual(forged(after, "QT-TEST-1"), after.content)

        // Before the checkpoint: the incremental verify does not look there; the full one names it.
        try await h.rewriteAudit(seq: before.seq, content: forged(before, h.application.reference), relink: false)
        let sinceBefore = try await h.workflow.verifyAuditSinceCheckpoint()
        XCTAssertTrue(sinceBefore.ok, "\(sinceBefore.findings)")
        let full = try await h.workflow.verifyAudit()
        XCTAssertTrue(full.findings.contains { $0.table == "audit" && $0.id == String(before.seq + 1) }, "\(full.findings)")

        // After it: named by the incremental verify (the next event's link), and the earlier one still not.
        try await h.rewriteAudit(seq: after.seq, content: forged(after, "QT-TEST-1"), relink: false)
        let sinceAfter = try await h.workflow.verifyAuditSinceCheckpoint()
        XCTAssertEqual(sinceAfter.findings.map(\.id), [String(after.seq + 1)], "\(sinceAfter.findings)")
        XCTAssertEqual(sinceAfter.findings.first?.message, "audit event \(after.seq + 1): its previous-hash link does not match event \(after.seq)")
    }
}

extension Harness {
    /// `AuditChainTests.rewrite` on this harness's store: on PostgreSQL, the same edits through
    /// psql, the trigger dropped first.
    func rewriteAudit(seq: Int64, content: Data, relink: Bool) async throws {
        guard storeKind == .postgres else {
            try AuditChainTests.rewrite(dir.database, seq: seq, content: content, relink: relink)
            return
        }
        var sql = [dropTrigger("audit_no_update", on: "audit")]
        var prev: String?
        for e in try await workflow.auditLog(subject: nil) where e.seq >= seq {
            guard e.seq == seq || relink else { break }
            let body = e.seq == seq ? content : e.content
            let prevHash = prev ?? e.prevHash
            let hash = AuditChain.hash(seq: e.seq, atMillis: Int64((e.at.timeIntervalSince1970 * 1000).rounded()), actor: e.actor, action: e.action,
                                       subject: e.subject, content: body, prevHash: prevHash)
            sql.append("UPDATE audit SET content = \(blob(body)), prevHash = '\(prevHash)', hash = '\(hash)' WHERE seq = \(e.seq)")
            prev = hash
        }
        try tamper(sql.joined(separator: "; "))
    }
}
