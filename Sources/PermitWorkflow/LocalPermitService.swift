import Foundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore

/// `PermitService` on the workflow and the embedded store, in this process: what the CLI uses
/// without `--server`. It holds no party's key; every change arrives signed.
public struct LocalPermitService: PermitService, BackupCapable {
    public let workflow: Workflow

    public init(workflow: Workflow) { self.workflow = workflow }

    /// Opens an initialised data directory.
    public init(directory: DataDirectory, clock: any PermitClock) async throws {
        workflow = try await Workflow(directory: directory, clock: clock)
    }

    /// Opens an initialised data directory whose store is the database `database` names (a
    /// `postgres://` URL), or its SQLite file when `database` is nil.
    public init(directory: DataDirectory, clock: any PermitClock, database: String?) async throws {
        workflow = try await Workflow(directory: directory, clock: clock, database: database)
    }

    public func authority() async throws -> AuthorityRecord { workflow.authority }

    public func apply(_ items: [SubmissionItem], dryRun: Bool, progress: (@Sendable (Int) -> Void)?) async throws -> [ApplyResult] {
        try await workflow.apply(items, dryRun: dryRun, progress: progress)
    }

    public func amend(number: String, application: Application, submission: Data) async throws -> AmendResult {
        try await workflow.amend(number: number, application: application, submission: Array(submission))
    }

    public func cancel(_ request: Data) async throws -> ApplicationRecord { try await workflow.cancel(Array(request)) }

    public func requireApprover(_ department: Department, kid: String) async throws {
        try await workflow.requireApprover(department, kid: kid)
    }

    public func decisionTargets(_ identifiers: [String]) async throws -> [DecisionTarget] { try await workflow.decisionTargets(identifiers) }

    public func decide(department: Department, items: [DecisionItem], progress: (@Sendable (Int) -> Void)?) async throws -> [DecisionResult] {
        try await workflow.decide(department: department, items: items, progress: progress)
    }

    public func applications(_ query: ApplicationQuery) async throws -> Page<ApplicationRecord> { try await workflow.applications(query) }

    public func history(_ identifier: String) async throws -> ApplicationHistory { try await workflow.history(identifier) }

    public func queue(_ query: QueueQuery) async throws -> Page<QueueEntry> { try await workflow.queue(query) }

    public func issuedPermit(_ identifier: String) async throws -> PermitRecord { try await workflow.issuedPermit(identifier) }

    public func issuedPermits(since: CalendarDay?) async throws -> [PermitRecord] { try await workflow.issuedPermits(since: since) }

    public func report(since: CalendarDay?) async throws -> ActivityReport { try await workflow.report(since: since) }
    public func liveCounts() async throws -> LiveCounts { try await workflow.liveCounts() }

    public func register(_ request: Data) async throws -> PartyKeyRecord { try await workflow.register(Array(request)) }

    public func unregister(_ request: Data) async throws -> PartyKeyRecord { try await workflow.unregister(Array(request)) }

    public func registered(_ kind: PartyKeyRecord.Kind, includeRemoved: Bool) async throws -> [PartyKeyRecord] {
        try await workflow.registered(kind, includeRemoved: includeRemoved)
    }

    public func revoke(_ request: Data) async throws -> [RevokeOutcome] { try await workflow.revoke(Array(request)) }

    public func revocations() async throws -> [RevocationRecord] { try await workflow.revocations() }

    public func exportRevocations(validForDays: Int, above: Int) async throws -> SignedDocument<RevocationList> {
        try await workflow.signRevocations(validForDays: validForDays, above: above)
    }

    public func blacklistAdd(_ request: Data) async throws -> BlacklistAddResult { try await workflow.blacklistAdd(Array(request)) }

    public func blacklistRemove(_ request: Data) async throws -> BlacklistRecord { try await workflow.blacklistRemove(Array(request)) }

