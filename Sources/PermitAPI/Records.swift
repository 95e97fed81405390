import Foundation
import PermitModel

/// The issuing authority that owns a data directory.
public struct AuthorityRecord: Codable, Sendable, Hashable {
    /// 6-digit GB/T 2260 code.
    public var code: String
    public var name: String
    public var nameEn: String
    public var phone: String
    /// The province's maximum validity in days.
    public var maxDays: Int
    public var createdAt: Date

    public init(code: String, name: String, nameEn: String, phone: String, maxDays: Int, createdAt: Date) {
        self.code = code
        self.name = name
        self.nameEn = nameEn
        self.phone = phone
        self.maxDays = maxDays
        self.createdAt = createdAt
    }
}

/// A public key the authority holds or trusts, by role.
public struct KeyRecord: Codable, Sendable, Hashable {
    public enum Role: String, Codable, Sendable { case issuer, admin, root }
    public var kid: String
    public var role: Role
    public var alg: String
    /// DER SubjectPublicKeyInfo.
    public var spki: Data
    public var notBefore: Date
    /// When the key stopped signing (rotation), nil while current.
    public var notAfter: Date?

    public init(kid: String, role: Role, alg: String, spki: Data, notBefore: Date, notAfter: Date?) {
        self.kid = kid
        self.role = role
        self.alg = alg
        self.spki = spki
        self.notBefore = notBefore
        self.notAfter = notAfter
    }
}

/// A registered key of a department's approver or of an applicant firm.
public struct PartyKeyRecord: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case approver, applicant }
    public var id: Int64?
    public var kind: Kind
    /// The department code for approvers, the unified social credit code for applicants.
    public var party: String
    public var name: String
    public var kid: String
    public var alg: String
    public var spki: Data
    public var addedAt: Date
    public var removedAt: Date?
    public var removedReason: String?

    public init(kind: Kind, party: String, name: String, kid: String, alg: String, spki: Data, addedAt: Date) {
        self.kind = kind
        self.party = party
        self.name = name
        self.kid = kid
        self.alg = alg
        self.spki = spki
        self.addedAt = addedAt
    }
}

/// The states an application moves through.
public enum ApplicationState: String, Codable, Sendable, CaseIterable {
    case pending, issued, rejected, cancelled
}

/// One application, as submitted and routed.
public struct ApplicationRecord: Codable, Sendable, Hashable {
    public var id: Int64?
    public var reference: String
    public var creditCode: String
    public var plate: String
    public var state: ApplicationState
    /// The application's canonical JSON.
    public var document: Data
    /// Lowercase hex SHA-256 of `document`.
    public var digest: String
    /// The applicant's COSE_Sign1 over the digest.
    public var submission: Data
    public var applicantKid: String
    /// The routing decision as JSON, and the hash of the table that made it.
    public var routing: Data
    public var routingHash: String
    public var submittedAt: Date
    public var closedAt: Date?
    public var closeReason: String?
    public var permitNumber: String?
    /// The number of the issued permit this application amends (`permit amend`), nil for a first application.
    public var amends: String?

    public init(reference: String, creditCode: String, plate: String, document: Data, digest: String, submission: Data,
                applicantKid: String, routing: Data, routingHash: String, submittedAt: Date) {
        self.reference = reference
        self.creditCode = creditCode
        self.plate = plate
        self.state = .pending
        self.document = document
        self.digest = digest
        self.submission = submission
        self.applicantKid = applicantKid
        self.routing = routing
        self.routingHash = routingHash
        self.submittedAt = submittedAt
    }

    /// The public ID, `A` and at least 6 digits.
    public var publicID: String { id.map { ApplicationRecord.publicID(for: $0) } ?? "" }

    public static func publicID(for id: Int64) -> String {
        let digits = String(id)
        return "A" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The row id of a public ID such as `A000123`.
    public static func rowID(of publicID: String) -> Int64? {
        guard publicID.first == "A" || publicID.first == "a" else { return nil }
        return Int64(publicID.dropFirst())
    }
}

/// One department's place in an application's required set.
public struct RequiredDepartmentRecord: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable { case pending, approved, rejected }
    public var applicationID: Int64
    public var department: String
    public var state: State
    public var dueAt: Date
    public var decidedAt: Date?

