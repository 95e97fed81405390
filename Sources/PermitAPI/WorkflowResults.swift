import Foundation
import PermitModel
import PermitRouting

// What the workflow answers, as every interface (CLI, server, HTTP client) shares it.

/// What `amend` did.
public struct AmendResult: Codable, Sendable {
    /// The new application's ID and reference.
    public var id: String
    public var reference: String
    /// The permit it amends.
    public var amends: String
    /// pending, or issued when every approval carried over.
    public var state: String
    /// Every department the amended application needs, after re-routing.
    public var departments: [String]
    /// Departments whose original signed approval carried over.
    public var carriedOver: [String]
    /// Departments that must decide again with `permit approve`.
    public var mustDecide: [String]
    public var routingHash: String
    /// The new permit, when it was issued at once; it supersedes `amends`.
    public var permitNumber: String?

    public init(id: String, reference: String, amends: String, state: String, departments: [String], carriedOver: [String], mustDecide: [String], routingHash: String, permitNumber: String? = nil) {
        self.id = id
        self.reference = reference
        self.amends = amends
        self.state = state
        self.departments = departments
        self.carriedOver = carriedOver
        self.mustDecide = mustDecide
        self.routingHash = routingHash
        self.permitNumber = permitNumber
    }
}

/// The signed statement `permit audit checkpoint` writes: the chain's length and head hash at a
/// time, as JSON inside a COSE_Sign1 by the issuer key. Kept outside the database, it shows later
/// whether the chain was truncated or rebuilt below it.
public struct AuditCheckpoint: Codable, Sendable, Hashable {
    public static let formatName = "freight-permit-audit-checkpoint"
    public var format: String = AuditCheckpoint.formatName
    public var authority: String
    public var length: Int64
    public var head: String
    /// RFC 3339, UTC.
    public var time: String

    public init(format: String = AuditCheckpoint.formatName, authority: String, length: Int64, head: String, time: String) {
        self.format = format
        self.authority = authority
        self.length = length
        self.head = head
        self.time = time
    }
}

/// One thing an audit found wrong, naming the row.
public struct AuditFinding: Codable, Sendable, Hashable {
    /// chain, application, decision, permit or checkpoint.
    public var check: String
    /// The table (or `file`) and the row's id (audit seq, decision id, permit number, path).
    public var table: String
    public var id: String
    public var message: String
    /// The column held to a signed document (or to the audit trail) that differs, when one does.
    public var column: String? = nil

    public init(check: String, table: String, id: String, message: String, column: String? = nil) {
        self.check = check
        self.table = table
        self.id = id
        self.message = message
        self.column = column
    }
}

/// What `audit verify` checked and found.
public struct AuditVerification: Codable, Sendable {
    public var events: Int
    public var applications: Int
    public var decisions: Int
    public var permits: Int
    public var checkpoints: Int
    /// What the database's issuer keys were held to: the root-signed trust list checked, or why none was.
    public var trustList: String
    /// Whether the issuer keys were checked against a verified trust list.
    public var trustListChecked: Bool
    public var findings: [AuditFinding]
    /// Signed requests (administrative actions, cancellations) checked.
    public var requests: Int = 0
    /// Rows written before requests were signed: reported, not counted as findings.
    public var notes: [AuditFinding] = []
    /// `audit verify --since-checkpoint` only: the checkpoint it verified from and how far.
    /// (Nil, and absent from the JSON, for a full verify.)
    public var sinceCheckpoint: AuditSinceCheckpoint? = nil
    /// The wall time of the verification, when the verifier measured it (the incremental mode does).
    public var seconds: Double? = nil
    public var ok: Bool { findings.isEmpty }

    public init(events: Int, applications: Int, decisions: Int, permits: Int, checkpoints: Int, trustList: String, trustListChecked: Bool, findings: [AuditFinding], requests: Int = 0, notes: [AuditFinding] = []) {
        self.events = events
        self.applications = applications
        self.decisions = decisions
        self.permits = permits
        self.checkpoints = checkpoints
        self.trustList = trustList
        self.trustListChecked = trustListChecked
        self.findings = findings
        self.requests = requests
        self.notes = notes
    }
}

