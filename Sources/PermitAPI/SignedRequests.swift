import Foundation
import PermitFoundation
import PermitModel
import PermitSeal

// Every request that changes the workflow is signed on the caller's machine with the caller's own
// key, as a COSE_Sign1 carrying a time and a nonce, and stored as evidence. This file holds the
// three signed forms (a submission, a decision, an administrative action) in one place, so that
// the client that signs and the workflow that checks read the same bytes the same way.

/// Why a signed request could not be read. The workflow refuses such a request whole.
public struct RequestError: Error, ProblemConvertible, Sendable, CustomStringConvertible {
    public var problems: [Problem]
    public init(_ code: String, _ message: String, field: String? = nil, value: String? = nil, rule: String? = nil) {
        problems = [Problem(code: code, message: message, field: field, value: value, rule: rule)]
    }
    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

/// Limits every signed request is held to.
public enum RequestRules {
    /// How far a request's signed time may be from the receiving clock, either way, in seconds.
    public static let skew: TimeInterval = 600
    /// Random bytes in a nonce.
    public static let nonceBytes = 16

    /// A fresh random nonce.
    public static func nonce() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<nonceBytes).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    /// Refuses a signed time further than `skew` from `now`.
    public static func checkTime(_ signed: Date, now: Date, field: String) throws(RequestError) {
        let delta = signed.timeIntervalSince(now)
        guard abs(delta) <= skew else {
            throw RequestError("request.clock", "the request was signed at \(RFC3339.string(signed)), \(Int(abs(delta))) s \(delta > 0 ? "ahead of" : "behind") this clock (\(RFC3339.string(now)))",
                               field: field, value: RFC3339.string(signed), rule: "within \(Int(skew)) s of the receiving clock; check the signing machine's clock")
        }
    }
}

// MARK: submissions

/// A firm's signed submission (or amendment) of one application: COSE_Sign1 by the firm's key over
/// the deterministic CBOR map `{1: SHA-256 of the normalised application's canonical JSON,
/// 2: credit code, 3: reference, 4: time (Unix s), 5: nonce, ? 6: the permit number it amends}`.
/// Submissions made before nonces carry keys 1–4 only.
public struct SignedSubmission: Sendable {
    public var digest: [UInt8]
    public var creditCode: String
    public var reference: String
    public var time: Date
    public var nonce: [UInt8]?
    public var amends: String?
    public var cose: COSESign1
    /// The bytes as signed and sent, kept as evidence.
    public var bytes: [UInt8]

    /// The stored document and its digest: canonical JSON of the normalised application.
    public static func document(of normalized: Application) -> (document: Data, digest: [UInt8]) {
        let document = CanonicalJSON.encode(normalized)
        return (document, Hashing.sha256(document))
    }

    /// Signs `application` (normalised first) with the firm's key.
    public static func sign(_ application: Application, amends: String? = nil, at time: Date, key: PrivateKey,
                            nonce: [UInt8] = RequestRules.nonce()) -> [UInt8] {
        let app = application.normalized()
        var pairs: [CBORPair] = [
            CBORPair(1, .bytes(document(of: app).digest)), CBORPair(2, .text(app.applicant.creditCode)), CBORPair(3, .text(app.reference)),
            CBORPair(4, .unsigned(UInt64(max(0, time.timeIntervalSince1970)))), CBORPair(5, .bytes(nonce)),
        ]
        if let amends { pairs.append(CBORPair(6, .text(amends))) }
        return COSESign1.sign(payload: CBOREncoder.encode(.map(pairs)), with: key).encoded()
    }

