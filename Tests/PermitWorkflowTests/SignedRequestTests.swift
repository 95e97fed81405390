import Foundation
import PermitFoundation
import GRDB
import XCTest
import PermitAPI
import PermitTestSupport
@testable import PermitModel
@testable import PermitSeal
@testable import PermitStore
@testable import PermitWorkflow

/// The workflow takes signed requests, never private keys: each is checked against the
/// registered key for its role, kept, and never applied twice.
class SignedRequestTests: StoreTestCase {
    private func code(_ error: Error) -> String? { (error as? ProblemConvertible)?.problems.first?.code }

    func testAReplayedAdministrativeActionIsNotAppliedTwice() async throws {
        let h = try await Harness(store: Self.storeKind)
        let newcomer = PrivateKey.generate(.edDSA)
        let request = h.workflow.signer(h.admin).action(.approverAdd, .init(party: "HEALTH", name: "新审批员", publicKey: newcomer.publicKey.base64),
                                                         authority: "330114")
        _ = try await h.workflow.register(request)
        let before = try h.counts()
        let keys = try await h.workflow.registered(.approver, includeRemoved: true).count
        await XCTAssertThrowsErrorAsync(try await h.workflow.register(request)) { XCTAssertEqual(self.code($0), "request.replayed") }
        let v92 = try await h.workflow.registered(.approver, includeRemoved: true).count
        XCTAssertEqual(v92, keys)
        XCTAssertEqual(try h.counts().audit, before.audit)

        // A revocation sent twice revokes once; the second is refused whole, before any permit.
        let v91 = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v91)
        let v90 = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)[0].permitNumber
        let number = try XCTUnwrap(v90)
        let revoke = h.workflow.signer(h.admin).action(.revoke, .init(reason: "超载", numbers: [number]), authority: "330114")
        let v89 = try await h.workflow.revoke(revoke).first?.revocation
        XCTAssertNotNil(v89)
        let audit = try h.counts().audit
        await XCTAssertThrowsErrorAsync(try await h.workflow.revoke(revoke)) { XCTAssertEqual(self.code($0), "request.replayed") }
        XCTAssertEqual(try h.counts().audit, audit)
        let v88 = try await h.workflow.revocations().count
        XCTAssertEqual(v88, 1)
    }

    func testRequestsSignedByTheWrongKeyForAnotherAuthorityOrOutOfTimeAreRefused() async throws {
        let h = try await Harness(store: Self.storeKind)
        let newcomer = PrivateKey.generate(.edDSA).publicKey.base64
        let before = try h.counts()
        // A firm's key is not the admin key.
        let byFirm = h.workflow.signer(h.firmKey).action(.approverAdd, .init(party: "HEALTH", name: "x", publicKey: newcomer), authority: "330114")
        await XCTAssertThrowsErrorAsync(try await h.workflow.register(byFirm)) { XCTAssertEqual(self.code($0), "auth.notAdmin") }
        // Another authority's request.
        let elsewhere = h.workflow.signer(h.admin).action(.approverAdd, .init(party: "HEALTH", name: "x", publicKey: newcomer), authority: "330106")
        await XCTAssertThrowsErrorAsync(try await h.workflow.register(elsewhere)) { XCTAssertEqual(self.code($0), "request.authority") }
        // A client clock 11 minutes ahead.
        let ahead = PartySigner(key: h.admin, clock: FixedClock(h.clock.now().addingTimeInterval(660)))
            .action(.approverAdd, .init(party: "HEALTH", name: "x", publicKey: newcomer), authority: "330114")
        await XCTAssertThrowsErrorAsync(try await h.workflow.register(ahead)) { XCTAssertEqual(self.code($0), "request.clock") }
        // Bytes altered after signing.
        // (A name no key id, nonce or key can hold by chance: altering the first "x" of the bytes
        // altered the kid now and then, which is refused as the admin's key missing.)
        let marker = Array("name-to-alter".utf8)
        var altered = h.workflow.signer(h.admin).action(.approverAdd, .init(party: "HEALTH", name: String(decoding: marker, as: UTF8.self),
                                                                            publicKey: newcomer), authority: "330114")
        let at = try XCTUnwrap(altered.firstRange(of: marker)).lowerBound
        altered[at] = UInt8(ascii: "N")
        await XCTAssertThrowsErrorAsync(try await h.workflow.register(altered)) { XCTAssertEqual(self.code($0), "request.signature") }
        // A request for another verb.
        let cancel = h.workflow.signer(h.admin).action(.blacklistRemove, .init(reason: "x", id: 1), authority: "330114")
        await XCTAssertThrowsErrorAsync(try await h.workflow.register(cancel)) { XCTAssertEqual(self.code($0), "request.kind") }
        XCTAssertEqual(try h.counts().audit, before.audit)
        let v87 = try await h.workflow.store.read { try $0.signedRequests() }.count
        XCTAssertEqual(v87, 12)  // the harness's own registrations
    }

    func testADecisionSignedByARemovedApproverIsRefused() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v86 = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v86)
        // Signed while the approver was registered, sent after the key was removed.
        let signed = await h.workflow.signer(h.approvers[.health]!).decisions(try h.workflow.decisionTargets([id]), department: .health, approve: true)
        _ = try await h.workflow.unregister(.approver, kid: h.approvers[.health]!.publicKey.kidHex, reason: "丢失", adminKey: h.admin)
        let before = try h.counts()
        await XCTAssertThrowsErrorAsync(try await h.workflow.decide(department: .health, items: signed)) { XCTAssertEqual(self.code($0), "auth.notApprover") }
        XCTAssertEqual(try h.counts().decisions, before.decisions)
        XCTAssertEqual(try h.counts().audit, before.audit)
        let v85 = try await h.workflow.history(id).application.state
        XCTAssertEqual(v85, .pending)
    }

    func testTheSameSignedDecisionTwiceIsRecordedOnce() async throws {
        let h = try await Harness(store: Self.storeKind)
        let app = h.variant(1, categories: ["medical-supplies", "mail-and-parcels"])
        let v84 = try await h.workflow.apply([h.item(app)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v84)
        let signed = await h.workflow.signer(h.approvers[.health]!).decisions(try h.workflow.decisionTargets([id]), department: .health, approve: true)
        let v83 = try await h.workflow.decide(department: .health, items: signed)[0].state
        XCTAssertEqual(v83, "pending")
        let again = try await h.workflow.decide(department: .health, items: signed)
        XCTAssertEqual(again[0].errors?.first?.code, "decision.alreadyDecided")
        XCTAssertEqual(try h.counts().decisions, 1)
    }

    func testADecisionOnAnotherDocumentOrAForgedSubmissionIsRefused() async throws {
        let h = try await Harness(store: Self.storeKind)
        let ids = try await h.workflow.apply([h.item(h.variant(1)), h.item(h.variant(2), index: 1)], key: h.firmKey).map { try XCTUnwrap($0.id) }
        // The approver signs application 1's digest but the item names application 2.
        let targets = try await h.workflow.decisionTargets([ids[0]])
        let swapped = h.workflow.signer(h.approvers[.health]!).decisions([DecisionTarget(input: ids[1], id: ids[1], digest: targets[0].digest)],
                                                                          department: .health, approve: true)
        let v82 = try await h.workflow.decide(department: .health, items: swapped)[0].errors?.first?.code
        XCTAssertEqual(v82, "decision.digest")
        XCTAssertEqual(try h.counts().decisions, 0)

        // A submission whose signature covers another application's content.
        var items = h.workflow.signer(h.firmKey).submissions([h.item(h.variant(3))])
        items[0].application = h.variant(4)
        let v81 = try await h.workflow.apply(items)[0].errors?.first?.code
        XCTAssertEqual(v81, "submission.mismatch")
        // An application signed by an unregistered key: refused whole, nothing written.
        let before = try h.counts()
        let stranger = PartySigner(key: .generate(.edDSA), clock: h.clock).submissions([h.item(h.variant(5))])
        await XCTAssertThrowsErrorAsync(try await h.workflow.apply(stranger)) { XCTAssertEqual(self.code($0), "auth.notApplicant") }
        XCTAssertEqual(try h.counts().applications, before.applications)
    }

}