    public init(applicationID: Int64, department: String, state: State, dueAt: Date, decidedAt: Date? = nil) {
        self.applicationID = applicationID
        self.department = department
        self.state = state
        self.dueAt = dueAt
        self.decidedAt = decidedAt
    }
}

/// A signed decision of one department on one application.
public struct DecisionRecord: Codable, Sendable, Hashable {
    public enum Decision: String, Codable, Sendable { case approve, reject }
    public var id: Int64?
    public var applicationID: Int64
    public var department: String
    public var decision: Decision
    public var conditions: [String]
    public var reason: String?
    public var decidedAt: Date
    public var approverID: Int64
    public var approverKid: String
    /// COSE_Sign1 by the approver's key over the decision's deterministic CBOR.
    public var signature: Data
    /// The stored text when it is neither approve nor reject (only a tampered row has one).
    public var storedDecision: String?
    /// For an approval carried over by an amendment: the id of the original signed decision, whose
    /// signature, approver, time and conditions this row keeps. The signature covers the digest of
    /// that decision's application, not of this one.
    public var carriedFrom: Int64?

    public init(applicationID: Int64, department: String, decision: Decision, conditions: [String], reason: String?,
                decidedAt: Date, approverID: Int64, approverKid: String, signature: Data) {
        self.applicationID = applicationID
        self.department = department
        self.decision = decision
        self.conditions = conditions
        self.reason = reason
        self.decidedAt = decidedAt
        self.approverID = approverID
        self.approverKid = approverKid
        self.signature = signature
    }
}

/// An issued permit.
public struct PermitRecord: Codable, Sendable, Hashable {
    public var number: String
    public var applicationID: Int64
    public var authority: String
    public var serial: Int
    public var issuedAt: Date
    public var validFrom: String
    public var validTo: String
    /// The `FP1:` text.
    public var payload: String
    /// The issued-permit document (JSON) that was sealed.
    public var document: Data
    public var issuerKid: String
    /// First 16 bytes of SHA-256 of the COSE signature, hex: the revocation hash.
    public var signatureHash: String
    /// Microseconds from the start of the completing decision to the permit row.
    public var decisionToIssueMicros: Int64
    /// The older permit for the same vehicle and route that this one superseded.
    public var supersedes: String?
    /// The newer permit that superseded this one.
    public var supersededBy: String?

    public init(number: String, applicationID: Int64, authority: String, serial: Int, issuedAt: Date, validFrom: String,
                validTo: String, payload: String, document: Data, issuerKid: String, signatureHash: String, decisionToIssueMicros: Int64) {
        self.number = number
        self.applicationID = applicationID
        self.authority = authority
        self.serial = serial
        self.issuedAt = issuedAt
        self.validFrom = validFrom
        self.validTo = validTo
        self.payload = payload
        self.document = document
        self.issuerKid = issuerKid
        self.signatureHash = signatureHash
        self.decisionToIssueMicros = decisionToIssueMicros
    }
}

/// One event of the append-only, hash-chained audit trail.
public struct AuditEvent: Codable, Sendable, Hashable {
    public var seq: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var subject: String
    /// Canonical JSON of the event's content.
    public var content: Data
    public var prevHash: String
    public var hash: String

    public init(seq: Int64, at: Date, actor: String, action: String, subject: String, content: Data, prevHash: String, hash: String) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
        self.content = content
        self.prevHash = prevHash
        self.hash = hash
    }
}

