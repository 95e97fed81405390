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

final class AmendTests: XCTestCase {
    private func code(_ error: Error) -> String? { (error as? ProblemConvertible)?.problems.first?.code }

    func testACrewOnlyChangeCarriesEveryApprovalOverAndIssuesAtOnceSupersedingTheOld() throws {
        let h = try Harness()
        let (oldID, old) = try h.issue(h.application)
        var changed = h.application
        changed.crew[1].name = "李红梅"
        changed.crew[1].phone = "13911112222"

        let r = try h.workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.amends, old)
        XCTAssertEqual(r.reference, "QT-2026-T00001-A1")
        XCTAssertEqual(r.departments, ["HEALTH"])
        XCTAssertEqual(r.carriedOver, ["HEALTH"])
        XCTAssertEqual(r.mustDecide, [])
        XCTAssertEqual(r.state, "issued")
        let new = try XCTUnwrap(r.permitNumber)
        XCTAssertEqual(new, "330114000002")

        // The carried row keeps the original signed decision and names it.
        let original = try XCTUnwrap(try h.workflow.history(oldID).decisions.first)
        let history = try h.workflow.history(r.id)
        XCTAssertEqual(history.application.amends, old)
        let carried = try XCTUnwrap(history.decisions.first)
        XCTAssertEqual(carried.carriedFrom, original.id)
        XCTAssertEqual(carried.signature, original.signature)
        XCTAssertEqual(carried.approverID, original.approverID)
        XCTAssertEqual(carried.decidedAt, original.decidedAt)
        XCTAssertEqual(history.events.map(\.action), ["apply", "amend", "issue"])
        let amendEvent = try XCTUnwrap(history.events.first { $0.action == "amend" })
        XCTAssertTrue(String(decoding: amendEvent.content, as: UTF8.self).contains("\"carriedFrom\":\"\(original.id!)\""))
        XCTAssertEqual(try h.workflow.store.read { try $0.amendments(permitNumber: old) }.map(\.publicID), [r.id])

