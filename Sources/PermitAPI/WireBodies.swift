import Foundation
import PermitModel
import PermitSeal

/// The JSON bodies of the HTTP API that are not records themselves; the server decodes what the
/// client encodes, and `Schemas/openapi.yaml` describes each one.
public enum Wire {
    /// `POST …/applications`: a firm's signed batch.
    public struct ApplyRequest: Codable, Sendable {
        public var items: [SubmissionItem]
        public var dryRun: Bool?
        public init(items: [SubmissionItem], dryRun: Bool?) { self.items = items; self.dryRun = dryRun }
    }

    /// `POST …/departments/{d}/decision-targets`.
    public struct Identifiers: Codable, Sendable {
        public var identifiers: [String]
        public init(identifiers: [String]) { self.identifiers = identifiers }
    }

    /// `POST …/departments/{d}/decisions`: an approver's signed batch.
    public struct DecideRequest: Codable, Sendable {
        public var items: [DecisionItem]
        public init(items: [DecisionItem]) { self.items = items }
    }

    /// `POST …/permits/{number}/amendments`: the amended application and the firm's signed submission of it.
    public struct AmendRequest: Codable, Sendable {
        public var application: Application
        public var submission: Data
        public init(application: Application, submission: Data) { self.application = application; self.submission = submission }
    }

    /// A signed revocation list and the document it signs.
    public struct SignedRevocationList: Codable, Sendable {
        public var list: RevocationList
        public var cose: Data
        public init(list: RevocationList, cose: Data) { self.list = list; self.cose = cose }
    }

    /// A signed audit checkpoint and the document it signs.
    public struct SignedCheckpoint: Codable, Sendable {
        public var checkpoint: AuditCheckpoint
        public var cose: Data
        public init(checkpoint: AuditCheckpoint, cose: Data) { self.checkpoint = checkpoint; self.cose = cose }
    }

    /// `GET …/caller`: whom the request's key speaks for.
    public struct CallerInfo: Codable, Sendable {
        public var kid: String
        /// admin, firm or approver.
        public var role: String
        /// The credit code or department code; absent for the admin.
        public var party: String?
        public init(kid: String, role: String, party: String?) { self.kid = kid; self.role = role; self.party = party }
    }

    /// `POST …/audit/verification`: checkpoints kept elsewhere, as COSE bytes.
    public struct AuditRequest: Codable, Sendable {
        public var checkpoints: [Data]?
        public init(checkpoints: [Data]?) { self.checkpoints = checkpoints }
    }

    /// `GET /v1/authorities`: one hosted authority.
    public struct AuthoritySummary: Codable, Sendable {
        public var code: String
        public var name: String
        public var nameEn: String
        public var phone: String
        /// The province's maximum validity in days.
        public var maxDays: Int
        public var createdAt: Date

        public init(_ a: AuthorityRecord) {
            code = a.code; name = a.name; nameEn = a.nameEn; phone = a.phone; maxDays = a.maxDays; createdAt = a.createdAt
        }

        public var record: AuthorityRecord {
            AuthorityRecord(code: code, name: name, nameEn: nameEn, phone: phone, maxDays: maxDays, createdAt: createdAt)
        }
    }

    /// An RFC 9457 problem as the server sends it, with the project's fields.
    public struct ProblemBody: Codable, Sendable {
        public var type: String
        public var title: String
        public var status: Int
        public var detail: String
        public var code: String
        public var field: String?
        public var value: String?
        public var rule: String?
        /// Every problem, when there is more than one.
        public var errors: [Problem]?

        public var problems: [Problem] {
            errors ?? [Problem(code: code, message: detail, field: field, value: value, rule: rule)]
        }
    }
}
