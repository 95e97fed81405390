import Foundation
import PermitModel
import PermitSeal

/// Every operation of the permit workflow, as the CLI performs it: the one seam between the
/// interfaces (the command line, later an HTTP server and client) and the workflow.
///
/// Whoever changes state proves who they are by a request signed on their own machine
/// (`PartySigner`): a service never receives a party's private key. Implementations: the local
/// one (`LocalPermitService`, the workflow on the embedded store in this process); an HTTP client
/// implements the same protocol over the network.
public protocol PermitService: Sendable {
    /// The authority this service acts for.
    func authority() async throws -> AuthorityRecord

    // MARK: firms
    /// Submits signed applications; one result per item, in order (`Workflow.apply`).
    func apply(_ items: [SubmissionItem], dryRun: Bool, progress: (@Sendable (Int) -> Void)?) async throws -> [ApplyResult]
    /// Files a signed amendment of an issued permit.
    func amend(number: String, application: Application, submission: Data) async throws -> AmendResult
    /// Cancels a pending application on the firm's signed request.
    func cancel(_ request: Data) async throws -> ApplicationRecord

    // MARK: approvers
    /// Refuses a kid that is not an active approver of `department`.
    func requireApprover(_ department: Department, kid: String) async throws
    /// The digests an approver signs, for each identifier.
    func decisionTargets(_ identifiers: [String]) async throws -> [DecisionTarget]
    /// Records signed decisions; the completing one issues the permit in its transaction.
    func decide(department: Department, items: [DecisionItem], progress: (@Sendable (Int) -> Void)?) async throws -> [DecisionResult]

    // MARK: reading
    /// A page of applications, oldest first.
    func applications(_ query: ApplicationQuery) async throws -> Page<ApplicationRecord>
    /// Everything recorded about one application (ID or permit number).
    func history(_ identifier: String) async throws -> ApplicationHistory
    /// A page of a department's pending work, oldest first.
    func queue(_ query: QueueQuery) async throws -> Page<QueueEntry>
    /// The issued permit of an application or permit number; `export.notIssued` when it has none.
    func issuedPermit(_ identifier: String) async throws -> PermitRecord
    /// Every issued permit, issued on or after `since` (a day in China time) when given.
    func issuedPermits(since: CalendarDay?) async throws -> [PermitRecord]
    func report(since: CalendarDay?) async throws -> ActivityReport
    /// The permits issued and the pending applications per department, as `/metrics` reads them
    /// at every scrape: counted by the store, not a report over every application.
    func liveCounts() async throws -> LiveCounts

    // MARK: administration (each change is a request signed by the admin key)
    func register(_ request: Data) async throws -> PartyKeyRecord
    func unregister(_ request: Data) async throws -> PartyKeyRecord
    func registered(_ kind: PartyKeyRecord.Kind, includeRemoved: Bool) async throws -> [PartyKeyRecord]
    func revoke(_ request: Data) async throws -> [RevokeOutcome]
    func revocations() async throws -> [RevocationRecord]
    /// Signs the next revocation list with the issuer key; its sequence is above `above`.
    func exportRevocations(validForDays: Int, above: Int) async throws -> SignedDocument<RevocationList>
    func blacklistAdd(_ request: Data) async throws -> BlacklistAddResult
    func blacklistRemove(_ request: Data) async throws -> BlacklistRecord
    func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord]
    /// Rotates the issuer key and re-publishes the trust list, signed by `root`; nil: the root key
    /// the service holds (the data directory's `root-key.pem`, on the server's machine over HTTP).
    func rotateIssuerKey(_ request: Data, root: (any MessageSigner)?) async throws -> KeyRotation
    /// The authority's trust list signed by `root`.
    func trustList(root: any MessageSigner, validForDays: Int) async throws -> SignedDocument<TrustList>

    // MARK: audit
    /// A page of the audit trail, in order (optionally about one subject).
    func auditLog(_ query: AuditLogQuery) async throws -> Page<AuditEvent>
    func verifyAudit(_ options: AuditOptions) async throws -> AuditVerification
    func auditCheckpoint() async throws -> SignedDocument<AuditCheckpoint>
}

/// A capability of services whose store can be copied while it runs (the embedded SQLite store).
public protocol BackupCapable: PermitService {
    /// A consistent copy of the live database at `path`; refuses an existing file.
    func backup(to path: String) async throws
}

/// A document and the COSE_Sign1 bytes that sign it.
public struct SignedDocument<Document: Sendable>: Sendable {
    public var document: Document
    public var bytes: [UInt8]
    public init(document: Document, bytes: [UInt8]) {
        self.document = document
        self.bytes = bytes
    }
}

/// What `audit verify` holds the database to: checkpoints kept elsewhere, and the trust list and
/// root (the data directory's when nil).
public struct AuditOptions: Sendable {
    public var checkpointFiles: [URL]
    public var trustList: URL?
    public var root: URL?
    /// Verify incrementally from the latest stored checkpoint (`audit verify --since-checkpoint`;
    /// on this machine's store only, not over HTTP).
    public var sinceCheckpoint: Bool
    public init(checkpointFiles: [URL] = [], trustList: URL? = nil, root: URL? = nil, sinceCheckpoint: Bool = false) {
        self.checkpointFiles = checkpointFiles
        self.trustList = trustList
        self.root = root
        self.sinceCheckpoint = sinceCheckpoint
    }
}

