import Foundation
import PermitFoundation
import PermitModel
import PermitRouting
import PermitSeal
import PermitStore

/// The result of one item of `apply`.
public struct ApplyResult: Codable, Sendable {
    public var index: Int
    public var reference: String?
    /// The application ID; nil for a dry run or a refused item.
    public var id: String?
    public var state: String?
    /// True when the reference was submitted before: the existing application is returned.
    public var duplicate: Bool?
    public var departments: [String]?
    public var routingHash: String?
    public var errors: [Problem]?

    public var succeeded: Bool { errors == nil }
}

/// The result of one item of `approve` or `reject`.
public struct DecisionResult: Codable, Sendable {
    public var index: Int
    /// The identifier as given.
    public var input: String
    public var id: String?
    public var department: String
    public var decision: String
    /// The application's state after the decision: pending, issued or rejected.
    public var state: String?
    public var permitNumber: String?
    /// Microseconds from the start of the completing decision to its commit, when it issued the permit.
    public var issueMicros: Int64?
    public var errors: [Problem]?

    public var succeeded: Bool { errors == nil }
}

extension Workflow {
    /// Submits applications signed with a firm's key. Each item gets its own result: an invalid
    /// item never blocks the valid ones. Items are written in groups of up to `applyGroupSize`
    /// per transaction, each item in its own savepoint, so an item is written whole or not at
    /// all; if the store fails to commit a group, each of its items reports the failure.
    /// A repeated reference returns the existing application. With `dryRun`, items are validated
    /// and routed and nothing is written.
    public func apply(_ items: [ApplicationFileItem], key: PrivateKey, dryRun: Bool = false,
                      progress: ((Int) -> Void)? = nil) throws -> [ApplyResult] {
        let applicantKey = try applicant(key: key)
        let barred = try blacklistInForce()
        var results: [ApplyResult] = []
        results.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            let group = items[start..<min(items.count, start + Workflow.applyGroupSize)]
            results += applyGroup(Array(group), key: key, applicantKey: applicantKey, blacklist: barred, dryRun: dryRun)
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
        var submission: COSESign1
        var decision: RoutingDecision
        var now: Date
    }

