import Foundation
import PermitAPI
import GRDB
import XCTest
import PermitTestSupport
@testable import PermitModel
@testable import PermitSeal
@testable import PermitStore
import PermitVerify
@testable import PermitWorkflow

extension Harness {
    /// Applies and approves one medical-supplies load (HEALTH only): its ID and permit number.
    func issue(_ app: Application) async throws -> (id: String, number: String) {
        let r = try await workflow.apply([item(app)], key: firmKey)
        let id = try XCTUnwrap(r[0].id, "\(r[0].errors ?? [])")
        let d = try await workflow.decide(department: .health, key: approvers[.health]!, identifiers: [id], decision: .approve)
        return (id, try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])"))
    }

    /// A variant on another route or window.
    func variant(_ n: Int, plate: String? = nil, destination: String? = nil, from: String? = nil, to: String? = nil) -> Application {
        var a = variant(n, categories: ["medical-supplies"])
        if let plate { a.vehicle.plate = plate }
        if let destination { a.route.destination.county = destination }
        if let from { a.validity.from = from }
        if let to { a.validity.to = to }
        return a
    }

    func chinaTime(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
}

/// The checkpoint's clock (PermitVerify's own protocol; its FixedClock name clashes with the workflow's).
struct CheckpointClock: VerifierClock {
    var date: Date
    func now() -> Date { date }
}

class LifecycleTests: StoreTestCase {

    // MARK: 1. revocation

