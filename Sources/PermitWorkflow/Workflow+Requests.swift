import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitRouting
import PermitSeal
import PermitStore

extension Workflow {
    /// Submits applications, each signed by its firm's registered key. Each item gets its own
    /// result: an invalid item never blocks the valid ones. Items are written in groups of up to
    /// `applyGroupSize` per transaction, each item in its own savepoint, so an item is written
    /// whole or not at all; if the store fails to commit a group, each of its items reports the
    /// failure. A repeated reference returns the existing application, so a batch sent again
    /// (after a time-out) is safe. With `dryRun`, items are checked and routed and nothing is
    /// written. A batch whose signer is not a registered applicant key is refused whole.
    public func apply(_ items: [SubmissionItem], dryRun: Bool = false, progress: ((Int) -> Void)? = nil) async throws -> [ApplyResult] {
        var keys = ApplicantKeys()
        if let first = items.first(where: { $0.submission != nil }) {
            // A batch signed by a key that is not a registered applicant key is refused whole; any
            // other fault of the first item is that item's own, reported in its place.
            do {
                _ = try await verifiedSubmission(first.submission, index: first.index, keys: &keys)
            } catch let error as WorkflowError where error.problems.first?.code == "auth.notApplicant" {
                throw error
            } catch {}
        }
        let barred = try await blacklistInForce()
        var results: [ApplyResult] = []
        results.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            let group = items[start..<min(items.count, start + Workflow.applyGroupSize)]
            await results += try applyGroup(Array(group), keys: &keys, blacklist: barred, dryRun: dryRun)
            start += group.count
            progress?(start)
        }
        return results
    }

    /// Applications per write transaction in `apply`.
    public static let applyGroupSize = 64

    /// One application checked, routed and signed, ready to be written.
    struct PreparedApplication {
        var app: Application
        var document: Data
        var digest: [UInt8]
        var submission: SignedSubmission
        var applicantKid: String
        var decision: RoutingDecision
        var now: Date
    }

    private func applyGroup(_ items: [SubmissionItem], keys: inout ApplicantKeys, blacklist: [BlacklistRecord],
                            dryRun: Bool) async throws -> [ApplyResult] {
        var results: [ApplyResult] = []
        var prepared: [Int: PreparedApplication] = [:]
        // A blacklisted vehicle, crew member or firm is refused at once, with the reason; the
        // refusal is audited in the group's transaction (not in a dry run, which writes nothing).
        var refusals: [(app: Application, entry: BlacklistRecord, problem: Problem, actor: String)] = []
        for (n, item) in items.enumerated() {
            var result = ApplyResult(index: item.index, reference: item.reference)
            guard let application = item.application else {
                result.errors = item.problems ?? [Problem(code: "application.missing", message: "item \(item.index) holds no application")]
                results.append(result)
                continue
            }
            let signed: (SignedSubmission, PartyKeyRecord)
            do {
                signed = try await verifiedSubmission(item.submission, index: item.index, keys: &keys)
            } catch let error as ProblemConvertible {
                result.errors = error.problems
                results.append(result)
                continue
            }
            let applicantKey = signed.1
            if !blacklist.isEmpty, case let app = application.normalized(), app.applicant.creditCode == applicantKey.party,
               let (entry, problem) = Workflow.blacklistRefusal(app, entries: blacklist) {
                result.errors = [problem]
                if !dryRun { refusals.append((app, entry, problem, "applicant:" + applicantKey.kid)) }
                results.append(result)
                continue
            }
            switch prepare(application, submission: signed.0, applicantKey: applicantKey) {
            case .failure(let problems): result.errors = problems.problems
            case .success(let p):
                result.departments = p.decision.departments.map(\.rawValue)
                result.routingHash = p.decision.tableHash
                if dryRun {
                    if let existing = try? await store.read({ try $0.application(creditCode: p.app.applicant.creditCode, reference: p.app.reference) }) {
                        result = duplicate(existing, result)
                    } else {
                        result.state = "valid"
                    }
                } else {
                    prepared[n] = p
                }
            }
            results.append(result)
        }
        guard !prepared.isEmpty || !refusals.isEmpty else { return results }
        let checked = results
        let order = prepared.keys.sorted()
        let keys = order.map { (creditCode: prepared[$0]!.app.applicant.creditCode, reference: prepared[$0]!.app.reference) }
        do {
            try await store.write(readAhead: ReadAhead(references: keys)) { tx in
                // A store may run the transaction again (a server database after a lost
                // connection): each run starts from the items' results as checked.
                results = checked
                let now = clock.now()
                for r in refusals {
                    try tx.appendAudit(at: now, actor: r.actor, action: "apply.refused", subject: r.app.applicant.creditCode,
                                       content: CanonicalJSON.encode(["reference": r.app.reference, "blacklistID": String(r.entry.id ?? 0),
                                                                      "field": r.problem.field ?? "", "reason": r.entry.reason]))
                }
                for n in order {
                    let p = prepared[n]!
                    do {
                        // A reference sent again returns what it made the first time.
                        if let existing = try tx.application(creditCode: p.app.applicant.creditCode, reference: p.app.reference) {
                            results[n] = duplicate(existing, results[n])
                            continue
                        }
                        let record = try tx.savepoint { try insert(p, tx: tx) }
                        results[n].id = record.publicID
                        results[n].state = record.state.rawValue
                    } catch {
                        results[n].errors = (error as? ProblemConvertible)?.problems ?? [Problem(code: "store.io", message: "\(error)")]
                    }
                }
            }
        } catch {
            for n in prepared.keys {
                results[n].id = nil
                results[n].state = nil
                results[n].duplicate = nil
                results[n].errors = (error as? ProblemConvertible)?.problems
                    ?? [Problem(code: "store.io", message: "the group of applications could not be committed: \(error)")]
            }
        }
        return results
    }

    private func duplicate(_ existing: ApplicationRecord, _ base: ApplyResult) -> ApplyResult {
        var r = base
        r.id = existing.publicID
        r.state = existing.state.rawValue
        r.duplicate = true
        r.departments = (try? JSONDecoder().decode(RoutingDecision.self, from: existing.routing))?.departments.map(\.rawValue)
        r.routingHash = existing.routingHash
        return r
    }

    /// Checks and routes one signed application; no store access. The submission must sign this
    /// very document (its digest), for the firm of the key, recently.
    /// An amendment's reference may have gained a `-An` suffix here: `signedReference` is the one the firm signed.
    func prepare(_ application: Application, submission: SignedSubmission, applicantKey: PartyKeyRecord,
                 signedReference: String? = nil) -> Result<PreparedApplication, ProblemList> {
        let app = application.normalized()
        guard app.applicant.creditCode == applicantKey.party else {
            return .failure(ProblemList([Problem(code: "applicant.creditCodeMismatch",
                                                 message: "applicant.creditCode \(app.applicant.creditCode) is not the firm of this key (\(applicantKey.party))",
                                                 field: "applicant.creditCode", value: app.applicant.creditCode, rule: "a firm applies only with its own registered key")]))
        }
        let now = clock.now()
        let (document, digest) = SignedSubmission.document(of: app)
        var signedApp = app
        if let signedReference { signedApp.reference = signedReference }
        let signedDigest = signedReference == nil ? digest : SignedSubmission.document(of: signedApp).digest
        var problems: [Problem] = []
        if submission.digest != signedDigest || submission.creditCode != app.applicant.creditCode || submission.reference != signedApp.reference {
            problems.append(Problem(code: "submission.mismatch", message: "the signed submission does not sign this application (reference \(app.reference))",
                                    field: "submission", value: app.reference, rule: "the firm signs the SHA-256 of the application's canonical JSON"))
        }
        do { try RequestRules.checkTime(submission.time, now: now, field: "submission.time") } catch { problems += error.problems }
        if submission.nonce.map({ $0.count < RequestRules.nonceBytes }) ?? true {
            problems.append(Problem(code: "submission.nonce", message: "the submission carries no nonce of \(RequestRules.nonceBytes) bytes",
                                    field: "submission", rule: "at least \(RequestRules.nonceBytes) random bytes"))
        }
        if !problems.isEmpty { return .failure(ProblemList(problems)) }
        let validator = ApplicationValidator(divisions: .bundled, maxValidityDays: authority.maxDays, now: now)
        problems = validator.validate(app)
        guard problems.isEmpty else { return .failure(ProblemList(problems)) }
        let decision = routing.route(app)
        return .success(PreparedApplication(app: app, document: document, digest: digest, submission: submission,
                                            applicantKid: applicantKey.kid, decision: decision, now: now))
    }

    func insert(_ p: PreparedApplication, tx: any StoreTransaction, amends: String? = nil) throws -> ApplicationRecord {
        var record = ApplicationRecord(
            reference: p.app.reference, creditCode: p.app.applicant.creditCode, plate: p.app.vehicle.plate, document: p.document,
            digest: Hex.encode(p.digest), submission: Data(p.submission.bytes), applicantKid: p.applicantKid,
            routing: CanonicalJSON.encode(p.decision), routingHash: p.decision.tableHash, submittedAt: p.now)
        record.amends = amends
        let inserted = try tx.insertApplication(record)
        for d in p.decision.departments {
            try tx.insertRequiredDepartment(RequiredDepartmentRecord(
                applicationID: inserted.id!, department: d.rawValue, state: .pending,
                dueAt: p.now.addingTimeInterval(Double(d.reviewDeadlineHours) * 3600)))
        }
        try tx.appendAudit(at: p.now, actor: "applicant:" + p.applicantKid, action: "apply", subject: inserted.publicID,
                           content: CanonicalJSON.encode(AuditApply(reference: p.app.reference, creditCode: p.app.applicant.creditCode,
                                                                    digest: Hex.encode(p.digest), departments: p.decision.departments.map(\.rawValue),
                                                                    matchedRules: p.decision.matchedRules.map(\.id), routingHash: p.decision.tableHash)))
        return inserted
    }

    /// Cancels a pending application on the firm's signed request (`SignedAction` `cancel`);
    /// only the applicant firm's own registered key may.
    public func cancel(_ request: [UInt8]) async throws -> ApplicationRecord {
        let now = clock.now()
        return try await store.write { tx in
            let admitted = try admit(request, as: [.cancel], tx: tx, now: now)
            let identifier = admitted.action.params.application ?? ""
            guard let app = try Workflow.resolve(identifier, in: tx) else {
                throw WorkflowError("application.notFound", "no application or permit \(identifier)", field: "id", value: identifier,
                                    rule: "an application ID such as A000123, or a 12-digit permit number")
            }
            guard admitted.applicant?.party == app.creditCode else {
                throw WorkflowError("auth.notOwner", "the key \(admitted.signerKid) is not a registered key of firm \(app.creditCode); only the applicant may cancel \(app.publicID)",
                                    field: "key", value: admitted.signerKid, rule: "the applicant firm's registered key")
            }
            guard var current = try tx.application(id: app.id!), current.state == .pending else {
                throw WorkflowError("application.notPending", "\(app.publicID) is \(app.state.rawValue); only a pending application can be cancelled",
                                    field: "id", value: app.publicID, rule: "cancel works before issuance")
            }
            current.state = .cancelled
            current.closedAt = now
            current.closeReason = admitted.action.params.reason ?? "cancelled by the applicant"
            try tx.updateApplication(current)
            try tx.appendAudit(at: now, actor: admitted.actor, action: "cancel", subject: app.publicID,
                               content: CanonicalJSON.encode(["reason": current.closeReason!, "request": String(admitted.record.id ?? 0)]))
            return current
        }
    }

    /// The active registered key of `kind` under `kid`: the signer of the request being served
    /// when it is that key (read from the store as the server authenticated the request), else
    /// read from the store.
    func activePartyKey(kind: PartyKeyRecord.Kind, kid: String) async throws -> PartyKeyRecord? {
        if let known = AuthenticatedRequest.signer, known.kind == kind, known.kid == kid { return known }
        return try await store.read { try $0.activePartyKey(kind: kind, kid: kid) }
    }

    /// The approver registered for `department` under `kid`, or a refusal: a key that was never
    /// registered, was removed, or belongs to another department.
    func approver(for department: Department, kid: String) async throws -> (PartyKeyRecord, PublicKey) {
        let record = try await activePartyKey(kind: .approver, kid: kid)
        guard let record, record.party == department.rawValue, let key = try? PublicKey(spki: Array(record.spki)) else {
            throw WorkflowError("auth.notApprover", "the key \(kid) is not a registered approver of \(department.rawValue); nothing was written",
                                field: "key", value: kid, rule: "a registered, active approver key of that department")
        }
        return (record, key)
    }

    /// Records signed decisions of one department. Each item is checked first, on its own (its
    /// signature, department, nonce and time); the items that pass are then written in groups of
    /// up to `decideGroupSize` per transaction, each item in its own savepoint, so an item is
    /// written whole or not at all and reported either way. The decision that completes an
    /// application's required set issues the permit in that same transaction. If the store fails
    /// to commit a group, each of its items reports the failure and none of them is written.
    /// A batch whose signer is not an active approver of `department` is refused whole. Sending
    /// the same signed decision again is refused as already decided: it is never applied twice.
    public func decide(department: Department, items: [DecisionItem], progress: ((Int) -> Void)? = nil) async throws -> [DecisionResult] {
        var signer: (record: PartyKeyRecord, key: PublicKey)?
        var results: [DecisionResult] = []
        results.reserveCapacity(items.count)
        var ready: [CheckedDecision] = []
        for (n, item) in items.enumerated() {
            var decoded: DecisionSignature?
            var failure: [Problem]?
            if let bytes = item.decision {
                do {
                    let d = try DecisionSignature(decoding: Array(bytes))
                    let kid = Hex.encode(d.kid)
                    if signer == nil || signer!.record.kid != kid {
                        signer = try await approver(for: department, kid: kid)
                    }
                    decoded = d
                } catch let error as RequestError {
                    failure = error.problems
                }
            }
            var result = DecisionResult(index: item.index, input: item.input, department: department.rawValue,
                                        decision: decoded.map { $0.approve ? "approve" : "reject" } ?? "")
            if let failure {
                result.errors = failure
            } else if let decoded, let signer, let bytes = item.decision {
                let problems = check(decoded, bytes: Array(bytes), department: department, approver: signer.record, key: signer.key)
                if problems.isEmpty {
                    ready.append(CheckedDecision(slot: n, signed: decoded, bytes: Array(bytes), approver: signer.record))
                } else {
                    result.errors = problems
                }
            } else {
                result.errors = [Problem(code: "application.notFound", message: "no application or permit \(item.input)", field: "id", value: item.input,
                                         rule: "an application ID such as A000123, or a 12-digit permit number")]
            }
            results.append(result)
            if ready.count == Workflow.decideGroupSize || (n == items.count - 1 && !ready.isEmpty) {
                await decideGroup(ready, department: department, results: &results)
                ready = []
                progress?(n + 1)
            }
        }
        return results
    }

    /// Decisions per write transaction in `decide`.
    public static let decideGroupSize = 64

    /// A signed decision that passed `check`, waiting for its group's transaction; `slot` is its
    /// place among the batch's results.
    struct CheckedDecision {
        var slot: Int
        var signed: DecisionSignature
        var bytes: [UInt8]
        var approver: PartyKeyRecord
    }

    /// What a decision's savepoint came to: the application it named, the permit it issued, or its failure.
    private struct DecisionOutcome {
        var id: String?
        var issued: PermitRecord?
        var error: (any Error)?
    }

    /// The checks of a signed decision that need no store: what it says, that it is for this
    /// department, its nonce and time, and its signature by the approver's registered key.
    private func check(_ signed: DecisionSignature, bytes: [UInt8], department: Department, approver: PartyKeyRecord, key: PublicKey) -> [Problem] {
        var problems = DecisionRules.problems(approve: signed.approve, conditions: signed.conditions, reason: signed.reason)
        if signed.department != department {
            problems.append(Problem(code: "decision.department", message: "the decision is signed for \(signed.department.rawValue), not \(department.rawValue)",
                                    field: "department", value: signed.department.rawValue, rule: "the department the batch is for"))
        }
        if signed.nonce.map({ $0.count < RequestRules.nonceBytes }) ?? true {
            problems.append(Problem(code: "decision.nonce", message: "the signed decision carries no nonce of \(RequestRules.nonceBytes) bytes",
                                    field: "decision", rule: "at least \(RequestRules.nonceBytes) random bytes"))
        }
        do { try RequestRules.checkTime(signed.time, now: clock.now(), field: "decision.time") } catch { problems += error.problems }
        if (try? signed.cose.verify(with: key)) == nil {
            problems.append(Problem(code: "decision.signature", message: "the signed decision does not verify with approver key \(approver.kid)",
                                    field: "decision", value: approver.kid, rule: "a COSE_Sign1 by the approver's registered key"))
        }
        return problems
    }

    /// Writes `group` in one transaction, each decision in its own savepoint, and puts each one's
    /// outcome in its place in `results`. A permit's decision-to-issue time runs from the moment
    /// the group asks for its transaction to the commit.
    private func decideGroup(_ group: [CheckedDecision], department: Department, results: inout [DecisionResult]) async {
        let identifiers = group.map { results[$0.slot].input }
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let outcomes: [DecisionOutcome] = try await store.write(readAhead: ReadAhead(applications: identifiers)) { tx in
                return zip(group, identifiers).map { d, identifier in
                    var id: String?
                    do {
                        let issued = try tx.savepoint {
                            try record(d, identifier: identifier, department: department, tx: tx, start: start, id: &id)
                        }
                        return DecisionOutcome(id: id, issued: issued)
                    } catch {
                        return DecisionOutcome(id: id, error: error)
                    }
                }
            }
            let end = DispatchTime.now().uptimeNanoseconds
            for (d, outcome) in zip(group, outcomes) {
                var result = results[d.slot]
                result.id = outcome.id
                if let error = outcome.error {
                    result.errors = (error as? ProblemConvertible)?.problems ?? [Problem(code: "store.io", message: "\(error)")]
                } else if let issued = outcome.issued {
                    result.state = ApplicationState.issued.rawValue
                    result.permitNumber = issued.number
                    result.issueMicros = Int64((end - start) / 1000)
                } else {
                    result.state = d.signed.approve ? ApplicationState.pending.rawValue : ApplicationState.rejected.rawValue
                }
                results[d.slot] = result
            }
        } catch {
            for d in group {
                results[d.slot].errors = (error as? ProblemConvertible)?.problems
                    ?? [Problem(code: "store.io", message: "the group of decisions could not be committed: \(error)")]
            }
        }
    }

    /// One decision inside its savepoint: the rules that need the store, the decision's rows and
    /// audit event, and the permit if it completes the required set. `id` gets the application's ID once found.
    private func record(_ d: CheckedDecision, identifier: String, department: Department, tx: any StoreTransaction, start: UInt64,
                        id: inout String?) throws -> PermitRecord? {
        let now = clock.now()
        let signed = d.signed, approver = d.approver
        let decision: DecisionRecord.Decision = signed.approve ? .approve : .reject
        let conditions = signed.conditions, reason = signed.reason
        guard var current = try Workflow.resolve(identifier, in: tx) else {
            throw WorkflowError("application.notFound", "no application or permit \(identifier)", field: "id", value: identifier,
                                rule: "an application ID such as A000123, or a 12-digit permit number")
        }
        id = current.publicID
        guard Hex.decode(current.digest) == signed.digest else {
            throw WorkflowError("decision.digest", "the decision signs another document than \(current.publicID)'s", field: "id", value: identifier,
                                rule: "the approver signs the application's digest")
        }
        guard current.state == .pending else {
            throw WorkflowError("application.notPending", "\(current.publicID) is \(current.state.rawValue); decisions are taken on pending applications",
                                field: "id", value: identifier, rule: "the application must be pending")
        }
        var required = try tx.requiredDepartments(applicationID: current.id!)
        guard let slot = required.firstIndex(where: { $0.department == department.rawValue }) else {
            throw WorkflowError("decision.notRequired", "\(current.publicID) was not routed to \(department.rawValue)",
                                field: "department", value: department.rawValue, rule: "only a required department decides")
        }
        guard required[slot].state == .pending else {
            throw WorkflowError("decision.alreadyDecided", "\(department.rawValue) already decided on \(current.publicID) (\(required[slot].state.rawValue))",
                                field: "id", value: identifier, rule: "one decision per department")
        }
        let previous = try tx.decisions(applicationID: current.id!)
        if decision == .approve {
            let total = previous.filter { $0.decision == .approve }.reduce(0) { $0 + $1.conditions.count } + conditions.count
            if total > PayloadLimits.conditions {
                throw WorkflowError("approve.conditions", "\(current.publicID) would carry \(total) conditions; a permit carries at most \(PayloadLimits.conditions)",
                                    field: "condition", value: "\(total)", rule: "at most \(PayloadLimits.conditions) conditions across departments")
            }
        }
        let record = try tx.insertDecision(DecisionRecord(
            applicationID: current.id!, department: department.rawValue, decision: decision, conditions: conditions,
            reason: decision == .reject ? reason : nil, decidedAt: signed.time, approverID: approver.id!,
            approverKid: approver.kid, signature: Data(d.bytes)))
        required[slot].state = decision == .approve ? .approved : .rejected
        required[slot].decidedAt = signed.time
        try tx.updateRequiredDepartment(required[slot])
        try tx.appendAudit(at: now, actor: "approver:" + approver.kid, action: decision.rawValue, subject: current.publicID,
                           content: CanonicalJSON.encode(AuditDecision(department: department.rawValue, decisionID: record.id!,
                                                                       conditions: conditions, reason: record.reason,
                                                                       signatureHash: Hashing.sha256Hex(d.bytes))))
        if decision == .reject {
            current.state = .rejected
            current.closedAt = now
            current.closeReason = "\(department.rawValue): \(reason ?? "")"
            try tx.updateApplication(current)
            return nil
        }
        guard required.allSatisfy({ $0.state == .approved }) else { return nil }
        return try issue(tx, application: &current, decisions: previous + [record], now: now, start: start)
    }

    /// Issues the permit inside the transaction of the completing decision (or of an amendment whose
    /// approvals all carried over): the next gap-free serial, the sealed payload, the permit row and
    /// its audit event. An amendment's permit supersedes the permit it amends, whatever its route;
    /// if that permit was revoked or superseded meanwhile, nothing is issued.
    func issue(_ tx: any StoreTransaction, application: inout ApplicationRecord, decisions: [DecisionRecord], now: Date,
                       start: UInt64) throws -> PermitRecord {
        let document = try Application.decodeStored(application.document)
        if let amended = application.amends {
            if let revocation = try tx.revocation(number: amended) {
                throw WorkflowError("amend.permitNotLive", "\(application.publicID) amends permit \(amended), which was \(revocation.supersededBy != nil ? "superseded by \(revocation.supersededBy!)" : "revoked (\(revocation.reason))") at \(RFC3339.string(revocation.revokedAt)); nothing was issued. The firm cancels this amendment and applies anew",
                                    field: "amends", value: amended, rule: "an amendment is issued only while the permit it amends is live")
            }
        }
        let approvals = decisions.filter { $0.decision == .approve }
        let departments = approvals.compactMap { Department(rawValue: $0.department) }.sorted().map(\.rawValue)
        let serial = try tx.nextSerial(authority: authority.code)
        let number = authority.code + String(repeating: "0", count: 6 - String(serial).count) + String(serial)
        let permitDocument = IssuedPermit(application: document, number: number, approvedBy: departments,
                                          conditions: approvals.flatMap(\.conditions), issuedAt: now)
        let sealed = try issuerSealer(currentKid: Workflow.currentIssuerKid(tx)).seal(try permitDocument.claims())
        let permit = PermitRecord(number: number, applicationID: application.id!, authority: authority.code, serial: serial, issuedAt: now,
                                  validFrom: document.validity.from, validTo: document.validity.to, payload: sealed.text,
                                  document: CanonicalJSON.encode(permitDocument), issuerKid: sealed.cose.kid.map { Hex.encode($0) } ?? "",
                                  signatureHash: sealed.revocationHash,
                                  decisionToIssueMicros: Int64((DispatchTime.now().uptimeNanoseconds - start) / 1000))
        try tx.insertPermit(permit)
        application.state = .issued
        application.closedAt = now
        application.permitNumber = number
        try tx.updateApplication(application)
        try tx.appendAudit(at: now, actor: "issuer:" + permit.issuerKid, action: "issue", subject: application.publicID,
                           content: CanonicalJSON.encode(["number": number, "payloadSHA256": Hashing.sha256Hex(Array(sealed.text.utf8)),
                                                          "signatureHash": permit.signatureHash, "issuerKid": permit.issuerKid]))
        // One vehicle, one permit, one route: the new permit supersedes an older live one.
        let superseded = try supersedeOlder(tx, new: number, application: application, document: document,
                                            actor: "issuer:" + permit.issuerKid, now: now)
        if let amended = application.amends, !superseded.contains(amended) {
            try supersede(tx, old: amended, new: number, actor: "issuer:" + permit.issuerKid, now: now)
        }
        return permit
    }
}

struct AuditApply: Codable {
    var reference: String
    var creditCode: String
    var digest: String
    var departments: [String]
    var matchedRules: [String]
    var routingHash: String
}

struct AuditDecision: Codable {
    var department: String
    var decisionID: Int64
    var conditions: [String]
    var reason: String?
    var signatureHash: String
}
