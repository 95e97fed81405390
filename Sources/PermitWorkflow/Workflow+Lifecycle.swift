import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore



extension Workflow {
    /// Unix time of the end of a permit's validity: 00:00 China time of the day after `validTo`.
    static func validityEnd(_ validTo: String) -> Date? {
        CalendarDay(iso: validTo).map { Date(timeIntervalSince1970: TimeInterval($0.adding(days: 1).startInChina)) }
    }

    /// The narrow state of an issued permit at `now`: superseded, revoked, expired, else active.
    /// A permit whose window has not begun yet is active: it is live and the vehicle holds it.
    static func state(of permit: PermitRecord, revocation: RevocationRecord?, now: Date) -> LifecycleState {
        if permit.supersededBy != nil { return .superseded }
        if revocation != nil { return .revoked }
        if let end = validityEnd(permit.validTo), now >= end { return .expired }
        return .active
    }

    /// The status of one issued permit, by number or application ID.
    public func status(_ identifier: String) async throws -> PermitStatus {
        let app = try await resolve(identifier)
        let now = clock.now()
        return try await store.read { r in
            guard let permit = try r.permit(applicationID: app.id!) else {
                throw WorkflowError("permit.notIssued", "\(app.publicID) is \(app.state.rawValue); it has no permit", field: "id", value: identifier,
                                    rule: "an issued permit")
            }
            let revocation = try r.revocation(number: permit.number)
            return PermitStatus(permit: permit, revocation: revocation, state: Workflow.state(of: permit, revocation: revocation, now: now))
        }
    }

    /// Applications in a lifecycle state, with the clock deciding what has expired.
    public func list(state: LifecycleState, filter: ApplicationFilter) async throws -> [ApplicationRecord] {
        var f = filter
        let limit = f.limit
        switch state {
        case .pending: f.states = [.pending]
        case .rejected: f.states = [.rejected]
        case .cancelled: f.states = [.cancelled]
        case .issued: f.states = [.issued]
        case .active, .expired, .revoked, .superseded:
            f.states = [.issued]
            f.limit = nil
        }
        if [.active, .expired, .revoked, .superseded].contains(state) {
            f.permitState = (state, CalendarDay.inChina(at: clock.now()).description)
            f.limit = limit
        }
        return try await list(f)
    }

    /// Revokes issued permits on the admin's signed request (`SignedAction` `revoke`, naming one
    /// or more permit numbers or application IDs and one reason): who, when and why are recorded,
    /// with an audit event each; the permits appear on the next revocation list. All in one
    /// transaction, each permit in its own savepoint: a permit already revoked, not issued or
    /// not found is reported and the others are revoked. The signed request is kept once.
    public func revoke(_ request: [UInt8]) async throws -> [RevokeOutcome] {
        let now = clock.now()
        return try await store.write { tx in
            let admitted = try admit(request, as: [.revoke], tx: tx, now: now)
            let reason = admitted.action.params.reason ?? ""
            let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !why.isEmpty else {
                throw WorkflowError("revoke.reason", "a revocation needs --reason", field: "reason", value: reason, rule: "a non-empty reason")
            }
            let numbers = admitted.action.params.numbers ?? []
            guard !numbers.isEmpty else {
                throw WorkflowError("revoke.numbers", "the revocation names no permit", field: "numbers", value: "", rule: "one or more permit numbers")
            }
            return numbers.map { identifier in
                do {
                    let record = try tx.savepoint { () throws -> RevocationRecord in
                        guard let app = try Workflow.resolve(identifier, in: tx) else {
                            throw WorkflowError("permit.notFound", "no permit \(identifier)", field: "number", value: identifier,
                                                rule: "a 12-digit permit number or the ID of an issued application")
                        }
                        guard let permit = try tx.permit(applicationID: app.id!) else {
                            throw WorkflowError("permit.notIssued", "\(app.publicID) is \(app.state.rawValue); only an issued permit can be revoked",
                                                field: "number", value: identifier, rule: "an issued permit")
                        }
                        return try revoke(tx, permit: permit, application: app, reason: why, actor: admitted.actor, now: now,
                                          request: admitted.record.id)
                    }
                    return RevokeOutcome(input: identifier, revocation: record, problems: nil)
                } catch {
                    return RevokeOutcome(input: identifier, revocation: nil,
                                         problems: (error as? ProblemConvertible)?.problems ?? [Problem(code: "store.io", message: "\(error)")])
                }
            }
        }
    }

    /// Revokes inside an open transaction: refuses a permit already revoked or superseded.
    func revoke(_ tx: any StoreTransaction, permit: PermitRecord, application: ApplicationRecord, reason: String, actor: String,
                now: Date, request: Int64?) throws -> RevocationRecord {
        if let existing = try tx.revocation(number: permit.number) {
            throw WorkflowError("permit.alreadyRevoked", "permit \(permit.number) was already revoked at \(RFC3339.string(existing.revokedAt)) (\(existing.reason))",
                                field: "number", value: permit.number, rule: "a permit is revoked once")
        }
        var record = RevocationRecord(number: permit.number, revokedAt: now, reason: reason, actor: actor)
        try tx.insertRevocation(record)
        try tx.appendAudit(at: now, actor: actor, action: "revoke", subject: application.publicID,
                           content: CanonicalJSON.encode(["number": permit.number, "reason": reason, "signatureHash": permit.signatureHash,
                                                          "request": request.map(String.init) ?? ""]))
        record.signatureHash = permit.signatureHash
        return record
    }