    public func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord] { try await workflow.blacklist(includeRemoved: includeRemoved) }

    public func rotateIssuerKey(_ request: Data, root: (any MessageSigner)?) async throws -> KeyRotation {
        let signer: any MessageSigner
        if let root {
            signer = root
        } else {
            let path = workflow.directory.rootKey.path
            do { signer = try PrivateKey.load(path: path) } catch {
                throw WorkflowError("keys.rootUnreadable", "the root key \(path) cannot be read: \(error)", field: "rootKey", value: path,
                                    rule: "the deployment's root key, held where the service runs")
            }
        }
        return try await workflow.rotateIssuerKey(Array(request), root: signer)
    }

    public func trustList(root: any MessageSigner, validForDays: Int) async throws -> SignedDocument<TrustList> {
        try await workflow.signTrustList(root: root, validForDays: validForDays)
    }

    public func auditLog(_ query: AuditLogQuery) async throws -> Page<AuditEvent> {
        try PageCursor.checkLimit(query.limit)
        let after = try query.after.map { try PageCursor.rowID($0) } ?? 0
        let (subject, limit) = (query.subject, query.limit)
        let rows = try await workflow.store.read { try $0.auditEvents(subject: subject, afterSeq: after, limit: limit + 1) }
        let items = Array(rows.prefix(limit))
        return Page(items: items, next: rows.count > limit ? items.last.map { PageCursor.make(after: $0.seq) } : nil)
    }

    public func verifyAudit(_ options: AuditOptions) async throws -> AuditVerification {
        if options.sinceCheckpoint { return try await workflow.verifyAuditSinceCheckpoint(trustList: options.trustList, root: options.root) }
        return try await workflow.verifyAudit(checkpointFiles: options.checkpointFiles, trustList: options.trustList, root: options.root)
    }

    public func auditCheckpoint() async throws -> SignedDocument<AuditCheckpoint> {
        let (checkpoint, bytes) = try await workflow.auditCheckpoint()
        return SignedDocument(document: checkpoint, bytes: bytes)
    }

    public func backup(to path: String) async throws { try workflow.backup(to: URL(fileURLWithPath: path)) }
}

extension Workflow {
    /// A page of applications, oldest first: keyset paging on the row id, so a page costs the
    /// same however deep it is. The lifecycle states narrowed by the clock (active, expired,
    /// revoked, superseded) are a condition on the permit and revocation rows in the same query.
    public func applications(_ query: ApplicationQuery) async throws -> Page<ApplicationRecord> {
        try PageCursor.checkLimit(query.limit)
        let after = try query.after.map { try PageCursor.rowID($0) }
        var filter = ApplicationFilter(creditCode: query.creditCode, plate: query.plate, afterID: after)
        filter.department = query.department?.rawValue
        let state = query.state
        switch state {
        case nil: break
        case .pending?: filter.states = [.pending]
        case .rejected?: filter.states = [.rejected]
        case .cancelled?: filter.states = [.cancelled]
        case .issued?, .active?, .expired?, .revoked?, .superseded?: filter.states = [.issued]
        }
        if let state, [.active, .expired, .revoked, .superseded].contains(state) {
            filter.permitState = (state, CalendarDay.inChina(at: clock.now()).description)
        }
        filter.limit = query.limit + 1
        let rows = try await list(filter)
        let items = Array(rows.prefix(query.limit))
        return Page(items: items, next: rows.count > query.limit ? items.last?.id.map(PageCursor.make) : nil)
    }

    /// A page of a department's pending work, oldest first.
    public func queue(_ query: QueueQuery) async throws -> Page<QueueEntry> {
        try PageCursor.checkLimit(query.limit)
        let after = try query.after.map { try PageCursor.rowID($0) }
        let rows = try await queue(department: query.department, overdue: query.overdue, afterID: after, limit: query.limit + 1)
        let items = rows.prefix(query.limit).map { QueueEntry(application: $0.0, required: $0.1) }
        return Page(items: items, next: rows.count > query.limit ? items.last?.application.id.map(PageCursor.make) : nil)
    }

    /// The issued permit of an application ID or permit number.
    public func issuedPermit(_ identifier: String) async throws -> PermitRecord {
        let app = try await resolve(identifier)
        guard let permit = try await store.read({ try $0.permit(applicationID: app.id!) }) else {
            throw WorkflowError("export.notIssued", "\(app.publicID) is \(app.state.rawValue); only an issued permit can be exported",
                                field: "id", value: identifier, rule: "the application must have an issued permit")
        }
        return permit
    }

    /// Every issued permit, issued on or after `since` (a day in China time) when given.
    public func issuedPermits(since: CalendarDay?) async throws -> [PermitRecord] {
        let permits = try await store.read { try $0.permits(limit: nil) }
        guard let since else { return permits }
        return permits.filter { CalendarDay.inChina(at: $0.issuedAt) >= since }
    }
}

extension LocalPermitService: RequestGate {
    public func caller(kid: String) async throws -> RegisteredCaller? {
        let signers = try await workflow.store.requestSigners(kid: kid)
        if let admin = signers.admin, let key = try? PublicKey(spki: Array(admin.spki)) {
            return RegisteredCaller(kid: kid, key: key, caller: .admin)
        }
        for record in signers.parties {
            guard let key = try? PublicKey(spki: Array(record.spki)) else { continue }
            switch record.kind {
            case .applicant: return RegisteredCaller(kid: kid, key: key, caller: .firm(creditCode: record.party), record: record)
            case .approver:
                guard let department = Department(rawValue: record.party) else { return nil }
                return RegisteredCaller(kid: kid, key: key, caller: .approver(department), record: record)
            }
        }
        return nil
    }

    public func admitNonce(_ nonce: String, kid: String, expires: Date) async throws -> Bool {
        let now = workflow.clock.now()
        return try await workflow.store.admitNonce(nonce, kid: kid, expires: expires, now: now)
    }
}