        // The old permit is superseded, linked both ways, and a checkpoint sees it revoked.
        let oldStatus = try h.workflow.status(old)
        XCTAssertEqual(oldStatus.state, .superseded)
        XCTAssertEqual(oldStatus.permit.supersededBy, new)
        XCTAssertEqual(try h.workflow.status(new).permit.supersedes, old)
        XCTAssertEqual(try h.workflow.status(new).state, .active)
        XCTAssertEqual(try h.workflow.history(old).events.last?.action, "supersede")
        try h.workflow.exportRevocations(to: h.dir.revocations)
        let root = try PublicKey.load(path: h.dir.rootPublicKey.path)
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: h.dir.trustList)), root: root)
        let set = try RevocationSet(verifying: Array(try Data(contentsOf: h.dir.revocations)), trust: trust, root: root)
        let verifier = Verifier(trust: trust, revocations: [set], clock: CheckpointClock(date: h.chinaTime("2026-12-02T04:00:00Z")))
        XCTAssertEqual(verifier.verify(oldStatus.permit.payload).reason, VerificationResult.Reason.revoked)
        let newPayload = try h.workflow.status(new).permit.payload
        XCTAssertEqual(verifier.verify(newPayload).outcome, VerificationResult.Outcome.valid)
        // The new permit carries the new crew and the original approval's department.
        let claims = try PermitClaims(decoding: try PermitText.decode(newPayload).cose.payload)
        XCTAssertEqual(claims.permit.crew.map(\.name), ["刘建国", "李红梅"])
        XCTAssertEqual(claims.permit.approvedBy, [7])

        // audit verify checks the carried row against the original application's digest.
        let audit = try h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
        XCTAssertEqual(audit.decisions, 2)
    }

    func testAVehicleChangeCarriesOverAndSupersedesTheOldPlatesPermit() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        var changed = h.application
        changed.vehicle.plate = "浙A67890"
        changed.validity.to = "2026-12-20"
        let r = try h.workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.carriedOver, ["HEALTH"])
        let new = try XCTUnwrap(r.permitNumber)
        XCTAssertEqual(try h.workflow.status(old).permit.supersededBy, new)
        XCTAssertTrue(try h.workflow.verifyAudit().ok)
    }

    func testACargoChangeReasksByTheRule() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        var changed = h.application
        changed.cargo.categories = ["medical-supplies", "mail-and-parcels"]
        let r = try h.workflow.amend(number: old, application: changed, key: h.firmKey)
        // HEALTH is still required by the same rule (default-medical-supplies), but the cargo
        // changed, and HEALTH decided on the cargo: by the rule it decides again. POSTAL is new.
        XCTAssertEqual(r.departments, ["HEALTH", "POSTAL"])
        XCTAssertEqual(r.carriedOver, [])
        XCTAssertEqual(r.mustDecide, ["HEALTH", "POSTAL"])
        XCTAssertEqual(r.state, "pending")
        XCTAssertNil(r.permitNumber)
        XCTAssertEqual(try h.workflow.status(old).state, .active, "the old permit stays live until the amendment is issued")
        // A second amendment of the same permit waits for this one.
        XCTAssertThrowsError(try h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "amend.pending")
        }
        XCTAssertEqual(try h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [r.id], decision: .approve)[0].state, "pending")
        let d = try h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [r.id], decision: .approve)
        let new = try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])")
        XCTAssertEqual(try h.workflow.status(old).state, .superseded)
        XCTAssertEqual(try h.workflow.status(old).permit.supersededBy, new)
        XCTAssertTrue(try h.workflow.verifyAudit().ok)
    }

    func testARoutingRuleChangeReasksOnlyTheDepartmentWhoseRulesChanged() throws {
        let h = try Harness()
        let load = h.variant(1, categories: ["medical-supplies", "mail-and-parcels"])
        let id = try XCTUnwrap(try h.workflow.apply([h.item(load)], key: h.firmKey)[0].id)
        _ = try h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [id], decision: .approve)
        let old = try XCTUnwrap(try h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id],
                                                      decision: .approve, conditions: ["限夜间通行"])[0].permitNumber)
        // The authority replaces the parcels rule with its own (another id); the medical rule stays.
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent()
        let table = try String(contentsOf: repo.appendingPathComponent("Schemas/routing.json"), encoding: .utf8)
        try table.replacingOccurrences(of: "\"default-mail-and-parcels\"", with: "\"qiantang-parcels\"")
            .write(to: h.dir.url.appendingPathComponent("routing.json"), atomically: true, encoding: .utf8)
        let workflow = try Workflow(directory: h.dir, clock: h.clock)

        var changed = load
        changed.crew[0].phone = "13800001111"
        let r = try workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.reference, "QT-TEST-1-A1")
        XCTAssertEqual(r.carriedOver, ["HEALTH"])
        XCTAssertEqual(r.mustDecide, ["POSTAL"])
        let d = try workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [r.id], decision: .approve)
        let new = try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])")
        // The carried HEALTH condition is on the new permit.
        XCTAssertEqual(try workflow.history(new).permit.flatMap { try? PermitClaims(decoding: PermitText.decode($0.payload).cose.payload) }?.permit.conditions,
                       ["限夜间通行"])
        XCTAssertEqual(try workflow.status(old).permit.supersededBy, new)
        XCTAssertTrue(try workflow.verifyAudit().ok)
    }

    func testARouteChangeReasksAllAndStillSupersedesTheOld() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        var changed = h.application
        changed.route.destination.county = "330106"
        let r = try h.workflow.amend(number: old, application: changed, key: h.firmKey)
        XCTAssertEqual(r.carriedOver, [])
        XCTAssertEqual(r.mustDecide, ["HEALTH"])
        let d = try h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [r.id], decision: .approve)
        let new = try XCTUnwrap(d[0].permitNumber, "\(d[0].errors ?? [])")
        // Another route: the same-route rule would not supersede it, the amendment does.
        XCTAssertEqual(try h.workflow.status(old).state, .superseded)
        XCTAssertEqual(try h.workflow.status(old).permit.supersededBy, new)
        XCTAssertEqual(try h.workflow.revocations().map(\.reason), ["superseded"])
        // Amending the new permit again with the same reference takes the next suffix.
        var again = h.application
        again.route.destination.county = "330106"
        again.crew[1].name = "李红梅"
        let second = try h.workflow.amend(number: new, application: again, key: h.firmKey)
        XCTAssertEqual(second.reference, "QT-2026-T00001-A2")
        XCTAssertEqual(second.carriedOver, ["HEALTH"])
        XCTAssertNotNil(second.permitNumber)
        // The second carry-over names the decision that signed (on the first amendment).
        let carried = try XCTUnwrap(try h.workflow.history(second.id).decisions.first)
        let signing = try XCTUnwrap(try h.workflow.history(r.id).decisions.first)
        XCTAssertEqual(carried.carriedFrom, signing.id)
        let audit = try h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
    }

    func testAnotherFirmsKeyIsRefusedAndNothingIsWritten() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        let before = try h.counts()
        var changed = h.application
        changed.crew[1].name = "李红梅"
        XCTAssertThrowsError(try h.workflow.amend(number: old, application: changed, key: h.otherFirmKey)) {
            XCTAssertEqual(self.code($0), "auth.notOwner")
        }
        XCTAssertThrowsError(try h.workflow.amend(number: old, application: changed, key: h.approvers[.health]!)) {
            XCTAssertEqual(self.code($0), "auth.notApplicant")
        }
        // The firm's own key, but the file names another firm.
        changed.applicant.creditCode = "91110108MA01AAAA1B".creditCodeFixed
        XCTAssertThrowsError(try h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "applicant.creditCodeMismatch")
        }
        XCTAssertEqual(try h.counts().applications, before.applications)
        XCTAssertEqual(try h.counts().audit, before.audit)
        XCTAssertEqual(try h.workflow.status(old).state, .active)
    }

    func testARevokedOrSupersededPermitCannotBeAmended() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        try h.workflow.revoke(number: old, reason: "超载运输", adminKey: h.admin)
        var changed = h.application
        changed.crew[1].name = "李红梅"
        XCTAssertThrowsError(try h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "amend.notLive")
        }
        let (_, first) = try h.issue(h.variant(2))
        let r = try h.workflow.amend(number: first, application: h.variant(2), key: h.firmKey)
        XCTAssertNotNil(r.permitNumber)
        XCTAssertThrowsError(try h.workflow.amend(number: first, application: h.variant(2), key: h.firmKey)) {
            XCTAssertEqual(self.code($0), "amend.notLive")
        }
        // Invalid content is refused with the validator's problems.
        var bad = h.application
        bad.validity.to = "2027-03-01"
        XCTAssertThrowsError(try h.workflow.amend(number: r.permitNumber!, application: bad, key: h.firmKey))
    }

    func testAPendingAmendmentIsNotIssuedOnceTheOldPermitWasRevoked() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        var changed = h.application
        changed.route.destination.county = "330106"
        let r = try h.workflow.amend(number: old, application: changed, key: h.firmKey)
        try h.workflow.revoke(number: old, reason: "伪造材料", adminKey: h.admin)
        let d = try h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [r.id], decision: .approve)
        XCTAssertEqual(d[0].errors?.first?.code, "amend.permitNotLive")
        XCTAssertEqual(try h.workflow.history(r.id).application.state, .pending)
    }

    func testAuditVerifyNamesACarriedRowThatLostItsLink() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        var changed = h.application
        changed.crew[1].name = "李红梅"
        let r = try h.workflow.amend(number: old, application: changed, key: h.firmKey)
        let carried = try XCTUnwrap(try h.workflow.history(r.id).decisions.first?.id)
        try h.tamper("UPDATE decision SET carriedFrom = NULL WHERE id = \(carried)")
        let audit = try h.workflow.verifyAudit()
        XCTAssertEqual(audit.findings.map(\.id), [String(carried)])
        XCTAssertTrue(audit.findings[0].message.contains("another application's digest"), audit.findings[0].message)
    }

    func testABlacklistedNewVehicleIsRefusedAndAuditedAndTheReportSkipsCarriedApprovals() throws {
        let h = try Harness()
        let (_, old) = try h.issue(h.application)
        _ = try h.workflow.blacklistAdd(kind: .plate, value: "浙A67890", reason: "多次违规", until: nil, revokeActive: false, adminKey: h.admin)
        var changed = h.application
        changed.vehicle.plate = "浙A67890"
        XCTAssertThrowsError(try h.workflow.amend(number: old, application: changed, key: h.firmKey)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.field, "vehicle.plate")
        }
        XCTAssertEqual(try h.workflow.auditLog(subject: nil).last?.action, "amend.refused")
        changed.crew[1].name = "李红梅"
        changed.vehicle.plate = h.application.vehicle.plate
        XCTAssertNotNil(try h.workflow.amend(number: old, application: changed, key: h.firmKey).permitNumber)
        // HEALTH reviewed once; the carried-over approval is not a second review.
        let health = try XCTUnwrap(try h.workflow.report(since: nil).departments.first { $0.department == "HEALTH" })
        XCTAssertEqual(health.received, 1)
        XCTAssertEqual(health.approved, 1)
    }
}
