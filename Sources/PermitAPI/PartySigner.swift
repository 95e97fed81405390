import Foundation
import PermitFoundation
import PermitModel
import PermitSeal

/// The client's side of signed requests: one party's key and clock, making the signed bytes each
/// verb sends. The key never leaves this value; the workflow receives only what it signed.
public struct PartySigner: Sendable {
    public let key: PrivateKey
    public let clock: any PermitClock

    public init(key: PrivateKey, clock: any PermitClock) {
        self.key = key
        self.clock = clock
    }

    public var kid: String { key.publicKey.kidHex }

    /// A firm's batch: every parsed application signed.
    public func submissions(_ items: [ApplicationFileItem]) -> [SubmissionItem] {
        SubmissionItem.signed(items, key: key, at: clock.now())
    }

    /// A firm's amendment of permit `amends` (as the firm names it: number or application ID).
    public func amendment(_ application: Application, amends: String) -> [UInt8] {
        SignedSubmission.sign(application, amends: amends, at: clock.now(), key: key)
    }

    /// An approver's decisions on the targets `decisionTargets` resolved; a target without a
    /// digest goes unsigned, so that the workflow reports it in its place.
    public func decisions(_ targets: [DecisionTarget], department: Department, approve: Bool, conditions: [String] = [],
                          reason: String? = nil) -> [DecisionItem] {
        let now = clock.now()
        return targets.enumerated().map { n, t in
            DecisionItem(index: n, input: t.input, decision: t.digest.flatMap(Hex.decode).map {
                Data(DecisionSignature.sign(digest: $0, department: department, approve: approve, conditions: conditions,
                                            reason: reason, at: now, key: key))
            })
        }
    }

    /// An administrative action (admin key) or a cancellation (the firm's key) for `authority`.
    public func action(_ kind: SignedAction.Kind, _ params: SignedAction.Params, authority: String) -> [UInt8] {
        SignedAction.sign(kind, params, authority: authority, at: clock.now(), key: key)
    }
}
