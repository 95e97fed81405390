import Foundation
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore

/// Where an application stands once the clock and revocations are taken into account.
/// `issued` covers every application that became a permit; `active`, `expired`, `revoked` and
/// `superseded` narrow it (a superseded permit is not counted as revoked).
public enum LifecycleState: String, Codable, Sendable, CaseIterable {
    case pending, issued, active, expired, revoked, superseded, rejected, cancelled
}

/// A permit with what happened to it since issuance.
public struct PermitStatus: Sendable {
    public var permit: PermitRecord
    public var revocation: RevocationRecord?
    /// One of active, expired, revoked, superseded.
    public var state: LifecycleState
}

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
    public func status(_ identifier: String) throws -> PermitStatus {
        let app = try resolve(identifier)
        let now = clock.now()
        return try store.read { r in
            guard let permit = try r.permit(applicationID: app.id!) else {
                throw WorkflowError("permit.notIssued", "\(app.publicID) is \(app.state.rawValue); it has no permit", field: "id", value: identifier,
                                    rule: "an issued permit")
            }
            let revocation = try r.revocation(number: permit.number)
            return PermitStatus(permit: permit, revocation: revocation, state: Workflow.state(of: permit, revocation: revocation, now: now))
        }
    }

    /// Applications in a lifecycle state, with the clock deciding what has expired.
    public func list(state: LifecycleState, filter: ApplicationFilter) throws -> [ApplicationRecord] {
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
        if [.pending, .rejected, .cancelled, .issued].contains(state) { return try list(f) }
        let now = clock.now()
        return try store.read { r in
            let revoked = Dictionary(try r.revocations().map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
            var out: [ApplicationRecord] = []
            for app in try r.applications(f) {
                guard let permit = try r.permit(applicationID: app.id!) else { continue }
                if Workflow.state(of: permit, revocation: revoked[permit.number], now: now) == state { out.append(app) }
                if let limit, out.count >= limit { break }
            }
            return out
        }
    }

    /// Revokes an issued permit (admin key): who, when and why are recorded, with an audit event;
    /// the permit appears on the next revocation list.
    @discardableResult
    public func revoke(number identifier: String, reason: String, adminKey: PrivateKey) throws -> RevocationRecord {
        try requireAdmin(adminKey)
        let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !why.isEmpty else {
            throw WorkflowError("revoke.reason", "a revocation needs --reason", field: "reason", value: reason, rule: "a non-empty reason")
        }
        let now = clock.now()
        let actor = "admin:" + adminKey.publicKey.kidHex
        return try store.write { tx in
            guard let app = try Workflow.resolve(identifier, in: tx) else {
                throw WorkflowError("permit.notFound", "no permit \(identifier)", field: "number", value: identifier,
                                    rule: "a 12-digit permit number or the ID of an issued application")
            }
            guard let permit = try tx.permit(applicationID: app.id!) else {
                throw WorkflowError("permit.notIssued", "\(app.publicID) is \(app.state.rawValue); only an issued permit can be revoked",
                                    field: "number", value: identifier, rule: "an issued permit")
            }
            return try revoke(tx, permit: permit, application: app, reason: why, actor: actor, now: now)
        }
    }

    /// Revokes inside an open transaction: refuses a permit already revoked or superseded.
    func revoke(_ tx: any StoreTransaction, permit: PermitRecord, application: ApplicationRecord, reason: String, actor: String,
                now: Date) throws -> RevocationRecord {
        if let existing = try tx.revocation(number: permit.number) {
            throw WorkflowError("permit.alreadyRevoked", "permit \(permit.number) was already revoked at \(RFC3339.string(existing.revokedAt)) (\(existing.reason))",
                                field: "number", value: permit.number, rule: "a permit is revoked once")
        }
        var record = RevocationRecord(number: permit.number, revokedAt: now, reason: reason, actor: actor)
        try tx.insertRevocation(record)
        try tx.appendAudit(at: now, actor: actor, action: "revoke", subject: application.publicID,
                           content: CanonicalJSON.encode(["number": permit.number, "reason": reason, "signatureHash": permit.signatureHash]))
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
    public func revocations() throws -> [RevocationRecord] {
        try store.read { try $0.revocations() }
    }

    /// Writes the signed revocation list of payload spec §5: every revoked or superseded permit's
    /// signature hash, signed with the issuer key, with the next sequence number.
    @discardableResult
    public func exportRevocations(to url: URL, validForDays: Int = 1) throws -> RevocationList {
        guard (1...366).contains(validForDays) else {
            throw WorkflowError("revocations.validDays", "--valid-days \(validForDays) is out of range", field: "validDays",
                                value: "\(validForDays)", rule: "1 to 366 days")
        }
        let key = try issuerSealer().key
        let now = clock.now()
        let signed: (RevocationList, [UInt8]) = try store.write { tx in
            // Above the list already at `url` too: after a database restore the counter is behind
            // what checkpoints have accepted, and they refuse a lower sequence.
            let published = (try? Data(contentsOf: url)).flatMap { try? COSESign1.decode(Array($0)) }
                .flatMap { try? JSONDecoder().decode(RevocationList.self, from: Data($0.payload)) }
            let sequence = try tx.nextSequence(name: "revocations", atLeast: (published?.sequence ?? 0) + 1)
            let entries = try tx.revocations().map {
                RevocationList.Entry(hash: $0.signatureHash ?? "", revokedAt: $0.revokedAt, reason: $0.reason)
            }
            let list = RevocationList(authority: authority.code, sequence: sequence, issuedAt: now,
                                      nextUpdate: now.addingTimeInterval(Double(validForDays) * 86_400), revoked: entries)
            let bytes = list.signed(by: key)
            // Written inside the transaction: a failed write leaves no sequence used.
            try Data(bytes).write(to: url, options: .atomic)
            try tx.appendAudit(at: now, actor: "issuer:" + key.publicKey.kidHex, action: "revocations.export", subject: authority.code,
                               content: CanonicalJSON.encode(["sequence": String(sequence), "entries": String(entries.count),
                                                              "sha256": Hashing.sha256Hex(bytes)]))
            return (list, bytes)
        }
        return signed.0
    }
}

extension Workflow {
    /// A consistent copy of the live database at `url` (SQLite's online backup).
    public func backup(to url: URL) throws {
        guard let sqlite = store as? SQLitePermitStore else {
            throw WorkflowError("backup.unsupported", "this store cannot be backed up by permit backup; use the database's own tools")
        }
        try sqlite.backup(to: url.path)
    }
}