/// Edits a copy of the SQLite file: SQLite only.
final class SignedRequestAuditTests: XCTestCase {
    func testAuditVerifyChecksAdministrativeActionsAndTheKeysTheyRegistered() async throws {
        let h = try await Harness()
        let v80 = try await h.workflow.verifyAudit().findings
        XCTAssertEqual(v80, [])
        let v79 = try await h.workflow.verifyAudit().requests
        XCTAssertEqual(v79, 12)

        // An insider alters a kept request (the trigger forbids updates, so it is dropped first).
        let altered = try copy(h)
        try altered.write { db in
            try db.execute(sql: "DROP TRIGGER signedRequest_no_update")
            let cose = try Data.fetchOne(db, sql: "SELECT cose FROM signedRequest WHERE id = 1")!
            var bytes = Array(cose)
            bytes[bytes.count - 1] ^= 0x01
            try db.execute(sql: "UPDATE signedRequest SET cose = ? WHERE id = 1", arguments: [Data(bytes)])
        }
        let a = try await Workflow(directory: altered.dir, clock: h.clock).verifyAudit()
        XCTAssertTrue(a.findings.contains { $0.table == "signedRequest" && $0.id == "1" && $0.message.contains("does not verify") }, "\(a.findings)")

        // An insider swaps an approver's registered key for their own (the README's old limit).
        let swapped = try copy(h)
        let attacker = PrivateKey.generate(.edDSA)
        try swapped.write { db in
            try db.execute(sql: "UPDATE partyKey SET kid = ?, spki = ? WHERE kind = 'approver' AND party = 'HEALTH'",
                           arguments: [attacker.publicKey.kidHex, Data(attacker.publicKey.spki)])
        }
        let s = try await Workflow(directory: swapped.dir, clock: h.clock).verifyAudit()
        XCTAssertTrue(s.findings.contains { $0.table == "partyKey" && $0.id == "approver \(attacker.publicKey.kidHex)" }, "\(s.findings)")
    }

