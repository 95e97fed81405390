import Foundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore


extension BlacklistRecord {
    /// The form a value is compared in: plates and ID numbers upper-case, no surrounding spaces.
    public static func normalize(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespacesAndNewlines).nfc.uppercased()
    }

    /// Whether the entry bars applications on `today` (China time).
    public func isInForce(on today: CalendarDay) -> Bool {
        guard removedAt == nil else { return false }
        guard let until, let last = CalendarDay(iso: until) else { return true }
        return !(last < today)
    }

    /// The application's field that names this party, or nil when it does not.
    public func match(_ app: Application) -> (field: String, value: String)? {
        switch kind {
        case .plate:
            return BlacklistRecord.normalize(app.vehicle.plate) == value ? ("vehicle.plate", app.vehicle.plate) : nil
        case .creditCode:
            return BlacklistRecord.normalize(app.applicant.creditCode) == value ? ("applicant.creditCode", app.applicant.creditCode) : nil
        case .idNumber:
            guard let i = app.crew.firstIndex(where: { BlacklistRecord.normalize($0.idNumber) == value }) else { return nil }
            return ("crew[\(i)].idNumber", app.crew[i].idNumber)
        }
    }

    /// The refusal of an application naming this party.
    func problem(field: String) -> Problem {
        let what: String
        switch kind {
        case .plate: what = "vehicle"
        case .idNumber: what = "crew member"
        case .creditCode: what = "firm"
        }
        let shown = kind == .idNumber ? shownValue : value
        return Problem(code: "blacklist.\(kind.rawValue)",
                       message: "the \(what) \(shown) is blacklisted (\(reason))" + (until.map { " until \($0)" } ?? ""),
                       field: field, value: shown, rule: "a blacklisted party's application is refused (entry \(id ?? 0))")
    }
}

extension Workflow {
    /// The entries in force today.
    func blacklistInForce() async throws -> [BlacklistRecord] {
        let today = CalendarDay.inChina(at: clock.now())
        return try await store.blacklist(includeRemoved: false).filter { $0.isInForce(on: today) }
    }

    /// The first entry in force that names a party of `app`, as a refusal.
    static func blacklistRefusal(_ app: Application, entries: [BlacklistRecord]) -> (BlacklistRecord, Problem)? {
        for entry in entries {
            if let m = entry.match(app) { return (entry, entry.problem(field: m.field)) }
        }
        return nil
    }