    func testRevokeThenExportMakesTheCheckpointSayRevoked() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (id, number) = try await h.issue(h.application)
        let (_, other) = try await h.issue(h.variant(2))
        await XCTAssertThrowsErrorAsync(try await h.workflow.revoke(number: number, reason: "x", adminKey: h.firmKey)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notAdmin")
        }
        await XCTAssertThrowsErrorAsync(try await h.workflow.revoke(number: number, reason: "  ", adminKey: h.admin))
        let revocation = try await h.workflow.revoke(number: number, reason: "超载运输", adminKey: h.admin)
        XCTAssertEqual(revocation.reason, "超载运输")
        XCTAssertEqual(revocation.actor, "admin:" + h.admin.publicKey.kidHex)
        XCTAssertEqual(revocation.revokedAt, h.clock.now())
        await XCTAssertThrowsErrorAsync(try await h.workflow.revoke(number: number, reason: "again", adminKey: h.admin)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.code, "permit.alreadyRevoked")
        }
        let v78 = try await h.workflow.history(id).events.map(\.action)
        XCTAssertEqual(v78, ["apply", "approve", "issue", "revoke"])

        let first = try await h.workflow.exportRevocations(to: h.dir.revocations, validForDays: 7)
        let second = try await h.workflow.exportRevocations(to: h.dir.revocations, validForDays: 7)
        XCTAssertEqual(first.sequence, 1)
        XCTAssertEqual(second.sequence, 2)
        XCTAssertEqual(second.authority, "330114")
        let v77 = try await h.workflow.history(number).permit
        let permit = try XCTUnwrap(v77)
        XCTAssertEqual(second.revoked.map(\.hash), [permit.signatureHash])
        XCTAssertEqual(second.revoked.first?.reason, "超载运输")

        // The checkpoint's verifier, with the published trust list and this revocation list.
        let root = try PublicKey.load(path: h.dir.rootPublicKey.path)
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: h.dir.trustList)), root: root)
        let set = try RevocationSet(verifying: Array(try Data(contentsOf: h.dir.revocations)), trust: trust, root: root)
        XCTAssertEqual(set.sequence, 2)
        let verifier = Verifier(trust: trust, revocations: [set], clock: CheckpointClock(date: h.chinaTime("2026-12-02T04:00:00Z")))
        let revoked = verifier.verify(permit.payload)
        XCTAssertEqual(revoked.outcome, VerificationResult.Outcome.invalid)
        XCTAssertEqual(revoked.reason, VerificationResult.Reason.revoked)
        let v76 = try await h.workflow.history(other).permit
        let otherPermit = try XCTUnwrap(v76)
        XCTAssertEqual(verifier.verify(otherPermit.payload).outcome, VerificationResult.Outcome.valid)
        let v75 = try await h.workflow.status(number).state
        XCTAssertEqual(v75, .revoked)
    }

    // MARK: 2. one active permit per vehicle and route

    func testANewPermitForTheSameVehicleAndRouteSupersedesTheOlder() async throws {
        let h = try await Harness(store: Self.storeKind)
        let plate = "浙A54321"
        let (_, old) = try await h.issue(h.variant(1, plate: plate, from: "2026-12-01", to: "2026-12-15"))
        // Another route, and the same route in a window that does not overlap: neither supersedes.
        let (_, otherRoute) = try await h.issue(h.variant(2, plate: plate, destination: "330106", from: "2026-12-01", to: "2026-12-15"))
        let (_, later) = try await h.issue(h.variant(3, plate: plate, from: "2026-12-16", to: "2026-12-20"))
        let v74 = try await h.workflow.revocations().isEmpty
        XCTAssertTrue(v74)
        // The same vehicle and route, overlapping: the old one is superseded in the issuing transaction.
        let (newID, new) = try await h.issue(h.variant(4, plate: plate, from: "2026-12-10", to: "2026-12-20"))
        let revocations = try await h.workflow.revocations()
        XCTAssertEqual(Set(revocations.map(\.number)), [old, later])
        XCTAssertTrue(revocations.allSatisfy { $0.reason == "superseded" && $0.supersededBy == new })
        let oldStatus = try await h.workflow.status(old)
        XCTAssertEqual(oldStatus.state, .superseded)
        XCTAssertEqual(oldStatus.permit.supersededBy, new)
        let v73 = try await h.workflow.history(old).permitState
        XCTAssertEqual(v73, .superseded)
        let v72 = try await h.workflow.history(old).revocation?.reason
        XCTAssertEqual(v72, "superseded")
        let v71 = try await h.workflow.status(new).permit.supersedes
        XCTAssertNotNil(v71)
        let v70 = try await h.workflow.status(otherRoute).state
        XCTAssertEqual(v70, .active)
        let v69 = try await h.workflow.status(new).state
        XCTAssertEqual(v69, .active)
        let v68 = try await h.workflow.history(newID).events.last?.action
        XCTAssertEqual(v68, "issue")
        let v67 = try await h.workflow.auditLog(subject: nil).contains { $0.action == "supersede" }
        XCTAssertTrue(v67)
        // It is on the next revocation list, and a revoked permit is not superseded again.
        let list = try await h.workflow.exportRevocations(to: h.dir.revocations)
        XCTAssertTrue(list.revoked.contains { $0.hash == oldStatus.permit.signatureHash && $0.reason == "superseded" })
        try await h.workflow.revoke(number: otherRoute, reason: "违规", adminKey: h.admin)
        _ = try await h.issue(h.variant(5, plate: plate, destination: "330106", from: "2026-12-01", to: "2026-12-02"))
        let v66 = try await h.workflow.status(otherRoute).state
        XCTAssertEqual(v66, .revoked)
        let v65 = try await h.workflow.auditLog(subject: nil)
        XCTAssertNil(AuditChain.firstBrokenLink(v65))
    }

    // MARK: 3. states

    func testListByLifecycleStateFollowsTheInjectedClock() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, longOne) = try await h.issue(h.variant(1, from: "2026-12-01", to: "2026-12-15"))
        let (_, shortOne) = try await h.issue(h.variant(2, from: "2026-12-01", to: "2026-12-05"))
        let (_, revoked) = try await h.issue(h.variant(3))
        try await h.workflow.revoke(number: revoked, reason: "违规", adminKey: h.admin)
        let (_, oldOne) = try await h.issue(h.variant(4, plate: "浙A77777"))
        let (_, newOne) = try await h.issue(h.variant(5, plate: "浙A77777"))
        let ids = try await h.workflow.apply([h.item(h.variant(6), index: 0), h.item(h.variant(7), index: 1), h.item(h.variant(8), index: 2)], key: h.firmKey).map { $0.id! }
        _ = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [ids[0]], decision: .reject, reason: "资料不全")
        _ = try await h.workflow.cancel(ids[1], key: h.firmKey, reason: nil)

        func numbers(_ s: LifecycleState) async throws -> Set<String> {
            await Set(try h.workflow.list(state: s, filter: ApplicationFilter()).map { $0.permitNumber ?? $0.publicID })
        }
        let v64 = try await numbers(.issued)
        XCTAssertEqual(v64, [longOne, shortOne, revoked, oldOne, newOne])
        let v63 = try await numbers(.active)
        XCTAssertEqual(v63, [longOne, shortOne, newOne])
        let v62 = try await numbers(.revoked)
        XCTAssertEqual(v62, [revoked], "a superseded permit is not counted as revoked")
        let v61 = try await numbers(.superseded)
        XCTAssertEqual(v61, [oldOne])
        let v60 = try await numbers(.expired)
        XCTAssertEqual(v60, [])
        let v59 = try await numbers(.rejected)
        XCTAssertEqual(v59, [ids[0]])
        let v58 = try await numbers(.cancelled)
        XCTAssertEqual(v58, [ids[1]])
        let v57 = try await numbers(.pending)
        XCTAssertEqual(v57, [ids[2]])
        // The last day is inclusive in China time: 2026-12-05 ends at 2026-12-05T16:00Z.
        h.clock.set(h.chinaTime("2026-12-05T15:59:59Z"))
        let v56 = try await numbers(.expired)
        XCTAssertEqual(v56, [])
        h.clock.set(h.chinaTime("2026-12-05T16:00:00Z"))
        let v55 = try await numbers(.expired)
        XCTAssertEqual(v55, [shortOne])
        let v54 = try await numbers(.active)
        XCTAssertEqual(v54, [longOne, newOne])
        let v53 = try await h.workflow.list(state: .active, filter: ApplicationFilter(limit: 1)).count
        XCTAssertEqual(v53, 1)
        // Paged one row at a time, the clock-narrowed state gives the same permits.
        var paged: [String] = []
        var cursor: String?
        repeat {
            let page = try await h.workflow.applications(ApplicationQuery(state: .active, limit: 1, after: cursor))
            paged += page.items.compactMap(\.permitNumber)
            cursor = page.next
        } while cursor != nil
        XCTAssertEqual(paged.sorted(), [longOne, newOne].sorted())
    }

    // MARK: 4. blacklists

    func testABlacklistedVehicleIsRefusedAndItsPendingApplicationsRejected() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v52 = try await h.workflow.apply([h.item(h.variant(1, plate: "浙A66666"))], key: h.firmKey)[0].id
        let pending = try XCTUnwrap(v52)
        let result = try await h.workflow.blacklistAdd(kind: .plate, value: "浙a66666", reason: "超载运输", until: nil, revokeActive: false, adminKey: h.admin)
        XCTAssertEqual(result.entry.value, "浙A66666")
        XCTAssertEqual(result.rejected, [pending])
        let v51 = try await h.workflow.resolve(pending).state
        XCTAssertEqual(v51, .rejected)
        let v50 = try await h.workflow.resolve(pending).closeReason?.contains("超载运输") ?? false
        XCTAssertTrue(v50)
        let r = try await h.workflow.apply([h.item(h.variant(2, plate: "浙A66666"))], key: h.firmKey)
        XCTAssertEqual(r[0].errors?.first?.code, "blacklist.plate")
        XCTAssertEqual(r[0].errors?.first?.field, "vehicle.plate")
        XCTAssertTrue(r[0].errors?.first?.message.contains("超载运输") ?? false)
        let v49 = try await h.workflow.auditLog(subject: nil).last?.action
        XCTAssertEqual(v49, "apply.refused")
        // A dry run reports it and writes nothing.
        let before = try h.counts().audit
        let v48 = try await h.workflow.apply([h.item(h.variant(3, plate: "浙A66666"))], key: h.firmKey, dryRun: true)[0].errors?.first?.code
        XCTAssertEqual(v48, "blacklist.plate")
        XCTAssertEqual(try h.counts().audit, before)
        // Other vehicles are not affected; removal lifts it.
        let v47 = try await h.workflow.apply([h.item(h.variant(4))], key: h.firmKey)[0].errors
        XCTAssertNil(v47)
        await XCTAssertThrowsErrorAsync(try await h.workflow.blacklistAdd(kind: .plate, value: "浙A66666", reason: "again", until: nil, revokeActive: false, adminKey: h.admin))
        _ = try await h.workflow.blacklistRemove(id: result.entry.id!, reason: "appeal upheld", adminKey: h.admin)
        let v46 = try await h.workflow.apply([h.item(h.variant(5, plate: "浙A66666"))], key: h.firmKey)[0].errors
        XCTAssertNil(v46)
        let v45 = try await h.workflow.blacklist(includeRemoved: true).first?.removedReason
        XCTAssertEqual(v45, "appeal upheld")
    }

    func testABlacklistedCrewMemberIsRefusedAndRevokeActiveRevokesTheirPermits() async throws {
        let h = try await Harness(store: Self.storeKind)
        let escort = h.application.crew[1].idNumber
        let (_, live) = try await h.issue(h.variant(1))
        let (_, expired) = try await h.issue(h.variant(2, from: "2026-12-01", to: "2026-12-01"))
        h.clock.set(h.chinaTime("2026-12-01T17:00:00Z"))
        await XCTAssertThrowsErrorAsync(try await h.workflow.blacklistAdd(kind: .idNumber, value: escort, reason: "x", until: nil, revokeActive: true, adminKey: h.firmKey))
        let result = try await h.workflow.blacklistAdd(kind: .idNumber, value: escort, reason: "证件造假", until: nil, revokeActive: true, adminKey: h.admin)
        XCTAssertEqual(result.revoked, [live])
        let v44 = try await h.workflow.status(live).state
        XCTAssertEqual(v44, .revoked)
        let v43 = try await h.workflow.status(expired).state
        XCTAssertEqual(v43, .expired)
        let v42 = try await h.workflow.status(live).revocation?.reason
        XCTAssertEqual(v42, "blacklisted: 证件造假")
        var app = h.variant(3, from: "2026-12-03", to: "2026-12-05")
        let r = try await h.workflow.apply([h.item(app)], key: h.firmKey)
        XCTAssertEqual(r[0].errors?.first?.code, "blacklist.idNumber")
        XCTAssertEqual(r[0].errors?.first?.field, "crew[1].idNumber")
        XCTAssertEqual(r[0].errors?.first?.value, "330102********2468", "the ID number is masked in the refusal")
        app.crew.removeLast()
        let v41 = try await h.workflow.apply([h.item(app)], key: h.firmKey)[0].errors
        XCTAssertNil(v41)
    }

    func testABlacklistedFirmIsRefusedUntilTheEntryEnds() async throws {
        let h = try await Harness(store: Self.storeKind)
        let code = h.application.applicant.creditCode
        await XCTAssertThrowsErrorAsync(try await h.workflow.blacklistAdd(kind: .creditCode, value: code, reason: "伪造证明", until: "2026-11-01", revokeActive: false, adminKey: h.admin)) {
            XCTAssertEqual(($0 as? ProblemList)?.problems.first?.field, "until")
        }
        await XCTAssertThrowsErrorAsync(try await h.workflow.blacklistAdd(kind: .creditCode, value: "91330114MA24WY7220", reason: "x", until: nil, revokeActive: false, adminKey: h.admin))
        _ = try await h.workflow.blacklistAdd(kind: .creditCode, value: code, reason: "伪造证明", until: "2026-11-30", revokeActive: false, adminKey: h.admin)
        let r = try await h.workflow.apply([h.item(h.variant(1))], key: h.firmKey)
        XCTAssertEqual(r[0].errors?.first?.code, "blacklist.creditCode")
        XCTAssertEqual(r[0].errors?.first?.field, "applicant.creditCode")
        // The until day is inclusive, in China time: from 2026-12-01 00:00+08:00 the firm may apply again.
        h.clock.set(h.chinaTime("2026-11-30T16:00:00Z"))
        let v40 = try await h.workflow.apply([h.item(h.variant(2))], key: h.firmKey)[0].errors
        XCTAssertNil(v40)
    }

    // MARK: 5. audit

    func testAuditVerifyPassesOnAnUntouchedDatabase() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.issue(h.application)
        let (_, n2) = try await h.issue(h.variant(1))
        try await h.workflow.revoke(number: n2, reason: "违规", adminKey: h.admin)
        _ = try await h.workflow.auditCheckpoint()
        let result = try await h.workflow.verifyAudit()
        XCTAssertTrue(result.ok, "\(result.findings)")
        XCTAssertEqual(result.permits, 2)
        XCTAssertEqual(result.decisions, 2)
        XCTAssertEqual(result.checkpoints, 1)
    }

    /// Someone with the database swaps in their own issuer key and re-signs a permit with it. The
    /// database's key table alone is fooled; the root-signed trust list names the key and the permit.
    func testAuditVerifyHoldsIssuerKeysToTheRootSignedTrustList() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, number) = try await h.issue(h.application)
        let clean = try await h.workflow.verifyAudit()
        XCTAssertTrue(clean.ok, "\(clean.findings)")
        XCTAssertTrue(clean.trustListChecked, clean.trustList)

        let attacker = PrivateKey.generate(.edDSA)
        let v39 = try await h.workflow.store.read { try $0.permits(limit: nil) }.first { $0.number == number }
        let permit = try XCTUnwrap(v39)
        let claims = try PermitClaims(decoding: try PermitText.decode(permit.payload).cose.payload)
        let forged = try PermitSealer(key: attacker).seal(claims)
        try h.tamper("""
            UPDATE key SET kid = '\(attacker.publicKey.kidHex)', spki = \(h.blob(attacker.publicKey.spki)) WHERE role = 'issuer';
            UPDATE permit SET payload = '\(forged.text)', signatureHash = '\(forged.revocationHash)', issuerKid = '\(attacker.publicKey.kidHex)' WHERE number = '\(number)';
            """)

        let result = try await h.workflow.verifyAudit()
        XCTAssertTrue(result.trustListChecked)
        XCTAssertEqual(Set(result.findings.map(\.table)), ["key", "permit"], "\(result.findings)")
        XCTAssertEqual(result.findings.first { $0.table == "key" }?.id, attacker.publicKey.kidHex)
        XCTAssertEqual(result.findings.first { $0.table == "permit" }?.id, number)

        // Without the trust list the forgery passes: the check above is what catches it.
        try FileManager.default.removeItem(at: h.dir.trustList)
        let databaseOnly = try await h.workflow.verifyAudit()
        XCTAssertFalse(databaseOnly.trustListChecked)
        XCTAssertTrue(databaseOnly.ok, "\(databaseOnly.findings)")
        XCTAssertTrue(databaseOnly.trustList.contains("database only"), databaseOnly.trustList)

        // A trust list given explicitly must be readable; one signed by another root is a finding.
        await XCTAssertThrowsErrorAsync(try await h.workflow.verifyAudit(trustList: h.dir.url.appendingPathComponent("missing.cose")))
        let otherRoot = PrivateKey.generate(.edDSA)
        let foreign = h.dir.url.appendingPathComponent("foreign.cose")
        let entry = TrustList.Entry(key: attacker.publicKey, authority: "330114", name: "伪造", nameEn: "Forged", phone: "0",
                                    notBefore: Date(timeIntervalSince1970: 0), notAfter: Date(timeIntervalSince1970: 4_000_000_000))
        try Data(TrustList(sequence: 9, issuedAt: Date(), nextUpdate: Date(), keys: [entry]).signed(by: otherRoot)).write(to: foreign)
        let refused = try await h.workflow.verifyAudit(trustList: foreign)
        XCTAssertFalse(refused.trustListChecked)
        XCTAssertEqual(refused.findings.map(\.table), ["file"], "\(refused.findings)")
        // …and accepted only with that root pinned, which is the auditor's choice.
        let rootFile = h.dir.url.appendingPathComponent("other-root.pub.pem")
        try Data(otherRoot.publicKey.pem.utf8).write(to: rootFile)
        let v38 = try await h.workflow.verifyAudit(trustList: foreign, root: rootFile).ok
        XCTAssertTrue(v38)
    }

    func testAuditVerifyNamesATamperedPlate() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (id, number) = try await h.issue(h.application)
        try h.tamper("UPDATE application SET plate = '浙B99999' WHERE id = \(ApplicationRecord.rowID(of: id)!)")
        let result = try await h.workflow.verifyAudit()
        XCTAssertFalse(result.ok)
        XCTAssertEqual(result.findings.first?.table, "permit")
        XCTAssertEqual(result.findings.first?.id, number)
        XCTAssertTrue(result.findings.first?.message.contains("浙B99999") ?? false, "\(result.findings)")
    }

    func testAuditVerifyNamesATamperedDecision() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v37 = try await h.workflow.apply([h.item(h.variant(1))], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v37)
        _ = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .reject, reason: "资料不全")
        try h.tamper("UPDATE decision SET decision = 'approve' WHERE id = 1")
        let result = try await h.workflow.verifyAudit()
        XCTAssertEqual(result.findings.map(\.table), ["decision"])
        XCTAssertEqual(result.findings.first?.id, "1")
        XCTAssertTrue(result.findings.first?.message.contains("another decision") ?? false, "\(result.findings)")
    }

    func testAuditVerifyNamesATamperedEvent() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.issue(h.application)
        // The triggers refuse the edit until they are dropped, as an attacker would.
        try h.tamper("UPDATE audit SET actor = 'x' WHERE seq = 1", expectFailure: true)
        try h.tamper("DELETE FROM audit WHERE seq = 1", expectFailure: true)
        let events = try await h.workflow.auditLog(subject: nil)
        let target = events[events.count - 2].seq
        try h.tamper("\(h.dropTrigger("audit_no_update", on: "audit")); UPDATE audit SET content = \(h.blob(Data(#"{"reference":"forged"}"#.utf8))) WHERE seq = \(target)")
        let result = try await h.workflow.verifyAudit()
        XCTAssertEqual(result.findings.first?.table, "audit")
        XCTAssertEqual(result.findings.first?.id, String(target))
        XCTAssertTrue(result.findings.first?.message.contains("does not match its hash") ?? false, "\(result.findings)")
    }

    func testAKeptCheckpointCatchesTruncationAndRebuilding() async throws {
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
        let v36 = try await h.workflow.verifyAudit(checkpointFiles: [early, kept]).ok
        XCTAssertTrue(v36)

        // Delete the last three events and the stored checkpoints: the chain alone still links.
        try h.tamper("\(h.dropTrigger("audit_no_delete", on: "audit")); DELETE FROM audit WHERE seq > \(checkpoint.length - 3); DELETE FROM auditCheckpoint")
        let v35 = try await h.workflow.auditLog(subject: nil)
        XCTAssertNil(AuditChain.firstBrokenLink(v35))
        let truncated = try await h.workflow.verifyAudit(checkpointFiles: [early, kept])
        XCTAssertEqual(truncated.findings.count, 1, "\(truncated.findings)")
        XCTAssertEqual(truncated.findings.first?.id, String(checkpoint.length - 2))
        XCTAssertTrue(truncated.findings.first?.message.contains("events \(checkpoint.length - 2)…\(checkpoint.length) are missing") ?? false,
                      "\(truncated.findings)")

        // New activity rebuilds the chain past the checkpoint's length: a different head.
        _ = try await h.issue(h.variant(3))
        _ = try await h.issue(h.variant(4))
        let rebuilt = try await h.workflow.verifyAudit(checkpointFiles: [early, kept])
        XCTAssertEqual(rebuilt.findings.count, 1, "\(rebuilt.findings)")
        XCTAssertTrue(rebuilt.findings.first?.message.contains("rebuilt") ?? false)
        XCTAssertTrue(rebuilt.findings.first?.message.contains("events \(earlyLength + 1)…\(checkpoint.length) differ") ?? false, "\(rebuilt.findings)")

        // A forged checkpoint file is refused.
        let forged = h.dir.url.appendingPathComponent("forged.cose")
        try Data(COSESign1.sign(payload: Array(CanonicalJSON.encode(checkpoint)), with: PrivateKey.generate(.edDSA)).encoded()).write(to: forged)
        let v34 = try await h.workflow.verifyAudit(checkpointFiles: [forged]).findings.contains { $0.table == "file" }
        XCTAssertTrue(v34)
    }

    // MARK: 6. report

    func testReportCountsPerDepartmentWithTheInjectedClock() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.issue(h.application)
        let ids = try await h.workflow.apply([h.item(h.variant(1, categories: ["dangerous-goods"]), index: 0),
                                        h.item(h.variant(2, categories: ["dangerous-goods"]), index: 1),
                                        h.item(h.variant(3, categories: ["mail-and-parcels"]), index: 2)], key: h.firmKey).map { $0.id! }
        h.clock.advance(by: 3600)
        _ = try await h.workflow.decide(department: .transport, key: h.approvers[.transport]!, identifiers: [ids[0]], decision: .approve)
        _ = try await h.workflow.decide(department: .publicSecurity, key: h.approvers[.publicSecurity]!, identifiers: [ids[0]], decision: .approve)
        _ = try await h.workflow.decide(department: .transport, key: h.approvers[.transport]!, identifiers: [ids[1]], decision: .reject, reason: "无资质")
        h.clock.advance(by: 3 * 86_400)
        let report = try await h.workflow.report(since: nil)
        let row = { (d: Department) in report.departments.first { $0.department == d.rawValue }! }
        XCTAssertEqual(report.applications, 4)
        XCTAssertEqual(report.permits, 2)
        XCTAssertEqual(row(.transport).received, 2)
        XCTAssertEqual(row(.transport).approved, 1)
        XCTAssertEqual(row(.transport).rejected, 1)
        XCTAssertEqual(row(.transport).medianDecisionSeconds, 3600)
        XCTAssertEqual(row(.publicSecurity).closedUndecided, 1)
        XCTAssertEqual(row(.postal).pending, 1)
        XCTAssertEqual(row(.postal).overdue, 1)
        XCTAssertEqual(row(.health).approved, 1)
        XCTAssertEqual(row(.health).medianDecisionSeconds, 0)
        XCTAssertEqual(report.applicationToPermit.map(\.count), [1, 0, 0, 0, 1, 0, 0])
        let v33 = try await h.workflow.report(since: CalendarDay(iso: "2026-12-31")).applications
        XCTAssertEqual(v33, 0)
    }

    /// The report since a day reads only the applications submitted from that day's start (China
    /// time) on, with their slots, carried-over decisions and permits (the store filters, through
    /// `application_submittedAt`), and counts exactly what the whole report counts of them. Three
    /// days of activity; every expected number below is counted by hand from what the test does.
    /// The edges: an application one millisecond before midnight and one at midnight; decisions
    /// and a permit made after the day's start for an application submitted before it (not in the
    /// report since); an amendment submitted after it of a permit issued before it, whose carried
    /// approval is no review (not counted either way).
    func testReportSinceADayCountsOnlyTheApplicationsSubmittedFromThatDay() async throws {
        let h = try await Harness(store: Self.storeKind)
        let day2 = try XCTUnwrap(CalendarDay(iso: "2026-12-01"))
        let midnight = Date(timeIntervalSince1970: TimeInterval(day2.startInChina))
        func app(_ n: Int, _ categories: [String]) -> Application {
            var a = h.variant(n, categories: categories)
            a.validity = .init(from: "2026-12-05", to: "2026-12-10")
            return a
        }
        func apply(_ a: Application) async throws -> String {
            let r = try await h.workflow.apply([h.item(a)], key: h.firmKey)
            return try XCTUnwrap(r[0].id, "\(r[0].errors ?? [])")
        }
        @discardableResult
        func decide(_ d: Department, _ id: String, _ decision: DecisionRecord.Decision = .approve, reason: String? = nil) async throws -> DecisionResult {
            let r = try await h.workflow.decide(department: d, key: h.approvers[d]!, identifiers: [id], decision: decision, reason: reason)
            XCTAssertNil(r[0].errors, "\(d) \(id)")
            return r[0]
        }

        // Day 1, 2026-11-30 09:00 (the harness's clock). A: HEALTH approves at once, issued (0 s).
        // B: TRANSPORT rejects after 1 h; its PUBLIC_SECURITY slot is closed undecided.
        let a = app(1, ["medical-supplies"])
        let idA = try await apply(a)
        let issuedA = try await decide(.health, idA).permitNumber
        let permitA = try XCTUnwrap(issuedA)
        let idB = try await apply(app(2, ["dangerous-goods"]))
        h.clock.advance(by: 3600)
        try await decide(.transport, idB, .reject, reason: "无资质")
        // C, one millisecond before midnight: day 1.
        h.clock.set(midnight.addingTimeInterval(-0.001))
        let idC = try await apply(app(3, ["medical-supplies"]))

        // Day 2, 2026-12-01. D at midnight exactly: day 2.
        h.clock.set(midnight)
        let idD = try await apply(app(4, ["dangerous-goods"]))
        // C approved and issued on day 2 (600.001 s after it was submitted on day 1).
        h.clock.set(midnight.addingTimeInterval(600))
        try await decide(.health, idC)
        // D: TRANSPORT after 2 h, PUBLIC_SECURITY after 3 h, which issues (3 h).
        h.clock.set(midnight.addingTimeInterval(2 * 3600))
        try await decide(.transport, idD)
        h.clock.set(midnight.addingTimeInterval(3 * 3600))
        try await decide(.publicSecurity, idD)
        // E: POSTAL never decides (due 8 h later: overdue at the report).
        _ = try await apply(app(5, ["mail-and-parcels"]))

        // Day 3, 2026-12-02 10:00. A amended (a crew name): HEALTH carried over, issued at once (0 s).
        h.clock.set(midnight.addingTimeInterval(86_400 + 10 * 3600))
        var amended = a
        amended.crew[1].name = "李红梅"
        let amendment = try await h.workflow.amend(number: permitA, application: amended, key: h.firmKey)
        XCTAssertEqual(amendment.state, "issued", "every approval carried over: issued at once")
        // F: HEALTH approves after 30 min, issued (1800 s).
        let idF = try await apply(app(6, ["medical-supplies"]))
        h.clock.advance(by: 1800)
        try await decide(.health, idF)
        // G at 11:00: TRANSPORT approves after 20 min; PUBLIC_SECURITY pending, due at 19:00.
        h.clock.set(midnight.addingTimeInterval(86_400 + 11 * 3600))
        let idG = try await apply(app(7, ["dangerous-goods"]))
        h.clock.advance(by: 1200)
        try await decide(.transport, idG)
        // The reports at 12:00 on day 3.
        h.clock.set(midnight.addingTimeInterval(86_400 + 12 * 3600))

        typealias Row = (received: Int, approved: Int, rejected: Int, pending: Int, overdue: Int, closedUndecided: Int,
                         median: Double?, p90: Double?)
        func check(_ report: ActivityReport, applications: Int, waits: [Double], buckets: [Int], rows: [Department: Row],
                   file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(report.applications, applications, "applications", file: file, line: line)
            XCTAssertEqual(report.permits, waits.count, "permits", file: file, line: line)
            let sorted = waits.sorted()
            // Nearest rank: the ⌈p·n⌉-th value.
            func rank(_ p: Double, _ values: [Double]) -> Double? {
                values.isEmpty ? nil : values[Int((p * Double(values.count)).rounded(.up)) - 1]
            }
            func same(_ a: Double?, _ b: Double?, _ what: String) {
                XCTAssertEqual(a == nil, b == nil, "\(what): \(String(describing: a)) vs \(String(describing: b))", file: file, line: line)
                if let a, let b { XCTAssertEqual(a, b, accuracy: 0.01, what, file: file, line: line) }
            }
            same(report.medianApplicationToPermitSeconds, rank(0.5, sorted), "median application to permit")
            same(report.p90ApplicationToPermitSeconds, rank(0.9, sorted), "p90 application to permit")
            XCTAssertEqual(report.applicationToPermit.map(\.count), buckets, "histogram", file: file, line: line)
            XCTAssertEqual(report.departments.map(\.department), Department.allCases.map(\.rawValue), file: file, line: line)
            for d in Department.allCases {
                let e = rows[d] ?? (0, 0, 0, 0, 0, 0, nil, nil)
                guard let r = report.departments.first(where: { $0.department == d.rawValue }) else { continue }
                XCTAssertEqual([r.received, r.approved, r.rejected, r.pending, r.overdue, r.closedUndecided],
                               [e.received, e.approved, e.rejected, e.pending, e.overdue, e.closedUndecided],
                               "\(d.rawValue): received, approved, rejected, pending, overdue, closed undecided", file: file, line: line)
                same(r.medianDecisionSeconds, e.median, "\(d.rawValue) median")
                same(r.p90DecisionSeconds, e.p90, "\(d.rawValue) p90")
            }
        }

        // Everything: A, B, C, D, E, the amendment, F, G; permits of A, C, D, the amendment, F.
        let all = try await h.workflow.report(since: nil)
        XCTAssertNil(all.since)
        check(all, applications: 8, waits: [0, 600.001, 3 * 3600, 0, 1800], buckets: [2, 0, 1, 1, 1, 0, 0], rows: [
            .health: (3, 3, 0, 0, 0, 0, 600.001, 1800),                 // A 0 s, C 600.001 s, F 1800 s (the amendment's is carried)
            .transport: (3, 2, 1, 0, 0, 0, 3600, 7200),                // B rejected 3600 s, D 7200 s, G 1200 s
            .publicSecurity: (3, 1, 0, 1, 0, 1, 3 * 3600, 3 * 3600),   // B closed, D 10800 s, G pending (not yet due)
            .postal: (1, 0, 0, 1, 1, 0, nil, nil),                     // E pending, overdue
        ])

        // What /metrics reads at each scrape, counted by the store: the same as the report's.
        let counts = try await h.workflow.liveCounts()
        XCTAssertEqual(counts.permitsIssued, all.permits)
        XCTAssertEqual(counts.pending.map(\.department), Department.allCases.map(\.rawValue))
        XCTAssertEqual(counts.pending.map(\.count), all.departments.map(\.pending))
        XCTAssertEqual(counts.pending.reduce(0) { $0 + $1.count }, 2, "G at PUBLIC_SECURITY, E at POSTAL")

        // Since day 2: D, E, the amendment, F, G; permits of D, the amendment, F. C (submitted a
        // millisecond too early) is not in it, nor its approval and permit made on day 2.
        let since = try await h.workflow.report(since: day2)
        XCTAssertEqual(since.since, "2026-12-01")
        check(since, applications: 5, waits: [3 * 3600, 0, 1800], buckets: [1, 0, 0, 1, 1, 0, 0], rows: [
            .health: (1, 1, 0, 0, 0, 0, 1800, 1800),                   // F (the amendment's is carried)
            .transport: (2, 2, 0, 0, 0, 0, 1200, 7200),                // D 7200 s, G 1200 s
            .publicSecurity: (2, 1, 0, 1, 0, 0, 3 * 3600, 3 * 3600),   // D 10800 s, G pending
            .postal: (1, 0, 0, 1, 1, 0, nil, nil),                     // E
        ])

        // Since day 3: the amendment, F, G.
        let day3 = try await h.workflow.report(since: day2.adding(days: 1))
        check(day3, applications: 3, waits: [0, 1800], buckets: [1, 0, 0, 1, 0, 0, 0], rows: [
            .health: (1, 1, 0, 0, 0, 0, 1800, 1800),
            .transport: (1, 1, 0, 0, 0, 0, 1200, 1200),
            .publicSecurity: (1, 0, 0, 1, 0, 0, nil, nil),
        ])
        // Since the day after: nothing.
        let none = try await h.workflow.report(since: day2.adding(days: 2))
        check(none, applications: 0, waits: [], buckets: [0, 0, 0, 0, 0, 0, 0], rows: [:])
    }
}

