import Foundation
import PermitFoundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore

/// What `audit verify` found in the signed requests and the rows they made.
struct SignedRequestAudit {
    var count = 0
    var findings: [AuditFinding] = []
    /// Rows from before signed requests: reported as such, not as tampering.
    var notes: [AuditFinding] = []
}

extension Workflow {
    /// Audit actions that a signed request (admin key, or the firm's key for `cancel`) makes.
    static let signedActions: Set<String> = Set(SignedAction.Kind.allCases.map(\.rawValue))

    /// Checks every kept signed request against the key that signed it (the admin key, or the
    /// firm's registered key for a cancellation) and against its stored columns; every audit
    /// event of an administrative action against the request it names; every registered party
    /// key against the signed registration that added it; and notes the rows written before
    /// requests were signed (decisions without a nonce, actions without a request).
    static func auditSignedRequests(reader r: any StoreReader, events: [AuditEvent]) throws -> SignedRequestAudit {
        var audit = SignedRequestAudit()
        let requests = try r.signedRequests()
        audit.count = requests.count
        let adminKeys = try r.keys(role: .admin).compactMap { row in (try? PublicKey(spki: Array(row.spki))).map { (row.kid, $0) } }
        let applicantKeys = try r.partyKeys(kind: .applicant, includeRemoved: true)
        var byID: [Int64: SignedAction] = [:]
        for row in requests {
            let id = String(row.id ?? 0)
            func finding(_ message: String) {
                audit.findings.append(AuditFinding(check: "request", table: "signedRequest", id: id, message: "signed request \(id): \(message)"))
            }
            guard let (action, cose) = try? SignedAction.decode(Array(row.cose)) else { finding("it is not a signed action"); continue }
            let kid = cose.kid.map { Hex.encode($0) } ?? ""
            let key: PublicKey? = action.action.byApplicant
                ? applicantKeys.first { $0.kid == kid }.flatMap { try? PublicKey(spki: Array($0.spki)) }
                : adminKeys.first { $0.0 == kid }?.1
            guard let key else { finding("its signer \(kid) is not a registered \(action.action.byApplicant ? "applicant" : "admin") key"); continue }
            guard (try? cose.verify(with: key)) != nil else { finding("its signature does not verify with key \(kid)"); continue }
            if row.action != action.action.rawValue || row.nonce != action.nonce || row.signerKid != kid
                || abs(row.signedAt.timeIntervalSince(action.date)) > 0.001 {
                finding("the stored action, nonce, signer or time differ from what was signed (\(action.action.rawValue), \(action.nonce), \(kid), \(action.time))")
            }
            byID[row.id ?? 0] = action
        }

        // Each administrative event names the request that made it.
        var registeredBy: [String: SignedAction] = [:]  // party key kid → the signed add
        var unsignedAdds: Set<String> = []
        for event in events where signedActions.contains(event.action) {
            let content = (try? JSONSerialization.jsonObject(with: event.content)) as? [String: Any] ?? [:]
            let seq = String(event.seq)
            guard let ref = content["request"] as? String, !ref.isEmpty, let requestID = Int64(ref) else {
                audit.notes.append(AuditFinding(check: "request", table: "audit", id: seq,
                                                message: "audit event \(seq) (\(event.action)) was written before administrative actions were signed"))
                if event.action.hasSuffix(".add"), let kid = content["kid"] as? String { unsignedAdds.insert(kid) }
                continue
            }
            guard let action = byID[requestID] else {
                audit.findings.append(AuditFinding(check: "request", table: "audit", id: seq,
                                                   message: "audit event \(seq) (\(event.action)) names signed request \(requestID), which is missing or does not verify"))
                continue
            }
            guard action.action.rawValue == event.action else {
                audit.findings.append(AuditFinding(check: "request", table: "audit", id: seq,
                                                   message: "audit event \(seq) is \(event.action), but signed request \(requestID) is \(action.action.rawValue)"))
                continue
            }
            if let kid = content["kid"] as? String, event.action.hasSuffix(".add") { registeredBy[kid] = action }
        }

        // Each registered key is the one its signed registration names.
        for kind in [PartyKeyRecord.Kind.approver, .applicant] {
            for row in try r.partyKeys(kind: kind, includeRemoved: true) {
                let id = "\(kind.rawValue) \(row.kid)"
                if let action = registeredBy[row.kid] {
                    let signedKind: SignedAction.Kind = kind == .approver ? .approverAdd : .applicantAdd
                    if action.action != signedKind || action.params.party != row.party || action.params.publicKey != row.spki.base64EncodedString()
                        || action.params.name != row.name {
                        audit.findings.append(AuditFinding(check: "request", table: "partyKey", id: id,
                                                           message: "\(kind.rawValue) key \(row.kid) (\(row.party)) is not the key, party or name its signed registration names"))
                    }
                } else if unsignedAdds.contains(row.kid) {
                    audit.notes.append(AuditFinding(check: "request", table: "partyKey", id: id,
                                                    message: "\(kind.rawValue) key \(row.kid) was registered before registrations were signed"))
                } else {
                    audit.findings.append(AuditFinding(check: "request", table: "partyKey", id: id,
                                                       message: "\(kind.rawValue) key \(row.kid) (\(row.party)) has no signed registration: it was not added by the admin"))
                }
            }
        }

        for d in try r.allDecisions() where d.carriedFrom == nil {
            guard let decoded = try? DecisionSignature(decoding: Array(d.signature)) else { continue }  // checkDecision names it
            if decoded.nonce == nil {
                audit.notes.append(AuditFinding(check: "decision", table: "decision", id: String(d.id ?? 0),
                                                message: "decision \(d.id ?? 0) was signed before decisions carried a nonce"))
            }
        }
        return audit
    }
}