// MARK: paging

/// A page of a listing and where the next one starts (nil on the last page).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    /// Opaque: give it back as `after` for the next page.
    public var next: String?
    public init(items: [Item], next: String?) {
        self.items = items
        self.next = next
    }
}

/// Listing cursors: opaque to callers, a row position underneath.
public enum PageCursor {
    public static let defaultLimit = 50
    public static let maxLimit = 1000

    public static func make(after rowID: Int64) -> String {
        Data("r\(rowID)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// The row after which a page starts.
    public static func rowID(_ cursor: String) throws(RequestError) -> Int64 {
        var text = cursor
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text), let s = String(data: data, encoding: .utf8), s.first == "r",
              let id = Int64(s.dropFirst()), id >= 0 else {
            throw RequestError("page.cursor", "--after \(cursor) is not a cursor this listing gave", field: "after", value: cursor,
                               rule: "the cursor printed with the previous page")
        }
        return id
    }

    public static func checkLimit(_ limit: Int) throws(RequestError) {
        guard (1...maxLimit).contains(limit) else {
            throw RequestError("page.limit", "--limit \(limit) is outside 1…\(maxLimit)", field: "limit", value: "\(limit)",
                               rule: "1 to \(maxLimit) rows a page")
        }
    }
}

/// Which applications to list.
public struct ApplicationQuery: Sendable {
    public var state: LifecycleState?
    public var creditCode: String?
    public var plate: String?
    /// Only applications routed to this department (what an approver sees over the server).
    public var department: Department?
    public var limit: Int
    public var after: String?
    public init(state: LifecycleState? = nil, creditCode: String? = nil, plate: String? = nil, department: Department? = nil,
                limit: Int = PageCursor.defaultLimit, after: String? = nil) {
        self.state = state
        self.creditCode = creditCode
        self.plate = plate
        self.department = department
        self.limit = limit
        self.after = after
    }
}

/// Which pending work of a department to list.
public struct QueueQuery: Sendable {
    public var department: Department
    public var overdue: Bool
    public var limit: Int
    public var after: String?
    public init(department: Department, overdue: Bool = false, limit: Int = PageCursor.defaultLimit, after: String? = nil) {
        self.department = department
        self.overdue = overdue
        self.limit = limit
        self.after = after
    }
}

/// Which audit events to list.
public struct AuditLogQuery: Sendable {
    public var subject: String?
    public var limit: Int
    public var after: String?
    public init(subject: String? = nil, limit: Int = PageCursor.defaultLimit, after: String? = nil) {
        self.subject = subject
        self.limit = limit
        self.after = after
    }
}

/// One application waiting for a department.
public struct QueueEntry: Codable, Sendable {
    public var application: ApplicationRecord
    public var required: RequiredDepartmentRecord
    public init(application: ApplicationRecord, required: RequiredDepartmentRecord) {
        self.application = application
        self.required = required
    }
}

extension Page: Codable where Item: Codable {}

/// One authority a deployment hosts, as `permit serve` routes to it: its code, its service and
/// its data directory (where its revocation list is published).
public struct HostedAuthority: Sendable {
    public let code: String
    public let service: any PermitService & RequestGate
    public let directory: DataDirectory

    public init(code: String, service: any PermitService & RequestGate, directory: DataDirectory) {
        self.code = code
        self.service = service
        self.directory = directory
    }
}

/// What `/metrics` reads of an authority at scrape time (`PermitService.liveCounts`).
public struct LiveCounts: Sendable, Equatable {
    public struct Pending: Sendable, Equatable {
        public var department: String
        public var count: Int
        public init(department: String, count: Int) {
            self.department = department
            self.count = count
        }
    }
    public var permitsIssued: Int
    /// Pending applications per department, every department in `Department.allCases` order.
    public var pending: [Pending]

    public init(permitsIssued: Int, pending: [Pending]) {
        self.permitsIssued = permitsIssued
        self.pending = pending
    }
}

extension PermitService {
    /// From the report over everything, for a service with nothing cheaper (the HTTP client).
    public func liveCounts() async throws -> LiveCounts {
        let report = try await report(since: nil)
        return LiveCounts(permitsIssued: report.permits, pending: report.departments.map { .init(department: $0.department, count: $0.pending) })
    }
}

/// Where a running server finds the authorities added to its deployment since it started
/// (`permit authority add` while it runs): it hosts each from the first request that names it,
/// or from the first listing of the hosted authorities.
public protocol AddedAuthorities: Sendable {
    /// Every authority's code the deployment holds now.
    func currentCodes() -> [String]
    /// The authority `code` names, opened; nil when the deployment holds none under that code.
    func open(code: String) async throws -> HostedAuthority?
}
