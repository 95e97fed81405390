import Foundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore
import PermitWorkflow

/// The tests' and benches' way of acting as a party: each call signs its request with the
/// party's key on the workflow's clock, as a client would, and hands the workflow only the
/// signed bytes. The workflow's own API takes no private key.
extension Workflow {
    public func signer(_ key: PrivateKey) -> PartySigner { PartySigner(key: key, clock: clock) }

    public func apply(_ items: [ApplicationFileItem], key: PrivateKey, dryRun: Bool = false,
                      progress: ((Int) -> Void)? = nil) async throws -> [ApplyResult] {
        try await apply(signer(key).submissions(items), dryRun: dryRun, progress: progress)
    }

    public func decide(department: Department, key: PrivateKey, identifiers: [String], decision: DecisionRecord.Decision,
                       conditions: [String] = [], reason: String? = nil, progress: ((Int) -> Void)? = nil) async throws -> [DecisionResult] {
        let problems = DecisionRules.problems(approve: decision == .approve, conditions: conditions, reason: reason)
        if !problems.isEmpty { throw ProblemList(problems) }
        let items = await signer(key).decisions(try decisionTargets(identifiers), department: department, approve: decision == .approve,
                                          conditions: conditions, reason: reason)
        return try await decide(department: department, items: items, progress: progress)
    }

    public func cancel(_ identifier: String, key: PrivateKey, reason: String?) async throws -> ApplicationRecord {
        try await cancel(signer(key).action(.cancel, .init(reason: reason, application: identifier), authority: authority.code))
    }

    public func amend(number identifier: String, application: Application, key: PrivateKey) async throws -> AmendResult {
        try await amend(number: identifier, application: application, submission: signer(key).amendment(application, amends: identifier))
    }

    public func register(_ kind: PartyKeyRecord.Kind, party: String, name: String, publicKey: PublicKey, adminKey: PrivateKey) async throws -> PartyKeyRecord {
        try await register(signer(adminKey).action(kind == .approver ? .approverAdd : .applicantAdd,
                                             .init(party: party, name: name, publicKey: publicKey.base64), authority: authority.code))
    }

    public func unregister(_ kind: PartyKeyRecord.Kind, kid: String, reason: String, adminKey: PrivateKey) async throws -> PartyKeyRecord {
        try await unregister(signer(adminKey).action(kind == .approver ? .approverRemove : .applicantRemove,
                                               .init(kid: kid, reason: reason), authority: authority.code))
    }

    @discardableResult
    public func revoke(number identifier: String, reason: String, adminKey: PrivateKey) async throws -> RevocationRecord {
        let outcome = try await revoke(signer(adminKey).action(.revoke, .init(reason: reason, numbers: [identifier]), authority: authority.code))
        if let problems = outcome.first?.problems { throw ProblemList(problems) }
        return outcome.first!.revocation!
    }

    public func blacklistAdd(kind: BlacklistRecord.Kind, value: String, reason: String, until: String?, revokeActive: Bool,
                             adminKey: PrivateKey) async throws -> BlacklistAddResult {
        try await blacklistAdd(signer(adminKey).action(.blacklistAdd, .init(reason: reason, kind: kind.rawValue, value: value, until: until,
                                                                      revokeActive: revokeActive), authority: authority.code))
    }

    public func blacklistRemove(id: Int64, reason: String, adminKey: PrivateKey) async throws -> BlacklistRecord {
        try await blacklistRemove(signer(adminKey).action(.blacklistRemove, .init(reason: reason, id: id), authority: authority.code))
    }

    public func rotateIssuerKey(algorithm: KeyAlgorithm, adminKey: PrivateKey, rootKey: PrivateKey) async throws -> Rotation {
        try await rotateIssuerKey(signer(adminKey).action(.issuerRotate, .init(alg: algorithm.rawValue), authority: authority.code), root: rootKey)
    }
}
