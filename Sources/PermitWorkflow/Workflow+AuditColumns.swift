import Foundation
import PermitFoundation
import PermitAPI
import PermitModel
import PermitRouting
import PermitSeal
import PermitStore

/// `audit verify`'s second pass: every stored column that repeats something a signed document
/// says is held to that document, so that an edit made with SQL access alone is named by table,
/// row and column. Where nothing is signed (an application's state, revocations, supersession
/// links, cancellations), the column is held to what the signed rows imply and to the
/// hash-chained audit trail.
///
/// Rows that the first pass already named (a permit whose payload does not verify, a decision
/// whose signature does not hold, an application whose document does not hash to its digest)
/// are not used as a reference here, so one edit yields one finding, not a cascade.
extension Workflow {
    /// Whether `reference` is `signed` with the `-A1`, `-A2`… an amendment's reference gains when
    /// the firm used it before (possibly shortened to fit).
    static func isAmendmentSuffix(_ reference: String, of signed: String) -> Bool {
        guard let dash = reference.range(of: "-A", options: .backwards) else { return false }
        let number = reference[dash.upperBound...]
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return signed.hasPrefix(String(reference[..<dash.lowerBound]))
    }

    /// The facts a permit's verified payload states.
    struct SealedPermit {
        var record: PermitRecord
        var claims: PermitClaims
        var cose: COSESign1
    }

    /// The facts a decision's signature states (decoded; the signature itself is checked by `checkDecision`).
    struct SignedDecision {
        var record: DecisionRecord
        var department: UInt64
        var approve: Bool
        var conditions: [String]
        var reason: String?
        var millis: UInt64
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// Whether a time stored in milliseconds is the signed whole second `seconds` (signed times are
    /// rounded down to the second, stored ones rounded to the millisecond).
    static func sameSecond(_ millis: Int64, _ seconds: Int64) -> Bool {
        millis >= seconds * 1000 && millis <= seconds * 1000 + 1000
    }

    static func day(atUnix seconds: UInt64) -> CalendarDay {
        CalendarDay.inChina(at: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// The stored columns against their signed sources; `firstPass` is what `verifyAudit` found so far.
    func auditColumns(reader r: any StoreReader, events: [AuditEvent], applications apps: [ApplicationRecord],
                      decisions: [DecisionRecord], permits: [PermitRecord], issuerKeys: [PublicKey],
                      firstPass: [AuditFinding]) throws -> [AuditFinding] {
        var out: [AuditFinding] = []
        func add(_ table: String, _ id: String, _ column: String, _ message: String) {
            out.append(AuditFinding(check: table == "requiredDepartment" ? "application" : table, table: table, id: id,
                                    message: "\(table) \(id): \(message)", column: column))
        }
        let named = Set(firstPass.map { "\($0.table) \($0.id)" })

        // Audit events by what they name, for the columns nothing else signs.
        func fields(_ e: AuditEvent) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: e.content)) as? [String: Any] ?? [:]
        }
        var eventsBySubject: [String: [AuditEvent]] = [:]
        var revocationEvents: [String: (AuditEvent, [String: Any])] = [:]
        var supersededBy: [String: String] = [:]   // old → new, from `supersede` events
        var supersedes: [String: Set<String>] = [:] // new → olds
        for e in events {
            eventsBySubject[e.subject, default: []].append(e)
            guard e.action == "revoke" || e.action == "supersede" else { continue }
            let f = fields(e)
            guard let number = f["number"] as? String else { continue }
            revocationEvents[number] = (e, f)
            if e.action == "supersede", let new = f["supersededBy"] as? String {
                supersededBy[number] = new
                supersedes[new, default: []].insert(number)
            }
        }