    /// Reads a submission's bytes; the signature is checked by whoever holds the registered key.
    public init(decoding bytes: [UInt8]) throws(RequestError) {
        guard let cose = try? COSESign1.decode(bytes) else {
            throw RequestError("submission.malformed", "the submission is not a COSE_Sign1", field: "submission", rule: "COSE_Sign1 (RFC 9052)")
        }
        guard let map = try? CBORDecoder().decode(cose.payload), let digest = map[1]?.bytes, digest.count == 32,
              let creditCode = map[2]?.text, let reference = map[3]?.text, let seconds = map[4]?.uint64 else {
            throw RequestError("submission.malformed", "the submission's payload is not {1: digest, 2: credit code, 3: reference, 4: time}",
                               field: "submission", rule: "the signed submission map")
        }
        self.cose = cose
        self.bytes = bytes
        self.digest = digest
        self.creditCode = creditCode
        self.reference = reference
        self.time = Date(timeIntervalSince1970: TimeInterval(seconds))
        self.nonce = map[5]?.bytes
        self.amends = map[6]?.text
    }
}

/// One item of a batch of applications, as sent to the service: the parsed application and the
/// firm's signed submission of it, or the problems that kept the file's item from parsing.
public struct SubmissionItem: Codable, Sendable {
    public var index: Int
    public var reference: String?
    public var application: Application?
    public var problems: [Problem]?
    /// The COSE_Sign1 bytes of `SignedSubmission`.
    public var submission: Data?

    public init(index: Int, reference: String?, application: Application?, problems: [Problem]?, submission: Data?) {
        self.index = index
        self.reference = reference
        self.application = application
        self.problems = problems
        self.submission = submission
    }

    /// The file's items, each parsed application signed with the firm's key at `time`.
    public static func signed(_ items: [ApplicationFileItem], key: PrivateKey, at time: Date) -> [SubmissionItem] {
        items.map { item in
            let app = item.application
            return SubmissionItem(index: item.index, reference: item.reference, application: app,
                                  problems: app == nil ? item.problems : nil,
                                  submission: app.map { Data(SignedSubmission.sign($0, at: time, key: key)) })
        }
    }
}

// MARK: decisions

/// A department's signed decision: COSE_Sign1 by the approver's key over the deterministic CBOR
/// map `{1: application digest, 2: department number, 3: decision (1 approve, 2 reject),
/// 4: [conditions] | 5: reason, 6: time (Unix ms), 7: approver kid, 8: nonce}`. Decisions signed
/// before nonces carry no key 8.
public struct DecisionSignature: Sendable {
    public var digest: [UInt8]
    public var department: Department
    public var approve: Bool
    public var conditions: [String]
    public var reason: String?
    public var time: Date
    public var kid: [UInt8]
    public var nonce: [UInt8]?
    public var cose: COSESign1

    public static func payload(digest: [UInt8], department: Department, approve: Bool, conditions: [String],
                               reason: String?, at: Date, kid: [UInt8], nonce: [UInt8]?) -> [UInt8] {
        var pairs: [CBORPair] = [
            CBORPair(1, .bytes(digest)), CBORPair(2, .unsigned(UInt64(department.number))),
            CBORPair(3, .unsigned(approve ? 1 : 2)),
            CBORPair(6, .unsigned(UInt64(max(0, (at.timeIntervalSince1970 * 1000).rounded())))), CBORPair(7, .bytes(kid)),
        ]
        if approve {
            pairs.append(CBORPair(4, .array(conditions.map { .text($0) })))
        } else {
            pairs.append(CBORPair(5, .text(reason ?? "")))
        }
        if let nonce { pairs.append(CBORPair(8, .bytes(nonce))) }
        return CBOREncoder.encode(.map(pairs))
    }

    /// Signs a decision on the application whose digest is `digest` (hex, as `queue` and `show` give it).
    public static func sign(digest: [UInt8], department: Department, approve: Bool, conditions: [String],
                            reason: String?, at: Date, key: PrivateKey, nonce: [UInt8] = RequestRules.nonce()) -> [UInt8] {
        COSESign1.sign(payload: payload(digest: digest, department: department, approve: approve, conditions: conditions.map(\.nfc),
                                        reason: reason, at: at, kid: key.publicKey.kid, nonce: nonce), with: key).encoded()
    }

