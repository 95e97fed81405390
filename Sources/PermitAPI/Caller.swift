import Foundation
import PermitModel
import PermitSeal

/// The party a registered key speaks for: who signed a request to the server.
public enum Caller: Sendable, Hashable {
    /// The authority's admin key.
    case admin
    /// A firm's registered applicant key.
    case firm(creditCode: String)
    /// An approver's key registered for one department.
    case approver(Department)

    /// `admin`, `firm` or `approver`, as a response or a log line names the role.
    public var role: String {
        switch self {
        case .admin: "admin"
        case .firm: "firm"
        case .approver: "approver"
        }
    }

    /// The credit code or department code the key is registered for; nil for the admin.
    public var party: String? {
        switch self {
        case .admin: nil
        case .firm(let code): code
        case .approver(let department): department.rawValue
        }
    }
}

/// A request signer's current, not removed key and the party it speaks for.
public struct RegisteredCaller: Sendable {
    public var kid: String
    public var key: PublicKey
    public var caller: Caller
    /// A firm's or an approver's registered key as the store has it; nil for the admin.
    public var record: PartyKeyRecord?

    public init(kid: String, key: PublicKey, caller: Caller, record: PartyKeyRecord? = nil) {
        self.kid = kid
        self.key = key
        self.caller = caller
        self.record = record
    }
}

/// What the server learnt of a request while it authenticated it, for the work the request
/// asks for: the signer's registered key, read from the store a moment before and verified
/// against the request's signature. A firm's submissions and an approver's decisions in that
/// request are signed by the same key (the server checks it), so the workflow takes the record
/// from here instead of reading the store again for it; a key this does not name is read as
/// before. Only the server sets it, around the route that serves the request.
public enum AuthenticatedRequest {
    @TaskLocal public static var signer: PartyKeyRecord?
}

/// What a server needs of a service beyond `PermitService` to authenticate a request (service.md):
/// the registered key behind a signature's `keyid`, and a replay memory that every instance of a
/// deployment shares, because it lives in the store.
public protocol RequestGate: Sendable {
    /// The current admin key or a registered, not removed party key with this kid; nil otherwise.
    func caller(kid: String) async throws -> RegisteredCaller?
    /// Remembers a request signature's nonce until `expires`; false when it was seen before
    /// (a replay). Forgets nonces whose time has passed.
    func admitNonce(_ nonce: String, kid: String, expires: Date) async throws -> Bool
}
