import Foundation
import PermitFoundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore

/// A signed request the workflow accepted: what it says, who signed it, and the row it is kept in.
/// The applicant keys a batch has met, by kid (nil: not an active applicant key).
struct ApplicantKeys {
    var byKid: [String: (PartyKeyRecord, PublicKey)?] = [:]
}

struct AdmittedRequest {
    var action: SignedAction
    /// `admin:<kid>` or `applicant:<kid>`, as audit events name actors.
    var actor: String
    var signerKid: String
    /// The signing firm's registration, for a cancellation.
    var applicant: PartyKeyRecord?
    var record: SignedRequestRecord
}

extension Workflow {
    /// Checks a signed action inside the transaction that carries it out, then keeps it: its
    /// form, its kind, this authority, its time (within `RequestRules.skew`), the signer's
    /// registered key (the active admin key, or for a cancellation an active applicant key),
    /// the signature, and a nonce never seen before. A refusal writes nothing.
    func admit(_ bytes: [UInt8], as kinds: Set<SignedAction.Kind>, tx: any StoreTransaction, now: Date) throws -> AdmittedRequest {
        _ = try peek(bytes, as: kinds)
        let (action, cose) = try SignedAction.decode(bytes)
        guard action.authority == authority.code else {
            throw WorkflowError("request.authority", "the request is signed for authority \(action.authority), not \(authority.code)",
                                field: "authority", value: action.authority, rule: "a request names the authority it is for")
        }
        try RequestRules.checkTime(action.date, now: now, field: "time")
        guard let kidBytes = cose.kid else {
            throw WorkflowError("request.kid", "the signed request names no kid", field: "kid", rule: "kid in the protected header")
        }
        let kid = Hex.encode(kidBytes)
        var applicant: PartyKeyRecord?
        let key: PublicKey?
        if action.action.byApplicant {
            applicant = try tx.activePartyKey(kind: .applicant, kid: kid)
            key = applicant.flatMap { try? PublicKey(spki: Array($0.spki)) }
            guard key != nil else {
                throw WorkflowError("auth.notApplicant", "the key \(kid) is not a registered applicant key; nothing was written",
                                    field: "key", value: kid, rule: "a registered, active applicant key")
            }
        } else {
            let admin = try tx.keys(role: .admin).first { $0.kid == kid && $0.notAfter == nil }
            key = admin.flatMap { try? PublicKey(spki: Array($0.spki)) }
            guard key != nil else {
                throw WorkflowError("auth.notAdmin", "the key \(kid) is not this authority's admin key; administrative verbs need the admin key made by permit init",
                                    field: "adminKey", value: kid, rule: "the registered admin key")
            }
        }
        do {
            try cose.verify(with: key!)
        } catch {
            throw WorkflowError("request.signature", "the signed request does not verify with key \(kid); nothing was written",
                                field: "request", value: kid, rule: "a COSE_Sign1 by the registered key")
        }
        if let seen = try tx.signedRequest(nonce: action.nonce) {
            throw WorkflowError("request.replayed", "this signed request was already received at \(RFC3339.string(seen.receivedAt)) (request \(seen.id ?? 0), \(seen.action)); it is not applied twice",
                                field: "nonce", value: action.nonce, rule: "each signed request is applied once")
        }
        let record = try tx.insertSignedRequest(SignedRequestRecord(action: action.action.rawValue, signerKid: kid, nonce: action.nonce,
                                                                    signedAt: action.date, receivedAt: now, cose: Data(bytes)))
        return AdmittedRequest(action: action, actor: (action.action.byApplicant ? "applicant:" : "admin:") + kid, signerKid: kid,
                               applicant: applicant, record: record)
    }

    /// A request's content read before its transaction, to check what it asks for; `admit` checks
    /// the signature and keeps it inside the transaction that carries it out.
    func peek(_ bytes: [UInt8], as kinds: Set<SignedAction.Kind>) throws -> SignedAction {
        let (action, _) = try SignedAction.decode(bytes)
        guard kinds.contains(action.action) else {
            throw WorkflowError("request.kind", "the signed request is \(action.action.rawValue), not \(kinds.map(\.rawValue).sorted().joined(separator: " or "))",
                                field: "action", value: action.action.rawValue, rule: "a request signed for this verb")
        }
        return action
    }

    /// Checks a firm's signed submission against its registered key; the keys of a batch are
    /// looked up (and parsed) once each, in `keys`.
    func verifiedSubmission(_ bytes: Data?, index: Int, keys: inout ApplicantKeys) async throws -> (SignedSubmission, PartyKeyRecord) {
        guard let bytes else {
            throw WorkflowError("submission.missing", "item \(index) carries no signed submission", field: "submission", rule: "every application is signed by the firm's key")
        }
        let submission = try SignedSubmission(decoding: Array(bytes))
        guard let kidBytes = submission.cose.kid else {
            throw WorkflowError("submission.kid", "the submission names no kid", field: "kid", rule: "kid in the protected header")
        }
        let kid = Hex.encode(kidBytes)
        if keys.byKid[kid] == nil {
            let record = try await activePartyKey(kind: .applicant, kid: kid)
            keys.byKid[kid] = .some(record.flatMap { r in (try? PublicKey(spki: Array(r.spki))).map { (r, $0) } })
        }
        guard let (record, key) = keys.byKid[kid] ?? nil else {
            throw WorkflowError("auth.notApplicant", "the key \(kid) is not a registered applicant key; an admin registers it with `permit applicant add`",
                                field: "key", value: kid, rule: "a registered, active applicant key")
        }
        do {
            try submission.cose.verify(with: key)
        } catch {
            throw WorkflowError("submission.signature", "the submission does not verify with the firm's key \(kid)", field: "submission", value: kid,
                                rule: "a COSE_Sign1 by the firm's registered key")
        }
        return (submission, record)
    }

    /// Refuses, before any work, a kid that is not an active approver of `department`.
    public func requireApprover(_ department: Department, kid: String) async throws {
        _ = try await approver(for: department, kid: kid)
    }

    /// What a decision needs before it is signed: each identifier resolved to its application and
    /// the digest the approver signs. Unknown identifiers come back without a digest.
    public func decisionTargets(_ identifiers: [String]) async throws -> [DecisionTarget] {
        try await store.read { r in
            try identifiers.map { input in
                guard let app = try Workflow.resolve(input, in: r) else { return DecisionTarget(input: input, id: nil, digest: nil) }
                return DecisionTarget(input: input, id: app.publicID, digest: app.digest)
            }
        }
    }
}