    private func applyGroup(_ items: [ApplicationFileItem], key: PrivateKey, applicantKey: PartyKeyRecord, blacklist: [BlacklistRecord],
                            dryRun: Bool) -> [ApplyResult] {
        var results: [ApplyResult] = []
        var prepared: [Int: PreparedApplication] = [:]
        // A blacklisted vehicle, crew member or firm is refused at once, with the reason; the
        // refusal is audited in the group's transaction (not in a dry run, which writes nothing).
        var refusals: [(app: Application, entry: BlacklistRecord, problem: Problem)] = []
        for (n, item) in items.enumerated() {
            var result = ApplyResult(index: item.index, reference: item.reference)
            if !blacklist.isEmpty, let app = item.application?.normalized(), app.applicant.creditCode == applicantKey.party,
               let (entry, problem) = Workflow.blacklistRefusal(app, entries: blacklist) {
                result.errors = [problem]
                if !dryRun { refusals.append((app, entry, problem)) }
                results.append(result)
                continue
            }
            switch prepare(item, key: key, applicantKey: applicantKey) {
            case .failure(let problems): result.errors = problems.problems
            case .success(let p):
                result.departments = p.decision.departments.map(\.rawValue)
                result.routingHash = p.decision.tableHash
                if dryRun {
                    if let existing = try? store.read({ try $0.application(creditCode: p.app.applicant.creditCode, reference: p.app.reference) }) {
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
        do {
            try store.write { tx in
                let now = clock.now()
                for r in refusals {
                    try tx.appendAudit(at: now, actor: "applicant:" + key.publicKey.kidHex, action: "apply.refused", subject: r.app.applicant.creditCode,
                                       content: CanonicalJSON.encode(["reference": r.app.reference, "blacklistID": String(r.entry.id ?? 0),
                                                                      "field": r.problem.field ?? "", "reason": r.entry.reason]))
                }
                for n in prepared.keys.sorted() {
                    let p = prepared[n]!
                    do {
                        // A reference sent again returns what it made the first time.
                        if let existing = try tx.application(creditCode: p.app.applicant.creditCode, reference: p.app.reference) {
                            results[n] = duplicate(existing, results[n])
                            continue
                        }
                        let record = try tx.savepoint { try insert(p, key: key, tx: tx) }
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
                results[n].errors = [Problem(code: "store.io", message: "the group of applications could not be committed: \(error)")]
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

    /// Checks, routes and signs one item; no store access.
    func prepare(_ item: ApplicationFileItem, key: PrivateKey, applicantKey: PartyKeyRecord) -> Result<PreparedApplication, ProblemList> {
        guard let application = item.application else { return .failure(ProblemList(item.problems)) }
        let app = application.normalized()
        guard app.applicant.creditCode == applicantKey.party else {
            return .failure(ProblemList([Problem(code: "applicant.creditCodeMismatch",
                                                 message: "applicant.creditCode \(app.applicant.creditCode) is not the firm of this key (\(applicantKey.party))",
                                                 field: "applicant.creditCode", value: app.applicant.creditCode, rule: "a firm applies only with its own registered key")]))
        }
        let now = clock.now()
        let validator = ApplicationValidator(divisions: .bundled, maxValidityDays: authority.maxDays, now: now)
        let problems = validator.validate(app)
        guard problems.isEmpty else { return .failure(ProblemList(problems)) }
        let decision = routing.route(app)
        let document = CanonicalJSON.encode(app)  // already normalised above
        let digest = Hashing.sha256(document)
        let submission = COSESign1.sign(payload: CBOREncoder.encode(.map([
            CBORPair(1, .bytes(digest)), CBORPair(2, .text(app.applicant.creditCode)), CBORPair(3, .text(app.reference)),
            CBORPair(4, .unsigned(UInt64(max(0, now.timeIntervalSince1970)))),
        ])), with: key)
        return .success(PreparedApplication(app: app, document: document, digest: digest, submission: submission, decision: decision, now: now))
    }

    func insert(_ p: PreparedApplication, key: PrivateKey, tx: any StoreTransaction, amends: String? = nil) throws -> ApplicationRecord {
        var record = ApplicationRecord(
            reference: p.app.reference, creditCode: p.app.applicant.creditCode, plate: p.app.vehicle.plate, document: p.document,
            digest: Hex.encode(p.digest), submission: Data(p.submission.encoded()), applicantKid: key.publicKey.kidHex,
            routing: CanonicalJSON.encode(p.decision), routingHash: p.decision.tableHash, submittedAt: p.now)
        record.amends = amends
        let inserted = try tx.insertApplication(record)
        for d in p.decision.departments {
            try tx.insertRequiredDepartment(RequiredDepartmentRecord(
                applicationID: inserted.id!, department: d.rawValue, state: .pending,
                dueAt: p.now.addingTimeInterval(Double(d.reviewDeadlineHours) * 3600)))
        }
        try tx.appendAudit(at: p.now, actor: "applicant:" + key.publicKey.kidHex, action: "apply", subject: inserted.publicID,
                           content: CanonicalJSON.encode(AuditApply(reference: p.app.reference, creditCode: p.app.applicant.creditCode,
                                                                    digest: Hex.encode(p.digest), departments: p.decision.departments.map(\.rawValue),
                                                                    matchedRules: p.decision.matchedRules.map(\.id), routingHash: p.decision.tableHash)))
        return inserted
    }

    /// Cancels a pending application; only the firm's own registered key may.
    public func cancel(_ identifier: String, key: PrivateKey, reason: String?) throws -> ApplicationRecord {
        let app = try resolve(identifier)
        let now = clock.now()
        return try store.write { tx in
            guard let owner = try tx.activePartyKey(kind: .applicant, kid: key.publicKey.kidHex), owner.party == app.creditCode else {
                throw WorkflowError("auth.notOwner", "the key \(key.publicKey.kidHex) is not a registered key of firm \(app.creditCode); only the applicant may cancel \(app.publicID)",
                                    field: "key", value: key.publicKey.kidHex, rule: "the applicant firm's registered key")
            }
            guard var current = try tx.application(id: app.id!), current.state == .pending else {
                throw WorkflowError("application.notPending", "\(app.publicID) is \(app.state.rawValue); only a pending application can be cancelled",
                                    field: "id", value: app.publicID, rule: "cancel works before issuance")
            }
            current.state = .cancelled
            current.closedAt = now
            current.closeReason = reason ?? "cancelled by the applicant"
            try tx.updateApplication(current)
            try tx.appendAudit(at: now, actor: "applicant:" + key.publicKey.kidHex, action: "cancel", subject: app.publicID,
                               content: CanonicalJSON.encode(["reason": current.closeReason!]))
            return current
        }
    }

    /// The applicant firm's registered, active key that is this private key, or a refusal.
    func applicant(key: PrivateKey) throws -> PartyKeyRecord {
        let record = try store.read { try $0.activePartyKey(kind: .applicant, kid: key.publicKey.kidHex) }
        guard let record, record.alg == key.algorithm.rawValue, record.spki == Data(key.publicKey.spki) else {
            throw WorkflowError("auth.notApplicant", "the key \(key.publicKey.kidHex) is not a registered applicant key; an admin registers it with `permit applicant add`",
                                field: "key", value: key.publicKey.kidHex, rule: "a registered, active applicant key")
        }
        return record
    }

    /// The approver registered for `department` with this key, or a refusal.
    public func approver(for department: Department, key: PrivateKey) throws -> PartyKeyRecord {
        let record = try store.read { try $0.activePartyKey(kind: .approver, kid: key.publicKey.kidHex) }
        guard let record, record.party == department.rawValue, record.spki == Data(key.publicKey.spki) else {
            throw WorkflowError("auth.notApprover", "the key \(key.publicKey.kidHex) is not a registered approver of \(department.rawValue); nothing was written",
                                field: "key", value: key.publicKey.kidHex, rule: "a registered, active approver key of that department")
        }
        return record
    }

    /// Records signed decisions of one department. Each item is one transaction; the decision
    /// that completes an application's required set issues the permit in that same transaction.
    public func decide(department: Department, key: PrivateKey, identifiers: [String], decision: DecisionRecord.Decision,
                       conditions: [String] = [], reason: String? = nil, progress: ((Int) -> Void)? = nil) throws -> [DecisionResult] {
        let approver = try approver(for: department, key: key)
        if decision == .reject, (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw WorkflowError("reject.reason", "a rejection needs --reason", field: "reason", value: "", rule: "a non-empty reason")
        }
        let conds = conditions.map(\.nfc)
        var problems: [Problem] = []
        for (i, c) in conds.enumerated() {
            if c.isEmpty || c.unicodeScalars.count > PayloadLimits.condition {
                problems.append(Problem(code: "approve.condition", message: "condition \"\(c)\" must have 1 to \(PayloadLimits.condition) characters",
                                        field: "condition[\(i)]", value: c, rule: "1 to \(PayloadLimits.condition) characters"))
            }
        }
        if conds.count > PayloadLimits.conditions {
            problems.append(Problem(code: "approve.conditions", message: "\(conds.count) conditions; a permit carries at most \(PayloadLimits.conditions)",
                                    field: "condition", value: "\(conds.count)", rule: "at most \(PayloadLimits.conditions)"))
        }
        if !problems.isEmpty { throw ProblemList(problems) }
        var results: [DecisionResult] = []
        results.reserveCapacity(identifiers.count)
        for (index, identifier) in identifiers.enumerated() {
            results.append(decideOne(index: index, identifier: identifier, department: department, key: key, approver: approver,
                                     decision: decision, conditions: conds, reason: reason))
            progress?(index + 1)
        }
        return results
    }

    private func decideOne(index: Int, identifier: String, department: Department, key: PrivateKey, approver: PartyKeyRecord,
                           decision: DecisionRecord.Decision, conditions: [String], reason: String?) -> DecisionResult {
        var result = DecisionResult(index: index, input: identifier, department: department.rawValue, decision: decision.rawValue)
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let now = clock.now()
            let issued: PermitRecord? = try store.write { tx in
                guard var current = try Workflow.resolve(identifier, in: tx) else {
                    throw WorkflowError("application.notFound", "no application or permit \(identifier)", field: "id", value: identifier,
                                        rule: "an application ID such as A000123, or a 12-digit permit number")
                }
                result.id = current.publicID
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
                let signed = DecisionSignature.sign(digest: Hex.decode(current.digest) ?? [], department: department, decision: decision,
                                                    conditions: conditions, reason: reason, at: now, key: key)
                let record = try tx.insertDecision(DecisionRecord(
                    applicationID: current.id!, department: department.rawValue, decision: decision, conditions: conditions,
                    reason: decision == .reject ? reason : nil, decidedAt: now, approverID: approver.id!,
                    approverKid: key.publicKey.kidHex, signature: Data(signed)))
                required[slot].state = decision == .approve ? .approved : .rejected
                required[slot].decidedAt = now
                try tx.updateRequiredDepartment(required[slot])
                try tx.appendAudit(at: now, actor: "approver:" + key.publicKey.kidHex, action: decision.rawValue, subject: current.publicID,
                                   content: CanonicalJSON.encode(AuditDecision(department: department.rawValue, decisionID: record.id!,
                                                                               conditions: conditions, reason: record.reason,
                                                                               signatureHash: Hashing.sha256Hex(signed))))
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
            let end = DispatchTime.now().uptimeNanoseconds
            if let issued {
                result.state = ApplicationState.issued.rawValue
                result.permitNumber = issued.number
                result.issueMicros = Int64((end - start) / 1000)
            } else {
                result.state = decision == .reject ? ApplicationState.rejected.rawValue : ApplicationState.pending.rawValue
            }
        } catch {
            result.errors = (error as? ProblemConvertible)?.problems ?? [Problem(code: "store.io", message: "\(error)")]
        }
        return result
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
        let sealed = try issuerSealer().seal(try permitDocument.claims())
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

/// The signed form of a department's decision: COSE_Sign1 by the approver's key over the
/// deterministic CBOR map `{1: application digest, 2: department number, 3: decision (1 approve,
/// 2 reject), 4: [conditions] | 5: reason, 6: time (Unix ms), 7: approver kid}`.
public enum DecisionSignature {
    public static func payload(digest: [UInt8], department: Department, decision: DecisionRecord.Decision, conditions: [String],
                               reason: String?, at: Date, kid: [UInt8]) -> [UInt8] {
        var pairs: [CBORPair] = [
            CBORPair(1, .bytes(digest)), CBORPair(2, .unsigned(UInt64(department.number))),
            CBORPair(3, .unsigned(decision == .approve ? 1 : 2)),
            CBORPair(6, .unsigned(UInt64(max(0, (at.timeIntervalSince1970 * 1000).rounded())))), CBORPair(7, .bytes(kid)),
        ]
        if decision == .approve {
            pairs.append(CBORPair(4, .array(conditions.map { .text($0) })))
        } else {
            pairs.append(CBORPair(5, .text(reason ?? "")))
        }
        return CBOREncoder.encode(.map(pairs))
    }

    public static func sign(digest: [UInt8], department: Department, decision: DecisionRecord.Decision, conditions: [String],
                            reason: String?, at: Date, key: PrivateKey) -> [UInt8] {
        COSESign1.sign(payload: payload(digest: digest, department: department, decision: decision, conditions: conditions,
                                        reason: reason, at: at, kid: key.publicKey.kid), with: key).encoded()
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