    public init(decoding bytes: [UInt8]) throws(RequestError) {
        guard let cose = try? COSESign1.decode(bytes) else {
            throw RequestError("decision.malformed", "the signed decision is not a COSE_Sign1", field: "decision", rule: "COSE_Sign1 (RFC 9052)")
        }
        guard let map = try? CBORDecoder().decode(cose.payload), let digest = map[1]?.bytes,
              let number = map[2]?.uint64, let department = Department.allCases.first(where: { UInt64($0.number) == number }),
              let verdict = map[3]?.uint64, verdict == 1 || verdict == 2, let ms = map[6]?.uint64, let kid = map[7]?.bytes else {
            throw RequestError("decision.malformed", "the signed decision's payload is not the decision map",
                               field: "decision", rule: "{1: digest, 2: department, 3: decision, 4|5, 6: time, 7: kid, 8: nonce}")
        }
        self.cose = cose
        self.digest = digest
        self.department = department
        self.approve = verdict == 1
        if approve {
            guard let conditions = map[4]?.array?.compactMap(\.text) else {
                throw RequestError("decision.malformed", "an approval carries its conditions under key 4", field: "decision", rule: "4: [text]")
            }
            self.conditions = conditions
            reason = nil
        } else {
            guard let reason = map[5]?.text else {
                throw RequestError("decision.malformed", "a rejection carries its reason under key 5", field: "decision", rule: "5: text")
            }
            self.reason = reason
            conditions = []
        }
        time = Date(timeIntervalSince1970: TimeInterval(ms) / 1000)
        self.kid = kid
        nonce = map[8]?.bytes
    }
}

/// The checks on a decision's conditions and reason, made before signing and again on receipt.
public enum DecisionRules {
    public static func problems(approve: Bool, conditions: [String], reason: String?) -> [Problem] {
        var problems: [Problem] = []
        if !approve, (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append(Problem(code: "reject.reason", message: "a rejection needs --reason", field: "reason", value: "", rule: "a non-empty reason"))
        }
        for (i, c) in conditions.map(\.nfc).enumerated() where c.isEmpty || c.unicodeScalars.count > PayloadLimits.condition {
            problems.append(Problem(code: "approve.condition", message: "condition \"\(c)\" must have 1 to \(PayloadLimits.condition) characters",
                                    field: "condition[\(i)]", value: c, rule: "1 to \(PayloadLimits.condition) characters"))
        }
        if conditions.count > PayloadLimits.conditions {
            problems.append(Problem(code: "approve.conditions", message: "\(conditions.count) conditions; a permit carries at most \(PayloadLimits.conditions)",
                                    field: "condition", value: "\(conditions.count)", rule: "at most \(PayloadLimits.conditions)"))
        }
        return problems
    }
}

/// One item of a batch of decisions: the identifier as given, and the approver's signed decision
/// (nil when the identifier named nothing, so that the item is reported in its place).
public struct DecisionItem: Codable, Sendable {
    public var index: Int
    public var input: String
    /// The COSE_Sign1 bytes of `DecisionSignature`.
    public var decision: Data?

    public init(index: Int, input: String, decision: Data?) {
        self.index = index
        self.input = input
        self.decision = decision
    }
}

// MARK: administrative actions and cancellations

/// An administrative action (or a firm's cancellation), signed by the admin key (or the firm's
/// key): COSE_Sign1 over the canonical JSON `{format, action, authority, time, nonce, params}`.
/// The workflow stores it, refuses its nonce a second time, and `audit verify` checks it.
public struct SignedAction: Codable, Sendable, Hashable {
    public static let formatName = "freight-permit-action"

    public enum Kind: String, Codable, Sendable, CaseIterable {
        case approverAdd = "approver.add", applicantAdd = "applicant.add"
        case approverRemove = "approver.remove", applicantRemove = "applicant.remove"
        case revoke
        case blacklistAdd = "blacklist.add", blacklistRemove = "blacklist.remove"
        case issuerRotate = "issuer.rotate"
        case cancel

