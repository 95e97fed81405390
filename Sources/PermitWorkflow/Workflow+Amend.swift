import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitRouting
import PermitSeal
import PermitStore


/// The carry-over rule of amendments, as a pure function.
///
/// A department keeps its approval when the amendment does not touch what it decided on:
/// 1. it is still required after re-routing the amended application;
/// 2. the routing rules that required it are the same (the same rule ids, fallback included);
/// 3. neither the cargo (categories as a set, description, weight) nor the route (origin,
///    destination, via) changed.
///
/// Changes to crew, vehicle, validity or trips alone therefore carry every approval over
/// (validation re-checks them). Every other required department must decide again. Only
/// approvals carry over; the original must be an approval of the amended permit.
public enum AmendmentRule {
    /// Whether cargo and route are the same in both versions.
    public static func sameCargoAndRoute(_ old: Application, _ new: Application) -> Bool {
        Set(old.cargo.categories) == Set(new.cargo.categories) && old.cargo.description == new.cargo.description
            && old.cargo.weightKg == new.cargo.weightKg
            && old.route.origin == new.route.origin && old.route.destination == new.route.destination
            && (old.route.via ?? []) == (new.route.via ?? [])
    }

    /// The ids of the rules that required `department`.
    public static func rules(requiring department: Department, in decision: RoutingDecision) -> Set<String> {
        Set(decision.matchedRules.filter { $0.departments.contains(department) }.map(\.id))
    }

    /// The departments of `new` whose approval on `old` carries over.
    public static func carriedOver(old: Application, oldRouting: RoutingDecision, approved: Set<Department>,
                                   new: Application, newRouting: RoutingDecision) -> [Department] {
        guard sameCargoAndRoute(old, new) else { return [] }
        return newRouting.departments.filter { d in
            approved.contains(d) && oldRouting.departments.contains(d)
                && rules(requiring: d, in: oldRouting) == rules(requiring: d, in: newRouting)
        }
    }
}