/// `permit backup` is SQLite's online backup: these stay on SQLite (a PostgreSQL deployment is
/// backed up with its own tools).
final class LifecycleBackupTests: XCTestCase {
    func testARestoredBackupPassesTheAudit() async throws {
        let h = try await Harness()
        _ = try await h.issue(h.application)
        let backup = h.dir.url.appendingPathComponent("backup.sqlite")
        try h.workflow.backup(to: backup)
        let restored = DataDirectory(url: h.dir.url.appendingPathComponent("restored"))
        try FileManager.default.createDirectory(at: restored.url, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: backup, to: restored.database)
        let workflow = try await Workflow(directory: restored, clock: h.clock)
        let result = try await workflow.verifyAudit()
        XCTAssertTrue(result.ok, "\(result.findings)")
        XCTAssertEqual(result.permits, 1)
        let v32 = try await h.workflow.auditLog(subject: nil).count
        XCTAssertEqual(result.events, v32)
    }

    /// `POST revocation-lists?above=9223372036854775807` trapped the server in `above + 1`.
    func testAnAboveAtTheTopOfIntIsRefusedNotATrap() async throws {
        let h = try await Harness()
        for above in [Int.max, Int.max - 1, Workflow.maxListSequence] {
            do {
                _ = try await h.workflow.signRevocations(validForDays: 1, above: above)
                XCTFail("above=\(above) was accepted")
            } catch {
                XCTAssertEqual((error as? WorkflowError)?.problems.first?.code, "revocations.above", "\(error)")
            }
        }
        let list = try await h.workflow.signRevocations(validForDays: 1, above: Workflow.maxListSequence - 1)
        XCTAssertEqual(list.document.sequence, Workflow.maxListSequence)
    }

    func testARestoredDatabaseNeverReusesAPublishedSequence() async throws {
        let h = try await Harness()
        let backup = h.dir.url.appendingPathComponent("backup.sqlite")
        try h.workflow.backup(to: backup)
        let v31 = try await h.workflow.exportRevocations(to: h.dir.revocations).sequence
        XCTAssertEqual(v31, 1)
        let v30 = try await h.workflow.exportRevocations(to: h.dir.revocations).sequence
        XCTAssertEqual(v30, 2)
        let restored = DataDirectory(url: h.dir.url.appendingPathComponent("restored"))
        try FileManager.default.createDirectory(at: restored.url, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: backup, to: restored.database)
        try FileManager.default.copyItem(at: h.dir.issuerKey, to: restored.issuerKey)
        let workflow = try await Workflow(directory: restored, clock: h.clock)
        let v29 = try await workflow.exportRevocations(to: h.dir.revocations).sequence
        XCTAssertEqual(v29, 3)
    }
}