/// The checkpoint `audit verify --since-checkpoint` started from, and the events it verified after it.
public struct AuditSinceCheckpoint: Codable, Sendable {
    /// The stored checkpoint's row id.
    public var id: Int64
    public var length: Int64
    public var head: String
    /// When it was signed (RFC 3339).
    public var time: String
    /// Events after the checkpoint, each hash and link recomputed.
    public var eventsVerified: Int
    /// The chain's length as read.
    public var chainLength: Int64

    public init(id: Int64, length: Int64, head: String, time: String, eventsVerified: Int, chainLength: Int64) {
        self.id = id
        self.length = length
        self.head = head
        self.time = time
        self.eventsVerified = eventsVerified
        self.chainLength = chainLength
    }
}

/// What `blacklist add` did: the entry, the pending applications it rejected and the permits it revoked.
public struct BlacklistAddResult: Codable, Sendable {
    public var entry: BlacklistRecord
    public var rejected: [String]
    public var revoked: [String]

    public init(entry: BlacklistRecord, rejected: [String], revoked: [String]) {
        self.entry = entry
        self.rejected = rejected
        self.revoked = revoked
    }
}

/// Where an application stands once the clock and revocations are taken into account.
/// `issued` covers every application that became a permit; `active`, `expired`, `revoked` and
/// `superseded` narrow it (a superseded permit is not counted as revoked).
public enum LifecycleState: String, Codable, Sendable, CaseIterable {
    case pending, issued, active, expired, revoked, superseded, rejected, cancelled
}

/// A permit with what happened to it since issuance.
public struct PermitStatus: Codable, Sendable {
    public var permit: PermitRecord
    public var revocation: RevocationRecord?
    /// One of active, expired, revoked, superseded.
    public var state: LifecycleState

    public init(permit: PermitRecord, revocation: RevocationRecord? = nil, state: LifecycleState) {
        self.permit = permit
        self.revocation = revocation
        self.state = state
    }
}

/// One permit of a signed revocation: what it revoked, or why it was refused.
public struct RevokeOutcome: Codable, Sendable {
    public var input: String
    public var revocation: RevocationRecord?
    public var problems: [Problem]?

    public init(input: String, revocation: RevocationRecord? = nil, problems: [Problem]? = nil) {
        self.input = input
        self.revocation = revocation
        self.problems = problems
    }
}

/// `permit report`: each department's load and speed, and how long firms waited for permits.
public struct DepartmentReport: Codable, Sendable {
    public var department: String
    /// Applications routed to the department (since the report's start).
    public var received: Int
    public var approved: Int
    public var rejected: Int
    /// Still pending, and of those, past their review deadline.
    public var pending: Int
    public var overdue: Int
    /// Closed without this department's decision (cancelled, rejected elsewhere, blacklisted).
    public var closedUndecided: Int
    /// Seconds from submission to this department's decision.
    public var medianDecisionSeconds: Double?
    public var p90DecisionSeconds: Double?

    public init(department: String, received: Int, approved: Int, rejected: Int, pending: Int, overdue: Int, closedUndecided: Int, medianDecisionSeconds: Double? = nil, p90DecisionSeconds: Double? = nil) {
        self.department = department
        self.received = received
        self.approved = approved
        self.rejected = rejected
        self.pending = pending
        self.overdue = overdue
        self.closedUndecided = closedUndecided
        self.medianDecisionSeconds = medianDecisionSeconds
        self.p90DecisionSeconds = p90DecisionSeconds
    }
}

public struct ActivityReport: Codable, Sendable {
    public struct Bucket: Codable, Sendable {
        public var label: String
        /// Upper bound in seconds (exclusive); nil for the last bucket.
        public var upToSeconds: Double?
        public var count: Int

        public init(label: String, upToSeconds: Double? = nil, count: Int) {
            self.label = label
            self.upToSeconds = upToSeconds
            self.count = count
        }
    }
    public var since: String?
    public var generatedAt: String
    public var applications: Int
    public var permits: Int
    public var departments: [DepartmentReport]
    /// Seconds from submission to permit.
    public var medianApplicationToPermitSeconds: Double?
    public var p90ApplicationToPermitSeconds: Double?
    public var applicationToPermit: [Bucket]