extension Workflow {
    /// Files an amendment of an issued permit: the firm's registered applicant key (the firm of the
    /// permit's application) submits a changed application, linked to the permit by `amends`.
    /// It is validated and routed as in `apply`; its reference is the file's own, with `-A1`,
    /// `-A2`… appended when the firm already used it. Approvals carry over by `AmendmentRule`:
    /// each carried approval is recorded for the new application as a decision row that keeps the
    /// original signature, approver, time and conditions, with `carriedFrom` naming the original,
    /// and the audit event `amend` lists them. When every required department carried over, the
    /// permit is issued in the same transaction and supersedes the amended one; otherwise the
    /// others decide with `decide` as usual, and the issuing decision supersedes it.
    /// The permit must be issued, not revoked or superseded, and have no pending amendment.
    /// `submission` is the firm's `SignedSubmission` of `application` as sent (before any `-An`
    /// suffix), naming `identifier` under `amends`.
    public func amend(number identifier: String, application: Application, submission: [UInt8]) async throws -> AmendResult {
        var keys = ApplicantKeys()
        let (signed, applicantKey) = try await verifiedSubmission(Data(submission), index: 0, keys: &keys)
        guard signed.amends == identifier else {
            throw WorkflowError("amend.submission", "the signed submission amends \(signed.amends ?? "nothing"), not \(identifier)",
                                field: "number", value: identifier, rule: "the firm signs the permit number it amends")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let actor = "applicant:" + applicantKey.kid
        // A blacklisted vehicle, crew member or firm is refused at once, as in `apply`, and audited.
        let barred = try await blacklistInForce()
        let normalized = application.normalized()
        if !barred.isEmpty, normalized.applicant.creditCode == applicantKey.party,
           let (entry, problem) = Workflow.blacklistRefusal(normalized, entries: barred) {
            let now = clock.now()
            _ = try await store.write { tx in
                try tx.appendAudit(at: now, actor: actor, action: "amend.refused", subject: normalized.applicant.creditCode,
                                   content: CanonicalJSON.encode(["number": identifier, "reference": normalized.reference,
                                                                  "blacklistID": String(entry.id ?? 0), "field": problem.field ?? "",
                                                                  "reason": entry.reason]))
            }
            throw ProblemList([problem])
        }
        return try await store.write { tx in
            guard let original = try Workflow.resolve(identifier, in: tx) else {
                throw WorkflowError("permit.notFound", "no permit \(identifier)", field: "number", value: identifier,
                                    rule: "a 12-digit permit number or the ID of an issued application")
            }
            guard original.creditCode == applicantKey.party else {
                throw WorkflowError("auth.notOwner", "the key \(applicantKey.kid) is a key of firm \(applicantKey.party), not of \(original.creditCode); only the permit's firm may amend it; nothing was written",
                                    field: "key", value: applicantKey.kid, rule: "the registered key of the firm that holds the permit")
            }
            guard let permit = try tx.permit(applicationID: original.id!) else {
                throw WorkflowError("permit.notIssued", "\(original.publicID) is \(original.state.rawValue); only an issued permit can be amended",
                                    field: "number", value: identifier, rule: "an issued permit")
            }
            if let revocation = try tx.revocation(number: permit.number) {
                let what = revocation.supersededBy.map { "superseded by \($0)" } ?? "revoked (\(revocation.reason))"
                throw WorkflowError("amend.notLive", "permit \(permit.number) was \(what); only a live permit can be amended",
                                    field: "number", value: permit.number, rule: "an issued permit that is not revoked or superseded")
            }
            if let pending = try tx.amendments(permitNumber: permit.number).first(where: { $0.state == .pending }) {
                throw WorkflowError("amend.pending", "permit \(permit.number) already has a pending amendment \(pending.publicID); it is decided or cancelled first",
                                    field: "number", value: permit.number, rule: "one pending amendment per permit")
            }
            var app = normalized
            // The file's own reference, made unique within the firm.
            let base = app.reference
            var n = 0
            while try tx.application(creditCode: app.applicant.creditCode, reference: app.reference) != nil {
                n += 1
                let suffix = "-A\(n)"
                app.reference = String(base.unicodeScalars.prefix(max(1, ApplicationLimits.referenceLength.upperBound - suffix.count))) + suffix
            }
            let p: PreparedApplication
            switch prepare(app, submission: signed, applicantKey: applicantKey, signedReference: base) {
            case .failure(let problems): throw problems
            case .success(let prepared): p = prepared
            }
            var record = try insert(p, tx: tx, amends: permit.number)

            // Carry over what the amendment does not touch.
            let oldDocument = try Application.decodeStored(original.document)
            let oldRouting = try JSONDecoder().decode(RoutingDecision.self, from: original.routing)
            let oldApprovals = try tx.decisions(applicationID: original.id!).filter { $0.decision == .approve }
            let approved = Set(oldApprovals.compactMap { Department(rawValue: $0.department) })
            let carried = AmendmentRule.carriedOver(old: oldDocument, oldRouting: oldRouting, approved: approved, new: p.app, newRouting: p.decision)
            var required = try tx.requiredDepartments(applicationID: record.id!)
            var decisions: [DecisionRecord] = []
            var audit: [[String: String]] = []
            for d in carried {
                guard let source = oldApprovals.last(where: { $0.department == d.rawValue }),
                      let slot = required.firstIndex(where: { $0.department == d.rawValue }) else { continue }
                var copy = DecisionRecord(applicationID: record.id!, department: source.department, decision: .approve, conditions: source.conditions,
                                          reason: nil, decidedAt: source.decidedAt, approverID: source.approverID, approverKid: source.approverKid,
                                          signature: source.signature)
                // The decision that signed: for an approval already carried over, its own original.
                copy.carriedFrom = source.carriedFrom ?? source.id
                let inserted = try tx.insertDecision(copy)
                decisions.append(inserted)
                required[slot].state = .approved
                required[slot].decidedAt = p.now
                try tx.updateRequiredDepartment(required[slot])
                audit.append(["department": d.rawValue, "decisionID": String(inserted.id!), "carriedFrom": String(inserted.carriedFrom!),
                              "signatureHash": Hashing.sha256Hex(Array(source.signature))])
            }
            let carriedCodes = decisions.map(\.department)
            let mustDecide = required.filter { $0.state == .pending }.map(\.department)
            try tx.appendAudit(at: p.now, actor: actor, action: "amend", subject: record.publicID,
                               content: CanonicalJSON.encode(AuditAmend(amends: permit.number, amendsApplication: original.publicID,
                                                                        carriedOver: audit, mustDecide: mustDecide)))
            var result = AmendResult(id: record.publicID, reference: record.reference, amends: permit.number, state: record.state.rawValue,
                                     departments: p.decision.departments.map(\.rawValue), carriedOver: carriedCodes, mustDecide: mustDecide,
                                     routingHash: p.decision.tableHash)
            if mustDecide.isEmpty {
                let issued = try issue(tx, application: &record, decisions: decisions, now: p.now, start: start)
                result.state = ApplicationState.issued.rawValue
                result.permitNumber = issued.number
            }
            return result
        }
    }
}

struct AuditAmend: Codable {
    var amends: String
    var amendsApplication: String
    var carriedOver: [[String: String]]
    var mustDecide: [String]
}