        // Decisions: the time each signature states, and approvals that sign no reason.
        var signedDecisions: [Int64: [SignedDecision]] = [:]
        var untrustedDecisionApps: Set<Int64> = []
        for d in decisions {
            let id = String(d.id ?? 0)
            guard !named.contains("decision \(id)"), let cose = try? COSESign1.decode(Array(d.signature)),
                  let payload = try? CBORDecoder().decode(cose.payload), let department = payload[2]?.uint64,
                  let code = payload[3]?.uint64, let ms = payload[6]?.uint64 else {
                untrustedDecisionApps.insert(d.applicationID)
                continue
            }
            let signed = SignedDecision(record: d, department: department, approve: code == 1,
                                        conditions: payload[4]?.array?.compactMap(\.text) ?? [], reason: payload[5]?.text, millis: ms)
            if Int64(ms) != Workflow.millis(d.decidedAt) {
                add("decision", id, "decidedAt", "decidedAt \(RFC3339.string(d.decidedAt)) differs from the signed decision's \(RFC3339.string(Date(timeIntervalSince1970: Double(ms) / 1000)))")
            }
            if d.decision == .approve, let reason = d.reason {
                add("decision", id, "reason", "an approval signs no reason, the row says \"\(reason)\"")
            }
            if d.decision == .reject, !d.conditions.isEmpty {
                add("decision", id, "conditions", "a rejection signs no conditions, the row says \(d.conditions)")
            }
            signedDecisions[d.applicationID, default: []].append(signed)
        }

        // Permits: the verified payload's claims.
        var sealed: [String: SealedPermit] = [:]
        for p in permits where !named.contains("permit \(p.number)") {
            guard let cose = try? PermitText.decode(p.payload).cose,
                  issuerKeys.contains(where: { (cose.kid == nil || $0.kid == cose.kid!) && (try? cose.verify(with: $0)) != nil }),
                  let claims = try? PermitClaims(decoding: cose.payload) else { continue }
            sealed[p.number] = SealedPermit(record: p, claims: claims, cose: cose)
        }
        var sealedByApplication: [Int64: SealedPermit] = [:]
        for s in sealed.values { sealedByApplication[s.record.applicationID] = s }
        let permitByApplication = Dictionary(permits.map { ($0.applicationID, $0) }, uniquingKeysWith: { a, _ in a })
        let permitNumbers = Set(permits.map(\.number))
        let appByID = Dictionary(apps.compactMap { a in a.id.map { ($0, a) } }, uniquingKeysWith: { a, _ in a })
        let appByDigest = Dictionary(apps.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })

        // Applications: the signed submission and the document it signs.
        let applicantKeys = try r.partyKeys(kind: .applicant, includeRemoved: true)
        let required = Dictionary(grouping: try r.allRequiredDepartments(), by: \.applicationID)
        var documents: [Int64: Application] = [:]
        var signedCreditCodes: [Int64: String] = [:]
        for app in apps {
            guard let rowID = app.id else { continue }
            let id = app.publicID
            let documentHolds = !named.contains("application \(id)")
            let doc = documentHolds ? try? Application.decodeStored(app.document) : nil
            guard let submission = try? COSESign1.decode(Array(app.submission)), let payload = try? CBORDecoder().decode(submission.payload) else {
                add("application", id, "submission", "the submission is not a COSE_Sign1 over a CBOR map")
                continue
            }
            let signer = submission.kid.map { Hex.encode($0) }
            let key = applicantKeys.first { $0.kid == app.applicantKid }
            if let signer, signer != app.applicantKid {
                add("application", id, "applicantKid", "applicantKid \(app.applicantKid) differs from the signed submission's \(signer)")
                continue
            }
            guard let key, let publicKey = try? PublicKey(spki: Array(key.spki)) else {
                add("application", id, "applicantKid", "applicantKid \(app.applicantKid) is not a registered applicant key")
                continue
            }
            guard (try? submission.verify(with: publicKey)) != nil else {
                add("application", id, "submission", "the submission does not verify with applicant key \(app.applicantKid)")
                continue
            }
            let signedCode = payload[2]?.text ?? ""
            signedCreditCodes[rowID] = signedCode
            if key.party != signedCode {
                add("application", id, "applicantKid", "applicant key \(app.applicantKid) is registered to \(key.party), not to the signing firm \(signedCode)")
            }
            // An amendment's reference may carry the `-An` suffix the workflow added to the one the
            // firm signed: the signed digest is then that of the document under the signed reference.
            let signedReference = payload[3]?.text ?? ""
            let suffixed = payload[6]?.text != nil && app.reference != signedReference && Workflow.isAmendmentSuffix(app.reference, of: signedReference)
            var expectedDigest = Hex.decode(app.digest)
            if suffixed, var signedDoc = doc {
                signedDoc.reference = signedReference
                expectedDigest = SignedSubmission.document(of: signedDoc).digest
            }
            if payload[1]?.bytes != expectedDigest {
                add("application", id, "digest", "digest \(app.digest) differs from the signed submission's \(payload[1]?.bytes.map { Hex.encode($0) } ?? "none")")
            }
            if app.creditCode != signedCode || (doc != nil && doc!.applicant.creditCode != app.creditCode) {
                add("application", id, "creditCode", "creditCode \(app.creditCode) differs from the signed submission's \(signedCode)")
            }
            if (app.reference != signedReference && !suffixed) || (doc != nil && doc!.reference != app.reference) {
                add("application", id, "reference", "reference \(app.reference) differs from the signed submission's \(signedReference)")
            }
            let signedSeconds = payload[4]?.uint64 ?? 0
            // submittedAt is when the workflow received it; the firm signed on its own clock, which
            // the workflow accepted only within `RequestRules.skew` of its own.
            if abs(app.submittedAt.timeIntervalSince1970 - TimeInterval(signedSeconds)) > RequestRules.skew + 1 {
                add("application", id, "submittedAt", "submittedAt \(RFC3339.string(app.submittedAt)) differs from the signed submission's \(RFC3339.string(Date(timeIntervalSince1970: TimeInterval(signedSeconds))))")
            }
            guard let doc else { continue }
            documents[rowID] = doc
            if app.plate != doc.vehicle.plate {
                add("application", id, "plate", "plate \(app.plate) differs from the signed document's \(doc.vehicle.plate)")
            }

            // Routing: the stored decision is the table's, when the table is the same.
            var departments: [String]?
            if let stored = try? JSONDecoder().decode(RoutingDecision.self, from: app.routing) {
                if stored.tableHash != app.routingHash {
                    add("application", id, "routingHash", "routingHash \(app.routingHash) differs from the stored routing decision's table \(stored.tableHash)")
                }
                departments = stored.departments.map(\.rawValue)
                if stored.tableHash == routing.hash {
                    let fresh = routing.route(doc)
                    if fresh != stored {
                        add("application", id, "routing", "the stored routing (\(stored.departments.map(\.rawValue).joined(separator: ", "))) is not the routing table's decision for the signed document (\(fresh.departments.map(\.rawValue).joined(separator: ", ")))")
                    }
                    departments = fresh.departments.map(\.rawValue)
                }
            } else {
                add("application", id, "routing", "the stored routing is not a routing decision")
            }

            // Required departments: the routing's, each in the state its signed decision gives.
            let rows = required[rowID] ?? []
            let signed = untrustedDecisionApps.contains(rowID) ? nil : (signedDecisions[rowID] ?? [])
            if let departments {
                for row in rows where !departments.contains(row.department) {
                    add("requiredDepartment", "\(id)/\(row.department)", "department", "\(row.department) is not among the departments the routing requires (\(departments.joined(separator: ", ")))")
                }
                for d in departments where !rows.contains(where: { $0.department == d }) {
                    add("requiredDepartment", "\(id)/\(d)", "department", "the routing requires \(d), and there is no requiredDepartment row for it")
                }
            }
            for row in rows {
                let rid = "\(id)/\(row.department)"
                if let dept = Department(rawValue: row.department) {
                    let due = Workflow.millis(row.dueAt) - Int64(dept.reviewDeadlineHours) * 3_600_000
                    if !Workflow.sameSecond(due, Int64(signedSeconds)) {
                        add("requiredDepartment", rid, "dueAt", "dueAt \(RFC3339.string(row.dueAt)) is not \(dept.reviewDeadlineHours) h after the signed submission time \(RFC3339.string(Date(timeIntervalSince1970: TimeInterval(signedSeconds))))")
                    }
                }
                guard let signed else { continue }
                let number = Department(rawValue: row.department).map { UInt64($0.number) }
                let decision = signed.last { $0.department == number }
                let expected: RequiredDepartmentRecord.State = decision.map { $0.approve ? .approved : .rejected } ?? .pending
                if row.state != expected {
                    add("requiredDepartment", rid, "state", "state \(row.state.rawValue), but the signed decisions make it \(expected.rawValue)")
                }
                let decidedMillis = row.decidedAt.map(Workflow.millis)
                if let decision {
                    // A carried-over approval is recorded at the amendment's submission.
                    let ok = decision.record.carriedFrom == nil ? decidedMillis == Int64(decision.millis)
                                                                : decidedMillis.map { Workflow.sameSecond($0, Int64(signedSeconds)) } ?? false
                    if !ok {
                        add("requiredDepartment", rid, "decidedAt", "decidedAt \(row.decidedAt.map(RFC3339.string) ?? "none") differs from the signed decision's \(RFC3339.string(Date(timeIntervalSince1970: Double(decision.millis) / 1000)))")
                    }
                } else if let at = row.decidedAt {
                    add("requiredDepartment", rid, "decidedAt", "decidedAt \(RFC3339.string(at)), but no decision is signed")
                }
            }

            // An amendment names a permit of the same firm, as its `amend` event says.
            let amendEvent = (eventsBySubject[id] ?? []).last { $0.action == "amend" }
            let eventAmends = amendEvent.flatMap { fields($0)["amends"] as? String }
            if let amends = app.amends {
                if let eventAmends, eventAmends != amends {
                    add("application", id, "amends", "amends \(amends), but its amend event in the audit trail names \(eventAmends)")
                } else if let target = sealed[amends], target.claims.permit.applicant.creditCode != signedCode {
                    add("application", id, "amends", "amends \(amends), a permit of firm \(target.claims.permit.applicant.creditCode), not of the signing firm \(signedCode)")
                } else if amendEvent == nil {
                    add("application", id, "amends", "amends \(amends), but the audit trail records no amendment of it")
                }
            } else if let eventAmends {
                add("application", id, "amends", "no amends, but its amend event in the audit trail names permit \(eventAmends)")
            }

            // State, closing and permit number: what the signed rows and the audit trail imply.
            let subjectEvents = eventsBySubject[id] ?? []
            let permit = permitByApplication[rowID]
            let sealedPermit = sealedByApplication[rowID]
            guard let signed else { continue }
            let rejection = signed.first { !$0.approve }
            let approved = Set(signed.filter(\.approve).map(\.department))
            let allApproved = departments.map { ds in !ds.isEmpty && ds.allSatisfy { d in Department(rawValue: d).map { approved.contains(UInt64($0.number)) } ?? false } } ?? false
            var closedMillis: Int64?
            var closeReason: String?
            var stateProblem: String?
            switch app.state {
            case .issued:
                if permit == nil { stateProblem = "state issued, but there is no permit row for \(id)" }
                if let s = sealedPermit { closedMillis = Int64(s.claims.issuedAt) * 1000 }
            case .rejected:
                if permit != nil { stateProblem = "state rejected, but permit \(permit!.number) was issued for it" }
                else if let rejection {
                    closedMillis = Int64(rejection.millis)
                    closeReason = "\(rejection.record.department): \(rejection.reason ?? "")"
                } else if let e = subjectEvents.last(where: { $0.action == "blacklist.reject" }) {
                    closedMillis = Workflow.millis(e.at)
                    closeReason = fields(e)["reason"] as? String
                } else { stateProblem = "state rejected, but no decision rejects it and no blacklisting in the audit trail rejected it" }
            case .cancelled:
                if permit != nil { stateProblem = "state cancelled, but permit \(permit!.number) was issued for it" }
                else if let rejection { stateProblem = "state cancelled, but \(rejection.record.department) rejected it (decision \(rejection.record.id ?? 0))" }
                else if let e = subjectEvents.last(where: { $0.action == "cancel" }) {
                    closedMillis = Workflow.millis(e.at)
                    closeReason = fields(e)["reason"] as? String
                } else { stateProblem = "state cancelled, but the audit trail has no cancellation of it" }
            case .pending:
                if permit != nil { stateProblem = "state pending, but permit \(permit!.number) was issued for it" }
                else if let rejection { stateProblem = "state pending, but \(rejection.record.department) rejected it (decision \(rejection.record.id ?? 0))" }
                else if let e = subjectEvents.last(where: { $0.action == "cancel" || $0.action == "blacklist.reject" }) {
                    stateProblem = "state pending, but the audit trail closed it (\(e.action), audit \(e.seq))"
                }
            }
            if stateProblem == nil, app.state != .issued, permit == nil, allApproved {
                stateProblem = "state \(app.state.rawValue), but every required department approved it; the last approval issues the permit"
            }
            if let stateProblem {
                add("application", id, "state", stateProblem)
                continue
            }
            switch app.state {
            case .pending:
                if app.closedAt != nil { add("application", id, "closedAt", "closedAt \(RFC3339.string(app.closedAt!)) on a pending application") }
                if let reason = app.closeReason { add("application", id, "closeReason", "closeReason \"\(reason)\" on a pending application") }
            case .issued:
                if let closedMillis, !(app.closedAt.map { Workflow.sameSecond(Workflow.millis($0), closedMillis / 1000) } ?? false) {
                    add("application", id, "closedAt", "closedAt \(app.closedAt.map(RFC3339.string) ?? "none") differs from the sealed payload's iat \(RFC3339.string(Date(timeIntervalSince1970: Double(closedMillis) / 1000)))")
                }
                if let reason = app.closeReason { add("application", id, "closeReason", "closeReason \"\(reason)\" on an issued application") }
            case .rejected, .cancelled:
                if let closedMillis, app.closedAt.map(Workflow.millis) != closedMillis {
                    add("application", id, "closedAt", "closedAt \(app.closedAt.map(RFC3339.string) ?? "none") differs from the \(rejection != nil ? "signed rejection's" : "audit trail's") \(RFC3339.string(Date(timeIntervalSince1970: Double(closedMillis) / 1000)))")
                }
                if let closeReason, app.closeReason != closeReason {
                    add("application", id, "closeReason", "closeReason \"\(app.closeReason ?? "")\" differs from the \(rejection != nil ? "signed rejection's" : "audit trail's") \"\(closeReason)\"")
                }
            }
            // The number the payload states (read even when the first pass named the permit row).
            let payloadNumber = permit.flatMap { try? PermitText.decode($0.payload).cose }.flatMap { try? PermitClaims(decoding: $0.payload) }?.permit.number
            if let number = sealedPermit?.claims.permit.number ?? payloadNumber ?? permit?.number, app.permitNumber != number {
                add("application", id, "permitNumber", "permitNumber \(app.permitNumber ?? "none") differs from the number of its permit, \(number)")
            } else if app.state != .issued, let n = app.permitNumber {
                add("application", id, "permitNumber", "permitNumber \(n) on an application that was not issued")
            }

        }