    public init(since: String? = nil, generatedAt: String, applications: Int, permits: Int, departments: [DepartmentReport], medianApplicationToPermitSeconds: Double? = nil, p90ApplicationToPermitSeconds: Double? = nil, applicationToPermit: [Bucket]) {
        self.since = since
        self.generatedAt = generatedAt
        self.applications = applications
        self.permits = permits
        self.departments = departments
        self.medianApplicationToPermitSeconds = medianApplicationToPermitSeconds
        self.p90ApplicationToPermitSeconds = p90ApplicationToPermitSeconds
        self.applicationToPermit = applicationToPermit
    }
}

/// What `permit init` made.
public struct InitResult: Codable, Sendable {
    public var dataDirectory: String
    public var database: String
    public var issuerKey: String
    public var adminKey: String
    public var rootKey: String
    public var trustList: String

    public init(dataDirectory: String, database: String, issuerKey: String, adminKey: String, rootKey: String, trustList: String) {
        self.dataDirectory = dataDirectory
        self.database = database
        self.issuerKey = issuerKey
        self.adminKey = adminKey
        self.rootKey = rootKey
        self.trustList = trustList
    }
}

/// What a rotation did.
public struct KeyRotation: Codable, Sendable {
    public var retiredKid: String
    public var retiredAt: String
    public var newKid: String
    public var alg: String
    public var trustList: String

    public init(retiredKid: String, retiredAt: String, newKid: String, alg: String, trustList: String) {
        self.retiredKid = retiredKid
        self.retiredAt = retiredAt
        self.newKid = newKid
        self.alg = alg
        self.trustList = trustList
    }
}

public struct ApplicationHistory: Codable, Sendable {
    public var application: ApplicationRecord
    public var document: Application
    public var routing: RoutingDecision
    public var required: [RequiredDepartmentRecord]
    public var decisions: [DecisionRecord]
    public var permit: PermitRecord?
    public var events: [AuditEvent]
    /// The permit's revocation (by an admin, a blacklisting or a supersession), if any.
    public var revocation: RevocationRecord?
    /// active, expired, revoked or superseded, by the clock; nil before issuance.
    public var permitState: LifecycleState?

    public init(application: ApplicationRecord, document: Application, routing: RoutingDecision, required: [RequiredDepartmentRecord], decisions: [DecisionRecord], permit: PermitRecord? = nil, events: [AuditEvent], revocation: RevocationRecord? = nil, permitState: LifecycleState? = nil) {
        self.application = application
        self.document = document
        self.routing = routing
        self.required = required
        self.decisions = decisions
        self.permit = permit
        self.events = events
        self.revocation = revocation
        self.permitState = permitState
    }
}

/// What `permit authority add` made: the new authority's directory, database, keys, and the
/// deployment's root key and re-signed trust list.
public struct AuthorityAddResult: Codable, Sendable {
    public var authority: String
    public var name: String
    public var dataDirectory: String
    public var database: String
    public var issuerKey: String
    public var adminKey: String
    public var rootKey: String
    public var trustList: String

    public init(authority: String, name: String, dataDirectory: String, database: String, issuerKey: String, adminKey: String,
                rootKey: String, trustList: String) {
        self.authority = authority
        self.name = name
        self.dataDirectory = dataDirectory
        self.database = database
        self.issuerKey = issuerKey
        self.adminKey = adminKey
        self.rootKey = rootKey
        self.trustList = trustList
    }
}

/// One authority of a deployment, as `permit authority list` shows it.
public struct DeploymentAuthority: Codable, Sendable {
    public var code: String
    public var name: String
    public var nameEn: String
    public var phone: String
    public var maxDays: Int
    public var createdAt: Date
    /// The authority's own files: the deployment's top directory for the first authority, `authorities/CODE/` for the others.
    public var dataDirectory: String
    /// The SQLite file's path, or the database URL (password hidden) and the authority's schema.
    public var database: String
    /// The kid of the issuer key the store publishes as current.
    public var issuerKid: String?

    public init(code: String, name: String, nameEn: String, phone: String, maxDays: Int, createdAt: Date, dataDirectory: String,
                database: String, issuerKid: String?) {
        self.code = code
        self.name = name
        self.nameEn = nameEn
        self.phone = phone
        self.maxDays = maxDays
        self.createdAt = createdAt
        self.dataDirectory = dataDirectory
        self.database = database
        self.issuerKid = issuerKid
    }
}