        /// Signed by the firm's registered key rather than the admin key.
        public var byApplicant: Bool { self == .cancel }
    }

    /// What an action names; each kind uses the fields it needs.
    public struct Params: Codable, Sendable, Hashable {
        /// approver.add: the department; applicant.add: the credit code.
        public var party: String?
        public var name: String?
        /// The registered key: base64 DER SPKI (add), or its kid (remove).
        public var publicKey: String?
        public var kid: String?
        public var reason: String?
        /// revoke: the permit numbers or application IDs.
        public var numbers: [String]?
        /// blacklist.add
        public var kind: String?
        public var value: String?
        public var until: String?
        public var revokeActive: Bool?
        /// blacklist.remove
        public var id: Int64?
        /// issuer.rotate
        public var alg: String?
        /// cancel: the application.
        public var application: String?

        public init(party: String? = nil, name: String? = nil, publicKey: String? = nil, kid: String? = nil, reason: String? = nil,
                    numbers: [String]? = nil, kind: String? = nil, value: String? = nil, until: String? = nil, revokeActive: Bool? = nil,
                    id: Int64? = nil, alg: String? = nil, application: String? = nil) {
            self.party = party
            self.name = name
            self.publicKey = publicKey
            self.kid = kid
            self.reason = reason
            self.numbers = numbers
            self.kind = kind
            self.value = value
            self.until = until
            self.revokeActive = revokeActive
            self.id = id
            self.alg = alg
            self.application = application
        }
    }

    public var format: String
    public var action: Kind
    public var authority: String
    /// RFC 3339, UTC.
    public var time: String
    /// 16 random bytes, lowercase hex.
    public var nonce: String
    public var params: Params

    /// Signs an action for `authority` with `key` (the admin key, or the firm's for a cancellation).
    public static func sign(_ action: Kind, _ params: Params, authority: String, at time: Date, key: PrivateKey,
                            nonce: [UInt8] = RequestRules.nonce()) -> [UInt8] {
        let body = SignedAction(format: formatName, action: action, authority: authority, time: RFC3339.string(time),
                                nonce: Hex.encode(nonce), params: params)
        return COSESign1.sign(payload: Array(CanonicalJSON.encode(body)), with: key).encoded()
    }

    /// Reads an action's bytes; the signature is checked by the workflow against the registered key.
    public static func decode(_ bytes: [UInt8]) throws(RequestError) -> (action: SignedAction, cose: COSESign1) {
        guard let cose = try? COSESign1.decode(bytes) else {
            throw RequestError("action.malformed", "the signed request is not a COSE_Sign1", field: "request", rule: "COSE_Sign1 (RFC 9052)")
        }
        guard let action = try? JSONDecoder().decode(SignedAction.self, from: Data(cose.payload)), action.format == formatName else {
            throw RequestError("action.malformed", "the signed request's payload is not a \(formatName) document",
                               field: "request", rule: "{format, action, authority, time, nonce, params}")
        }
        guard let nonce = Hex.decode(action.nonce), nonce.count >= RequestRules.nonceBytes else {
            throw RequestError("action.nonce", "the request's nonce \(action.nonce) is shorter than \(RequestRules.nonceBytes) bytes",
                               field: "nonce", value: action.nonce, rule: "at least \(RequestRules.nonceBytes) random bytes, hex")
        }
        guard RFC3339.date(action.time) != nil else {
            throw RequestError("action.time", "the request's time \(action.time) is not RFC 3339", field: "time", value: action.time, rule: "RFC 3339")
        }
        return (action, cose)
    }

    public var date: Date { RFC3339.date(time) ?? .distantPast }
}

/// An application a decision is about, as the approver's client needs it to sign: its ID and
/// the digest of the document the firm signed (lowercase hex).
public struct DecisionTarget: Codable, Sendable, Hashable {
    public var input: String
    public var id: String?
    public var digest: String?

    public init(input: String, id: String?, digest: String?) {
        self.input = input
        self.id = id
        self.digest = digest
    }
}