    /// Supersedes, inside issuance's transaction, every older live permit for the same plate,
    /// origin county and destination county whose validity overlaps the new one's.
    func supersedeOlder(_ tx: any StoreTransaction, new number: String, application: ApplicationRecord, document: Application,
                        actor: String, now: Date) throws -> [String] {
        var superseded: [String] = []
        for other in try tx.applications(ApplicationFilter(states: [.issued], plate: application.plate)) where other.id != application.id {
            guard let old = try tx.permit(applicationID: other.id!), old.supersededBy == nil,
                  try tx.revocation(number: old.number) == nil,
                  old.validFrom <= document.validity.to, document.validity.from <= old.validTo,
                  let oldDocument = try? Application.decodeStored(other.document),
                  oldDocument.route.origin.county == document.route.origin.county,
                  oldDocument.route.destination.county == document.route.destination.county else { continue }
            try supersede(tx, old: old.number, new: number, actor: actor, now: now)
            superseded.append(old.number)
        }
        return superseded
    }

    /// Revokes `old` with reason `superseded`, links it and `new` both ways, and audits it.
    func supersede(_ tx: any StoreTransaction, old: String, new number: String, actor: String, now: Date) throws {
        guard let permit = try tx.permit(number: old), let other = try tx.application(permitNumber: old) else {
            throw WorkflowError("permit.notFound", "no permit \(old)", field: "number", value: old, rule: "an issued permit")
        }
        try tx.insertRevocation(RevocationRecord(number: old, revokedAt: now, reason: "superseded", actor: actor))
        try tx.linkSupersession(old: old, new: number)
        try tx.appendAudit(at: now, actor: actor, action: "supersede", subject: other.publicID,
                           content: CanonicalJSON.encode(["number": old, "supersededBy": number, "reason": "superseded",
                                                          "signatureHash": permit.signatureHash]))
    }

    /// Every revocation of this authority, oldest first.
    public func revocations() async throws -> [RevocationRecord] {
        try await store.read { try $0.revocations() }
    }

    /// Writes the signed revocation list of payload spec §5 to `url`, with a sequence above the
    /// list already there.
    @discardableResult
    public func exportRevocations(to url: URL, validForDays: Int = 1) async throws -> RevocationList {
        try await signRevocations(validForDays: validForDays, above: RevocationList.publishedSequence(at: url)) { bytes in
            try Data(bytes).write(to: url, options: .atomic)
        }.document
    }

    /// The signed revocation list of payload spec §5: every revoked or superseded permit's
    /// signature hash, signed with the issuer key, with the next sequence number (and above
    /// `above`). `publish`, when given, runs inside the transaction: if it fails, no sequence
    /// number is used.
    /// The highest sequence a signed list may carry: 2^53 − 1, what every JSON reader holds exactly.
    public static let maxListSequence = 9_007_199_254_740_991

    public func signRevocations(validForDays: Int = 1, above: Int = 0,
                                publish: (([UInt8]) throws -> Void)? = nil) async throws -> SignedDocument<RevocationList> {
        guard (1...366).contains(validForDays) else {
            throw WorkflowError("revocations.validDays", "--valid-days \(validForDays) is out of range", field: "validDays",
                                value: "\(validForDays)", rule: "1 to 366 days")
        }
        // `above` comes from a query parameter on the server; Int.max would trap in `above + 1`, and a
        // sequence past 2^53 − 1 is not held exactly by a JavaScript reader of the list.
        guard above < Self.maxListSequence else {
            throw WorkflowError("revocations.above", "--above \(above) leaves no sequence a list may carry", field: "above",
                                value: "\(above)", rule: "below \(Self.maxListSequence) (2^53 − 1)")
        }
        let key = try await currentIssuerSealer().signer
        let now = clock.now()
        return try await store.write { tx in
            let sequence = try tx.nextSequence(name: "revocations", atLeast: above + 1)
            let entries = try tx.revocations().map {
                RevocationList.Entry(hash: $0.signatureHash ?? "", revokedAt: $0.revokedAt, reason: $0.reason)
            }
            let list = RevocationList(authority: authority.code, sequence: sequence, issuedAt: now,
                                      nextUpdate: now.addingTimeInterval(Double(validForDays) * 86_400), revoked: entries)
            let bytes = try list.signed(with: key)
            try publish?(bytes)
            try tx.appendAudit(at: now, actor: "issuer:" + key.publicKey.kidHex, action: "revocations.export", subject: authority.code,
                               content: CanonicalJSON.encode(["sequence": String(sequence), "entries": String(entries.count),
                                                              "sha256": Hashing.sha256Hex(bytes)]))
            return SignedDocument(document: list, bytes: bytes)
        }
    }
}

extension Workflow {
    /// A consistent copy of the live database at `url` (SQLite's online backup).
    public func backup(to url: URL) throws {
        guard let store = store as? StoreBackup else {
            throw WorkflowError("backup.unsupported", "this store cannot be backed up by permit backup; use the database's own tools")
        }
        try store.backup(to: url.path)
    }
}
