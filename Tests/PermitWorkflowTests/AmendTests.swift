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

class AmendTests: StoreTestCase {
    private func code(_ error: Error) -> String? { (error as? ProblemConvertible)?.problems.first?.code }

    func testACrewOnlyChangeCarriesEveryApprovalOverAndIssuesAtOnceSupersedingTheOld() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (oldID, old) = try await h.issue(h.application)
        var changed = h.application
        changed.crew[1].name = "李红梅"
        changed.crew[1].phone = "13911112222"

        let r = try await h.workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.amends, old)
        XCTAssertEqual(r.reference, "QT-2026-T00001-A1")
        XCTAssertEqual(r.departments, ["HEALTH"])
        XCTAssertEqual(r.carriedOver, ["HEALTH"])
        XCTAssertEqual(r.mustDecide, [])
        XCTAssertEqual(r.state, "issued")
        let new = try XCTUnwrap(r.permitNumber)
        XCTAssertEqual(new, "330114000002")

        // The carried row keeps the original signed decision and names it.
        let v28 = try await h.workflow.history(oldID).decisions.first
        let original = try XCTUnwrap(v28)
        let history = try await h.workflow.history(r.id)
        XCTAssertEqual(history.application.amends, old)
        let carried = try XCTUnwrap(history.decisions.first)
        XCTAssertEqual(carried.carriedFrom, original.id)
        XCTAssertEqual(carried.signature, original.signature)
        XCTAssertEqual(carried.approverID, original.approverID)
        XCTAssertEqual(carried.decidedAt, original.decidedAt)
        XCTAssertEqual(history.events.map(\.action), ["apply", "amend", "issue"])
        let amendEvent = try XCTUnwrap(history.events.first { $0.action == "amend" })
        XCTAssertTrue(String(decoding: amendEvent.content, as: UTF8.self).contains("\"carriedFrom\":\"\(original.id!)\""))
        let v27 = try await h.workflow.store.read { try $0.amendments(permitNumber: old) }.map(\.publicID)
        XCTAssertEqual(v27, [r.id])

        // The old permit is superseded, linked both ways, and a checkpoint sees it revoked.
        let oldStatus = try await h.workflow.status(old)
        XCTAssertEqual(oldStatus.state, .superseded)
        XCTAssertEqual(oldStatus.permit.supersededBy, new)
        let v26 = try await h.workflow.status(new).permit.supersedes
        XCTAssertEqual(v26, old)
        let v25 = try await h.workflow.status(new).state
        XCTAssertEqual(v25, .active)
        let v24 = try await h.workflow.history(old).events.last?.action
        XCTAssertEqual(v24, "supersede")
        try await h.workflow.exportRevocations(to: h.dir.revocations)
        let root = try PublicKey.load(path: h.dir.rootPublicKey.path)
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: h.dir.trustList)), root: root)
        let set = try RevocationSet(verifying: Array(try Data(contentsOf: h.dir.revocations)), trust: trust, root: root)
        let verifier = Verifier(trust: trust, revocations: [set], clock: CheckpointClock(date: h.chinaTime("2026-12-02T04:00:00Z")))
        XCTAssertEqual(verifier.verify(oldStatus.permit.payload).reason, VerificationResult.Reason.revoked)
        let newPayload = try await h.workflow.status(new).permit.payload
        XCTAssertEqual(verifier.verify(newPayload).outcome, VerificationResult.Outcome.valid)
        // The new permit carries the new crew and the original approval's department.
        let claims = try PermitClaims(decoding: try PermitText.decode(newPayload).cose.payload)
        XCTAssertEqual(claims.permit.crew.map(\.name), ["刘建国", "李红梅"])
        XCTAssertEqual(claims.permit.approvedBy, [7])

        // audit verify checks the carried row against the original application's digest.
        let audit = try await h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
        XCTAssertEqual(audit.decisions, 2)
    }

    func testAVehicleChangeCarriesOverAndSupersedesTheOldPlatesPermit() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        var changed = h.application
        changed.vehicle.plate = "浙A67890"
        changed.validity.to = "2026-12-20"
        let r = try await h.workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.carriedOver, ["HEALTH"])
        let new = try XCTUnwrap(r.permitNumber)
        let v23 = try await h.workflow.status(old).permit.supersededBy
        XCTAssertEqual(v23, new)
        let v22 = try await h.workflow.verifyAudit().ok
        XCTAssertTrue(v22)
    }

    func testACargoChangeReasksByTheRule() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        var changed = h.application
        changed.cargo.categories = ["medical-supplies", "mail-and-parcels"]
        let r = try await h.workflow.amend(number: old, application: changed, key: h.firmKey)
        // HEALTH is still required by the same rule (default-medical-supplies), but the cargo
        // changed, and HEALTH decided on the cargo: by the rule it decides again. POSTAL is new.
        XCTAssertEqual(r.departments, ["HEALTH", "POSTAL"])
        XCTAssertEqual(r.carriedOver, [])
        XCTAssertEqual(r.mustDecide, ["HEALTH", "POSTAL"])
        XCTAssertEqual(r.state, "pending")
        XCTAssertNil(r.permitNumber)
        let v21 = try await h.workflow.status(old).state
        XCTAssertEqual(v21, .active, "the old permit stays live until the amendment is issued")
        // A second amendment of the same permit waits for this one.
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "amend.pending")
        }
        let v20 = try await h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [r.id], decision: .approve)[0].state
        XCTAssertEqual(v20, "pending")
        let d = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [r.id], decision: .approve)
        let new = try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])")
        let v19 = try await h.workflow.status(old).state
        XCTAssertEqual(v19, .superseded)
        let v18 = try await h.workflow.status(old).permit.supersededBy
        XCTAssertEqual(v18, new)
        let v17 = try await h.workflow.verifyAudit().ok
        XCTAssertTrue(v17)
    }

    func testARoutingRuleChangeReasksOnlyTheDepartmentWhoseRulesChanged() async throws {
        let h = try await Harness(store: Self.storeKind)
        let load = h.variant(1, categories: ["medical-supplies", "mail-and-parcels"])
        let v16 = try await h.workflow.apply([h.item(load)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v16)
        _ = try await h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [id], decision: .approve)
        let v15 = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id],
                                              decision: .approve, conditions: ["限夜间通行"])[0].permitNumber
        let old = try XCTUnwrap(v15)
        // The authority replaces the parcels rule with its own (another id); the medical rule stays.
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent()
        let table = try String(contentsOf: repo.appendingPathComponent("Schemas/routing.json"), encoding: .utf8)
        try table.replacingOccurrences(of: "\"default-mail-and-parcels\"", with: "\"qiantang-parcels\"")
            .write(to: h.dir.url.appendingPathComponent("routing.json"), atomically: true, encoding: .utf8)
        let workflow = try await Workflow(directory: h.dir, clock: h.clock, database: h.database)

        var changed = load
        changed.crew[0].phone = "13800001111"
        let r = try await workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.reference, "QT-TEST-1-A1")
        XCTAssertEqual(r.carriedOver, ["HEALTH"])
        XCTAssertEqual(r.mustDecide, ["POSTAL"])
        let d = try await workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [r.id], decision: .approve)
        let new = try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])")
        // The carried HEALTH condition is on the new permit.
        let v14 = try await workflow.history(new).permit.flatMap { try? PermitClaims(decoding: PermitText.decode($0.payload).cose.payload) }?.permit.conditions
        XCTAssertEqual(v14,
                       ["限夜间通行"])
        let v13 = try await workflow.status(old).permit.supersededBy
        XCTAssertEqual(v13, new)
        let v12 = try await workflow.verifyAudit().ok
        XCTAssertTrue(v12)
    }

    func testARouteChangeReasksAllAndStillSupersedesTheOld() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        var changed = h.application
        changed.route.destination.county = "330106"
        let r = try await h.workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.carriedOver, [])
        XCTAssertEqual(r.mustDecide, ["HEALTH"])
        let d = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [r.id], decision: .approve)
        let new = try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])")
        // Another route: the same-route rule would not supersede it, the amendment does.
        let v11 = try await h.workflow.status(old).state
        XCTAssertEqual(v11, .superseded)
        let v10 = try await h.workflow.status(old).permit.supersededBy
        XCTAssertEqual(v10, new)
        let v9 = try await h.workflow.revocations().map(\.reason)
        XCTAssertEqual(v9, ["superseded"])
        // Amending the new permit again with the same reference takes the next suffix.
        var again = h.application
        again.route.destination.county = "330106"
        again.crew[1].name = "李红梅"
        let second = try await h.workflow.amend(number: new, application: again, key: h.firmKey)
        XCTAssertEqual(second.reference, "QT-2026-T00001-A2")
        XCTAssertEqual(second.carriedOver, ["HEALTH"])
        XCTAssertNotNil(second.permitNumber)
        // The second carry-over names the decision that signed (on the first amendment).
        let v8 = try await h.workflow.history(second.id).decisions.first
        let carried = try XCTUnwrap(v8)
        let v7 = try await h.workflow.history(r.id).decisions.first
        let signing = try XCTUnwrap(v7)
        XCTAssertEqual(carried.carriedFrom, signing.id)
        let audit = try await h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
    }

    func testAnotherFirmsKeyIsRefusedAndNothingIsWritten() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        let before = try h.counts()
        var changed = h.application
        changed.crew[1].name = "李红梅"
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: old, application: changed, key: h.otherFirmKey)) {
            XCTAssertEqual(self.code($0), "auth.notOwner")
        }
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: old, application: changed, key: h.approvers[.health]!)) {
            XCTAssertEqual(self.code($0), "auth.notApplicant")
        }
        // The firm's own key, but the file names another firm.
        changed.applicant.creditCode = "91110108MA01AAAA1B".creditCodeFixed
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "applicant.creditCodeMismatch")
        }
        XCTAssertEqual(try h.counts().applications, before.applications)
        XCTAssertEqual(try h.counts().audit, before.audit)
        let v6 = try await h.workflow.status(old).state
        XCTAssertEqual(v6, .active)
    }

    func testARevokedOrSupersededPermitCannotBeAmended() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        try await h.workflow.revoke(number: old, reason: "超载运输", adminKey: h.admin)
        var changed = h.application
        changed.crew[1].name = "李红梅"
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "amend.notLive")
        }
        let (_, first) = try await h.issue(h.variant(2))
        let r = try await h.workflow.amend(number: first, application: h.variant(2), key: h.firmKey)
        XCTAssertNotNil(r.permitNumber)
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: first, application: h.variant(2), key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "amend.notLive")
        }
        // Invalid content is refused with the validator's problems.
        var bad = h.application
        bad.validity.to = "2027-03-01"
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: r.permitNumber!, application: bad, key: h.firmKey))
    }

    func testAPendingAmendmentIsNotIssuedOnceTheOldPermitWasRevoked() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        var changed = h.application
        changed.route.destination.county = "330106"
        let r = try await h.workflow.amend(number: old, application: changed, key: h.firmKey)
        try await h.workflow.revoke(number: old, reason: "伪造材料", adminKey: h.admin)
        let d = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [r.id], decision: .approve)
        XCTAssertEqual(d[0].errors?.first?.code, "amend.permitNotLive")
        let v5 = try await h.workflow.history(r.id).application.state
        XCTAssertEqual(v5, .pending)
    }

    func testAuditVerifyNamesACarriedRowThatLostItsLink() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        var changed = h.application
        changed.crew[1].name = "李红梅"
        let r = try await h.workflow.amend(number: old, application: changed, key: h.firmKey)
        let v4 = try await h.workflow.history(r.id).decisions.first?.id
        let carried = try XCTUnwrap(v4)
        try h.tamper("UPDATE decision SET carriedFrom = NULL WHERE id = \(carried)")
        let audit = try await h.workflow.verifyAudit()
        XCTAssertEqual(audit.findings.map(\.id), [String(carried)])
        XCTAssertTrue(audit.findings[0].message.contains("another application's digest"), audit.findings[0].message)
    }

    func testABlacklistedNewVehicleIsRefusedAndAuditedAndTheReportSkipsCarriedApprovals() async throws {
        let h = try await Harness(store: Self.storeKind)
        let (_, old) = try await h.issue(h.application)
        _ = try await h.workflow.blacklistAdd(kind: .plate, value: "浙A67890", reason: "多次违规", until: nil, revokeActive: false, adminKey: h.admin)
        var changed = h.application
        changed.vehicle.plate = "浙A67890"
        await XCTAssertThrowsErrorAsync(try await h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.field, "vehicle.plate")
        }
        let v3 = try await h.workflow.auditLog(subject: nil).last?.action
        XCTAssertEqual(v3, "amend.refused")
        changed.crew[1].name = "李红梅"
        changed.vehicle.plate = h.application.vehicle.plate
        let v2 = try await h.workflow.amend(number: old, application: changed, key: h.firmKey).permitNumber
        XCTAssertNotNil(v2)
        // HEALTH reviewed once; the carried-over approval is not a second review.
        let v1 = try await h.workflow.report(since: nil).departments.first { $0.department == "HEALTH" }
        let health = try XCTUnwrap(v1)
        XCTAssertEqual(health.received, 1)
        XCTAssertEqual(health.approved, 1)
    }
}