/// Filters for listing applications.
public struct ApplicationFilter: Sendable {
    public var states: [ApplicationState]?
    public var creditCode: String?
    public var plate: String?
    /// Only applications routed to this department (its code).
    public var department: String?
    public var limit: Int?
    /// Only rows after this row id (keyset paging).
    public var afterID: Int64?
    /// Only issued applications whose permit is in this state (active, expired, revoked or
    /// superseded) on the day `today` (YYYY-MM-DD, China time): superseded first, then revoked,
    /// then expired (its last day before today), else active.
    public var permitState: (state: LifecycleState, today: String)?
    /// Only applications submitted at or after this instant (the report's `--since`; the
    /// stores read them through an index on `submittedAt`).
    public var submittedSince: Date?
    public init(states: [ApplicationState]? = nil, creditCode: String? = nil, plate: String? = nil, limit: Int? = nil, afterID: Int64? = nil,
                submittedSince: Date? = nil) {
        self.states = states
        self.creditCode = creditCode
        self.plate = plate
        self.limit = limit
        self.afterID = afterID
        self.submittedSince = submittedSince
    }
}

/// The revocation of an issued permit: by an admin with a reason, or by a newer permit for the
/// same vehicle and route (`reason` "superseded", `supersededBy` set).
public struct RevocationRecord: Codable, Sendable, Hashable {
    public var number: String
    public var revokedAt: Date
    public var reason: String
    /// `admin:<kid>`, or `issuer:<kid>` for a supersession made by issuance.
    public var actor: String
    /// Filled in when read: the permit's revocation hash and its newer permit, if superseded.
    public var signatureHash: String?
    public var supersededBy: String?

    public init(number: String, revokedAt: Date, reason: String, actor: String) {
        self.number = number
        self.revokedAt = revokedAt
        self.reason = reason
        self.actor = actor
    }
}

/// A party barred from applying: a vehicle (plate), a crew member (ID number) or a firm (credit code).
public struct BlacklistRecord: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case plate, idNumber, creditCode }
    public var id: Int64?
    public var kind: Kind
    public var value: String
    public var reason: String
    /// Last day (YYYY-MM-DD, China time) the entry applies; nil for no end.
    public var until: String?
    public var addedAt: Date
    public var actor: String
    public var removedAt: Date?
    public var removedReason: String?

    public init(kind: Kind, value: String, reason: String, until: String?, addedAt: Date, actor: String) {
        self.kind = kind
        self.value = value
        self.reason = reason
        self.until = until
        self.addedAt = addedAt
        self.actor = actor
    }
}

/// A signed statement of the audit chain's length and head hash at a time.
public struct AuditCheckpointRecord: Codable, Sendable, Hashable {
    public var id: Int64?
    public var length: Int64
    public var headHash: String
    public var at: Date
    public var signerKid: String
    /// COSE_Sign1 by the issuer key over the checkpoint's JSON.
    public var signature: Data

    public init(length: Int64, headHash: String, at: Date, signerKid: String, signature: Data) {
        self.length = length
        self.headHash = headHash
        self.at = at
        self.signerKid = signerKid
        self.signature = signature
    }
}

/// A signed request kept as evidence: an administrative action (signed by the admin key) or a
/// firm's cancellation (signed by its registered key). Its nonce is unique: the same signed bytes
/// are never applied twice.
public struct SignedRequestRecord: Codable, Sendable, Hashable {
    public var id: Int64?
    /// The action's name (`approver.add`, `revoke`, …).
    public var action: String
    public var signerKid: String
    /// Lowercase hex.
    public var nonce: String
    /// The time the signer put in the request.
    public var signedAt: Date
    /// When the workflow accepted it.
    public var receivedAt: Date
    /// The COSE_Sign1 bytes as received.
    public var cose: Data

    public init(action: String, signerKid: String, nonce: String, signedAt: Date, receivedAt: Date, cose: Data) {
        self.action = action
        self.signerKid = signerKid
        self.nonce = nonce
        self.signedAt = signedAt
        self.receivedAt = receivedAt
        self.cose = cose
    }
}

extension BlacklistRecord {
    /// The value as audit content and messages show it: ID numbers masked.
    public var shownValue: String {
        kind == .idNumber ? Masking.document(value, type: .residentID) : value
    }
}