        // Permits: each column against the verified payload, the payload against its application.
        for s in sealed.values.sorted(by: { ($0.record.authority, $0.record.serial) < ($1.record.authority, $1.record.serial) }) {
            let p = s.record
            let c = s.claims
            let n = p.number
            if p.authority != c.issuer { add("permit", n, "authority", "authority \(p.authority) differs from the sealed payload's \(c.issuer)") }
            if String(format: "%06d", p.serial) != String(c.permit.number.suffix(6)) {
                add("permit", n, "serial", "serial \(p.serial) differs from the sealed payload's number \(c.permit.number)")
            }
            if !Workflow.sameSecond(Workflow.millis(p.issuedAt), Int64(c.issuedAt)) {
                add("permit", n, "issuedAt", "issuedAt \(RFC3339.string(p.issuedAt)) differs from the sealed payload's iat \(RFC3339.string(Date(timeIntervalSince1970: TimeInterval(c.issuedAt))))")
            }
            let from = Workflow.day(atUnix: c.notBefore)
            if CalendarDay(iso: p.validFrom).map({ $0.startInChina }) != Int64(c.notBefore) {
                add("permit", n, "validFrom", "validFrom \(p.validFrom) differs from the sealed payload's \(from)")
            }
            let to = Workflow.day(atUnix: c.expiresAt &- 1)
            if CalendarDay(iso: p.validTo).map({ $0.adding(days: 1).startInChina }) != Int64(c.expiresAt) {
                add("permit", n, "validTo", "validTo \(p.validTo) differs from the sealed payload's \(to)")
            }
            if let kid = s.cose.kid, Hex.encode(kid) != p.issuerKid {
                add("permit", n, "issuerKid", "issuerKid \(p.issuerKid) differs from the sealed payload's signer \(Hex.encode(kid))")
            }
            let document = try? JSONDecoder().decode(IssuedPermit.self, from: p.document)
            if let document, (try? document.claims()) == c {
                if let appDoc = documents[p.applicationID], document.application.normalized() != appDoc.normalized() {
                    if let other = appByDigest[Hashing.sha256Hex(CanonicalJSON.encode(document.application))], other.id != p.applicationID {
                        add("permit", n, "applicationID", "applicationID \(ApplicationRecord.publicID(for: p.applicationID)), but its sealed document is application \(other.publicID)'s")
                    } else {
                        add("permit", n, "document", "the stored permit document's application differs from application \(ApplicationRecord.publicID(for: p.applicationID))'s signed document")
                    }
                }
            } else {
                add("permit", n, "document", "the stored permit document does not give the sealed payload's claims")
            }
            // The payload against the application it was issued for, and the decisions that approved it.
            if let appDoc = documents[p.applicationID] {
                let appID = ApplicationRecord.publicID(for: p.applicationID)
                let expected = try? IssuedPermit(application: appDoc, number: c.permit.number,
                                                 approvedBy: c.permit.approvedBy.compactMap { code in Department.allCases.first { UInt64($0.number) == code }?.rawValue },
                                                 conditions: c.permit.conditions ?? [],
                                                 issuedAt: Date(timeIntervalSince1970: TimeInterval(c.issuedAt))).claims()
                if expected != c {
                    add("permit", n, "applicationID", "the sealed payload is not of application \(appID)'s signed document (vehicle, crew, cargo, route, validity, applicant or trips differ)")
                }
                if !untrustedDecisionApps.contains(p.applicationID) {
                    let approvals = (signedDecisions[p.applicationID] ?? []).filter(\.approve).sorted { ($0.record.id ?? 0) < ($1.record.id ?? 0) }
                    let departments = Set(approvals.map(\.department)).sorted()
                    if departments != c.permit.approvedBy {
                        add("permit", n, "approvedBy", "the sealed payload's approving departments \(c.permit.approvedBy) are not the signed approvals of \(appID) \(departments)")
                    } else if approvals.flatMap(\.conditions) != (c.permit.conditions ?? []) {
                        add("permit", n, "conditions", "the sealed payload's conditions \(c.permit.conditions ?? []) are not those of the signed approvals of \(appID) \(approvals.flatMap(\.conditions))")
                    }
                }
            }

            // Supersession: the links as the audit trail's `supersede` events record them, between
            // permits whose payloads say the same vehicle and route, the newer issued later.
            if let new = p.supersededBy {
                if let recorded = supersededBy[n], recorded != new {
                    add("permit", n, "supersededBy", "supersededBy \(new), but the audit trail records it superseded by \(recorded)")
                } else if supersededBy[n] == nil {
                    add("permit", n, "supersededBy", "supersededBy \(new), but the audit trail records no supersession of it")
                } else if let newer = sealed[new] {
                    let amendment = appByID[newer.record.applicationID]?.amends == n
                    let nc = newer.claims
                    if !(nc.issuedAt >= c.issuedAt && newer.record.serial > p.serial) {
                        add("permit", n, "supersededBy", "supersededBy \(new), which was not issued after it")
                    } else if !amendment && (nc.permit.vehicle.plate != c.permit.vehicle.plate || nc.permit.origin.county != c.permit.origin.county
                                              || nc.permit.destination.county != c.permit.destination.county) {
                        add("permit", n, "supersededBy", "supersededBy \(new), whose sealed payload is for another vehicle or route, and which does not amend it")
                    } else if !amendment && !(nc.notBefore < c.expiresAt && c.notBefore < nc.expiresAt) {
                        add("permit", n, "supersededBy", "supersededBy \(new), whose validity does not overlap")
                    }
                }
            } else if let recorded = supersededBy[n] {
                add("permit", n, "supersededBy", "supersededBy is empty, but the audit trail records it superseded by \(recorded)")
            }
            if let old = p.supersedes {
                if !(supersedes[n] ?? []).contains(old) {
                    add("permit", n, "supersedes", "supersedes \(old), but the audit trail records no supersession of \(old) by \(n)")
                }
            } else if let olds = supersedes[n], !olds.isEmpty {
                add("permit", n, "supersedes", "supersedes is empty, but the audit trail records it superseding \(olds.sorted().joined(separator: ", "))")
            }
        }