    public func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord] {
        try await store.read { try $0.blacklist(includeRemoved: includeRemoved) }
    }

    /// Blacklists a vehicle, crew member or firm (admin key). In the same transaction every
    /// pending application naming the party is rejected, and with `revokeActive` every live
    /// permit naming it is revoked.
    /// The admin's signed request (`SignedAction` `blacklist.add`) names the kind, value, reason,
    /// `until` and `revokeActive`.
    public func blacklistAdd(_ request: [UInt8]) async throws -> BlacklistAddResult {
        let params = try peek(request, as: [.blacklistAdd]).params
        guard let kind = BlacklistRecord.Kind(rawValue: params.kind ?? "") else {
            throw WorkflowError("blacklist.kind", "blacklist kind \(params.kind ?? "") is not plate, idNumber or creditCode", field: "kind",
                                value: params.kind ?? "", rule: "plate, idNumber or creditCode")
        }
        let value = params.value ?? "", reason = params.reason ?? "", until = params.until, revokeActive = params.revokeActive ?? false
        let v = BlacklistRecord.normalize(value)
        let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        let now = clock.now()
        let today = CalendarDay.inChina(at: now)
        var problems: [Problem] = []
        switch kind {
        case .creditCode: problems += CreditCode.validate(v, field: "creditCode")
        case .idNumber:
            if v.count < 6 || v.count > 30 {
                problems.append(Problem(code: "blacklist.idNumber", message: "--id-number \(Masking.document(v, type: .residentID)) is not a document number",
                                        field: "idNumber", value: Masking.document(v, type: .residentID), rule: "6 to 30 characters"))
            }
        case .plate:
            if v.count < 7 || v.count > 8 {
                problems.append(Problem(code: "blacklist.plate", message: "--plate \(v) is not a plate number", field: "plate", value: v,
                                        rule: "7 characters, or 8 for a new-energy plate"))
            }
        }
        if why.isEmpty {
            problems.append(Problem(code: "blacklist.reason", message: "blacklisting needs --reason", field: "reason", value: reason, rule: "a non-empty reason"))
        }
        if let until {
            if let day = CalendarDay(iso: until) {
                if day < today {
                    problems.append(Problem(code: "blacklist.until", message: "--until \(until) is in the past (today is \(today))",
                                            field: "until", value: until, rule: "today or later"))
                }
            } else {
                problems.append(Problem(code: "blacklist.until", message: "--until \(until) is not a date", field: "until", value: until, rule: "YYYY-MM-DD"))
            }
        }
        if !problems.isEmpty { throw ProblemList(problems) }
        return try await store.write { tx in
            let admitted = try admit(request, as: [.blacklistAdd], tx: tx, now: now)
            let actor = admitted.actor
            if let existing = try tx.blacklist(includeRemoved: false).first(where: { $0.kind == kind && $0.value == v }) {
                throw WorkflowError("blacklist.duplicate", "\(kind.rawValue) \(existing.shownValue) is already blacklisted (entry \(existing.id ?? 0): \(existing.reason))",
                                    field: kind.rawValue, value: existing.shownValue, rule: "one entry per party; remove it first to change it")
            }
            let entry = try tx.insertBlacklist(BlacklistRecord(kind: kind, value: v, reason: why, until: until, addedAt: now, actor: actor))
            try tx.appendAudit(at: now, actor: actor, action: "blacklist.add", subject: "\(kind.rawValue):\(entry.shownValue)",
                               content: CanonicalJSON.encode(["id": String(entry.id!), "kind": kind.rawValue, "value": entry.shownValue,
                                                              "reason": why, "until": until ?? "", "request": String(admitted.record.id ?? 0)]))
            var rejected: [String] = []
            for var app in try tx.applications(ApplicationFilter(states: [.pending])) {
                guard let doc = try? Application.decodeStored(app.document), entry.match(doc) != nil else { continue }
                app.state = .rejected
                app.closedAt = now
                app.closeReason = "blacklisted \(kind.rawValue) \(entry.shownValue): \(why)"
                try tx.updateApplication(app)
                try tx.appendAudit(at: now, actor: actor, action: "blacklist.reject", subject: app.publicID,
                                   content: CanonicalJSON.encode(["blacklistID": String(entry.id!), "reason": app.closeReason!]))
                rejected.append(app.publicID)
            }
            var revoked: [String] = []
            if revokeActive {
                for app in try tx.applications(ApplicationFilter(states: [.issued])) {
                    guard let doc = try? Application.decodeStored(app.document), entry.match(doc) != nil,
                          let permit = try tx.permit(applicationID: app.id!), permit.supersededBy == nil,
                          try tx.revocation(number: permit.number) == nil,
                          Workflow.state(of: permit, revocation: nil, now: now) == .active else { continue }
                    _ = try revoke(tx, permit: permit, application: app, reason: "blacklisted: \(why)", actor: actor, now: now,
                                   request: admitted.record.id)
                    revoked.append(permit.number)
                }
            }
            return BlacklistAddResult(entry: entry, rejected: rejected, revoked: revoked)
        }
    }

    /// Lifts a blacklist entry (admin key), by its id.
    /// The admin's signed request (`SignedAction` `blacklist.remove`) names the entry's id and a reason.
    public func blacklistRemove(_ request: [UInt8]) async throws -> BlacklistRecord {
        let now = clock.now()
        return try await store.write { tx in
            let admitted = try admit(request, as: [.blacklistRemove], tx: tx, now: now)
            let actor = admitted.actor
            let id = admitted.action.params.id ?? 0
            let reason = admitted.action.params.reason ?? ""
            guard var entry = try tx.blacklist(includeRemoved: false).first(where: { $0.id == id }) else {
                throw WorkflowError("blacklist.notFound", "no blacklist entry \(id) in force", field: "id", value: String(id),
                                    rule: "the id of an entry `blacklist list` shows")
            }
            try tx.removeBlacklist(id: id, at: now, reason: reason)
            try tx.appendAudit(at: now, actor: actor, action: "blacklist.remove", subject: "\(entry.kind.rawValue):\(entry.shownValue)",
                               content: CanonicalJSON.encode(["id": String(id), "reason": reason, "request": String(admitted.record.id ?? 0)]))
            entry.removedAt = now
            entry.removedReason = reason
            return entry
        }
    }
}