    /// A copy of the harness's data directory, opened for raw SQL as an insider would.
    private func copy(_ h: Harness) throws -> (dir: DataDirectory, write: ((Database) throws -> Void) throws -> Void) {
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-sr-\(UUID().uuidString)"))
        try FileManager.default.copyItem(at: h.dir.url, to: dir.url)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir.url) }
        return (dir, { body in
            let q = try DatabaseQueue(path: dir.database.path)
            try q.write { try body($0) }
        })
    }
}

final class LegacyDataTests: XCTestCase {
    func testADatabaseMadeBeforeSignedRequestsMigratesAndKeepsVerifying() async throws {
        let source = fixtures.appendingPathComponent("legacy-v3")
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-legacy-\(UUID().uuidString)"))
        try FileManager.default.createDirectory(at: dir.url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir.url) }
        for name in ["permit.sqlite", "issuer-key.pem", "admin-key.pem", "root-key.pem", "root.pub.pem", "trust-list.cose", "health.pem", "firm.pem"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.file(name))
            if name.hasSuffix("key.pem") || name == "health.pem" || name == "firm.pem" {
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.file(name).path)
            }
        }
        let clock = FixedClock(RFC3339.date("2026-11-30T10:00:00+08:00")!)
        let workflow = try await Workflow(directory: dir, clock: clock)
        let before = try await workflow.verifyAudit()
        XCTAssertEqual(before.findings, [], "\(before.findings)")
        XCTAssertEqual(before.requests, 0)
        // Noted, not found: the unsigned registrations, revocation and blacklisting, and the decision without a nonce.
        XCTAssertEqual(Set(before.notes.map(\.table)), ["audit", "partyKey", "decision"])
        XCTAssertEqual(before.notes.filter { $0.table == "decision" }.count, 1)
        XCTAssertEqual(before.notes.filter { $0.table == "partyKey" }.count, 2)

        // New signed requests work on the migrated store, and the audit still passes.
        let health = try PrivateKey.load(path: dir.file("health.pem").path)
        let admin = try PrivateKey.load(path: dir.adminKey.path)
        let d = try await workflow.decide(department: .health, key: health, identifiers: ["A000002"], decision: .approve)
        XCTAssertEqual(d[0].permitNumber, "330114000002")
        _ = try await workflow.revoke(number: "330114000002", reason: "测试", adminKey: admin)
        let after = try await workflow.verifyAudit()
        XCTAssertEqual(after.findings, [], "\(after.findings)")
        XCTAssertEqual(after.requests, 1)
        XCTAssertEqual(after.notes.filter { $0.table == "decision" }.count, 1)
    }
}

/// A full disk, as SQLite sees one: the store's stable code, nothing half-written, and recovery.
final class StoreFullTests: XCTestCase {
    func testAFullDatabaseGivesStoreFullPerItemAndRecovers() async throws {
        let h = try await Harness()
        let pages = try await DatabaseQueue(path: h.dir.database.path).read { try Int.fetchOne($0, sql: "PRAGMA page_count")! }
        let capped = try SQLitePermitStore(path: h.dir.database.path, maxPageCount: pages + 2)
        let full = try await Workflow(directory: h.dir, clock: h.clock, store: capped)
        let fleet = (0..<300).map { h.item(h.variant($0 + 1), index: $0) }
        let results = try await full.apply(fleet, key: h.firmKey)
        let refused = results.filter { $0.errors?.first?.code == "store.full" }
        XCTAssertFalse(refused.isEmpty, "a capped database must fill up: \(Set(results.compactMap { $0.errors?.first?.code }))")
        guard !refused.isEmpty else { return }
        XCTAssertTrue(refused[0].errors![0].message.contains("disk that holds the database is full"), refused[0].errors![0].message)
        // Nothing half-written: every stored application has its audit event, and no more.
        let accepted = results.filter(\.succeeded).count
        let counts = try h.counts()
        XCTAssertEqual(counts.applications, accepted)
        let audit = try await full.verifyAudit()
        XCTAssertEqual(audit.findings, [])
        // With room again, the refused items go through when sent again.
        let roomy = try await Workflow(directory: h.dir, clock: h.clock)
        let again = try await roomy.apply(fleet, key: h.firmKey)
        XCTAssertEqual(again.filter(\.succeeded).count, 300)
        XCTAssertEqual(try h.counts().applications, 300)
    }

    func testSQLiteErrorsMapToStableCodes() {
        XCTAssertEqual(StoreError(sqlite: DatabaseError(resultCode: .SQLITE_FULL)).problems.first?.code, "store.full")
        XCTAssertEqual(StoreError(sqlite: DatabaseError(resultCode: .SQLITE_BUSY)).problems.first?.code, "store.busy")
        XCTAssertEqual(StoreError(sqlite: DatabaseError(resultCode: .SQLITE_CONSTRAINT)).problems.first?.code, "store.constraint")
        XCTAssertEqual(StoreError(sqlite: DatabaseError(resultCode: .SQLITE_IOERR)).problems.first?.code, "store.io")
    }
}