        // Revocations: each row as its audit event recorded it, and each revoked permit on the
        // signed revocation list with a row.
        let revocations = try r.revocations()
        let revoked = Dictionary(revocations.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        for rev in revocations {
            let n = rev.number
            guard let (e, f) = revocationEvents[n] else {
                add("revocation", n, "number", "no revoke or supersede event in the audit trail records this revocation")
                continue
            }
            if let reason = f["reason"] as? String, reason != rev.reason {
                add("revocation", n, "reason", "reason \"\(rev.reason)\" differs from its \(e.action) event's \"\(reason)\" (audit \(e.seq))")
            }
            if e.actor != rev.actor { add("revocation", n, "actor", "actor \(rev.actor) differs from its \(e.action) event's \(e.actor) (audit \(e.seq))") }
            if Workflow.millis(e.at) != Workflow.millis(rev.revokedAt) {
                add("revocation", n, "revokedAt", "revokedAt \(RFC3339.string(rev.revokedAt)) differs from its \(e.action) event's \(RFC3339.string(e.at)) (audit \(e.seq))")
            }
            if let s = sealed[n], let hash = f["signatureHash"] as? String, hash != RevocationList.hash(ofSignature: s.cose.signature) {
                add("revocation", n, "signatureHash", "the revocation recorded hash \(hash), not the sealed payload's \(RevocationList.hash(ofSignature: s.cose.signature)) (audit \(e.seq))")
            }
            if (rev.reason == "superseded") != (e.action == "supersede") {
                add("revocation", n, "reason", "reason \"\(rev.reason)\", but it was recorded by a \(e.action) event (audit \(e.seq))")
            }
        }
        for (n, (e, _)) in revocationEvents.sorted(by: { $0.key < $1.key }) where revoked[n] == nil && permitNumbers.contains(n) {
            add("revocation", n, "number", "the audit trail records its \(e.action) (audit \(e.seq)), and there is no revocation row")
        }
        if let bytes = FileManager.default.contents(atPath: directory.revocations.path),
           let list = try? RevocationList.verify(Array(bytes), signers: issuerKeys), list.authority == authority.code {
            let byHash = Dictionary(sealed.values.map { (RevocationList.hash(ofSignature: $0.cose.signature), $0.record.number) }, uniquingKeysWith: { a, _ in a })
            for entry in list.revoked {
                guard let n = byHash[entry.hash] else { continue }
                if let rev = revoked[n] {
                    if rev.reason != entry.reason {
                        add("revocation", n, "reason", "reason \"\(rev.reason)\" differs from the signed revocation list's \"\(entry.reason)\" (\(directory.revocations.lastPathComponent), sequence \(list.sequence))")
                    }
                } else {
                    add("revocation", n, "number", "permit \(n) is on the signed revocation list (\(directory.revocations.lastPathComponent), sequence \(list.sequence)), and there is no revocation row")
                }
            }
        }

        // Stored checkpoints: the columns against the signed checkpoint they store.
        for c in try r.auditCheckpoints() {
            guard let cose = try? COSESign1.decode(Array(c.signature)),
                  let signed = try? Workflow.verifiedCheckpoint(Array(c.signature), issuerKeys: issuerKeys) else { continue }  // named above
            let id = String(c.id ?? 0)
            if c.length != signed.length { add("auditCheckpoint", id, "length", "length \(c.length) differs from the signed checkpoint's \(signed.length)") }
            if c.headHash != signed.head { add("auditCheckpoint", id, "headHash", "headHash \(c.headHash) differs from the signed checkpoint's \(signed.head)") }
            if !(RFC3339.date(signed.time).map { Workflow.sameSecond(Workflow.millis(c.at), Int64($0.timeIntervalSince1970)) } ?? false) {
                add("auditCheckpoint", id, "at", "at \(RFC3339.string(c.at)) differs from the signed checkpoint's \(signed.time)")
            }
            if let kid = cose.kid, Hex.encode(kid) != c.signerKid {
                add("auditCheckpoint", id, "signerKid", "signerKid \(c.signerKid) differs from the checkpoint's signer \(Hex.encode(kid))")
            }
        }
        return out
    }
}
