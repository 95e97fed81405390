import Foundation
import PermitModel
import PermitAPI

/// The store behind the workflow. The workflow runs every request inside `write`, so that all
/// its state changes commit together or not at all. The SQLite implementation is
/// `SQLitePermitStore`; a server-grade database takes its place by implementing these protocols.
///
/// The methods are async, so that a store reached over the network suspends its caller instead of
/// holding a thread. Inside a SQLite transaction the body stays synchronous and runs on the
/// calling thread (SQLite runs one writer, and GRDB's transactions take a synchronous closure).
///
/// **Counters and the audit chain.** `nextSerial`, `nextSequence` and `appendAudit` read and then
/// write. Each implementation must serialise them per authority inside the caller's
/// transaction, so that serials stay gap-free and the audit chain linear however many writers
/// there are: SQLite does so by running one write transaction at a time; a database with
/// concurrent writers takes a row lock on the counter (or the chain's head) first.
public protocol PermitStore: Sendable {
    /// Runs `body` in one write transaction; a thrown error rolls everything back.
    func write<T>(_ body: (any StoreTransaction) throws -> T) async throws -> T
    /// `write`, for a body that goes on to read what `readAhead` names (the applications of a
    /// group of decisions, one after the other; the references of an apply group): a store that
    /// several writers share may read it before the body runs, for several writers' bodies in one
    /// wait, with their required departments and decisions. Other stores ignore it.
    func write<T>(readAhead: ReadAhead, _ body: (any StoreTransaction) throws -> T) async throws -> T
    /// Runs `body` against a consistent snapshot.
    func read<T>(_ body: (any StoreReader) throws -> T) async throws -> T
    /// `StoreTransaction.admitNonce` on its own, as a transaction of its own: a store may do it
    /// more cheaply than `write` would.
    func admitNonce(_ nonce: String, kid: String, expires: Date, now: Date) async throws -> Bool
    /// Reads a server makes for nearly every request, each one statement, on their own: a store
    /// may answer them more cheaply than `read` would. What they return is what the
    /// `StoreReader` methods of the same names return.
    func requestSigners(kid: String) async throws -> (admin: KeyRecord?, parties: [PartyKeyRecord])
    func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) async throws -> [(ApplicationRecord, RequiredDepartmentRecord)]
    func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord]
}

/// What a write transaction's body reads before anything else: the applications a group of
/// decisions names, the references an apply group looks up.
public struct ReadAhead: Sendable {
    public var applications: [String]
    public var references: [(creditCode: String, reference: String)]

    public init(applications: [String] = [], references: [(creditCode: String, reference: String)] = []) {
        self.applications = applications
        self.references = references
    }
}

extension PermitStore {
    public func write<T>(readAhead: ReadAhead, _ body: (any StoreTransaction) throws -> T) async throws -> T {
        try await write(body)
    }

    public func admitNonce(_ nonce: String, kid: String, expires: Date, now: Date) async throws -> Bool {
        try await write { try $0.admitNonce(nonce, kid: kid, expires: expires, now: now) }
    }

    public func requestSigners(kid: String) async throws -> (admin: KeyRecord?, parties: [PartyKeyRecord]) {
        try await read { try $0.requestSigners(kid: kid) }
    }

    public func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) async throws -> [(ApplicationRecord, RequiredDepartmentRecord)] {
        try await read { try $0.queue(department: department, dueBefore: dueBefore, afterID: afterID, limit: limit) }
    }

    public func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord] {
        try await read { try $0.blacklist(includeRemoved: includeRemoved) }
    }
}

/// Reads, inside a snapshot or a write transaction.
public protocol StoreReader {
    func authority() throws -> AuthorityRecord?
    func keys(role: KeyRecord.Role?) throws -> [KeyRecord]
    func partyKeys(kind: PartyKeyRecord.Kind, includeRemoved: Bool) throws -> [PartyKeyRecord]
    /// The active (not removed) registered key with this kid.
    func activePartyKey(kind: PartyKeyRecord.Kind, kid: String) throws -> PartyKeyRecord?
    func partyKey(id: Int64) throws -> PartyKeyRecord?
    func application(id: Int64) throws -> ApplicationRecord?
    func application(creditCode: String, reference: String) throws -> ApplicationRecord?
    func application(permitNumber: String) throws -> ApplicationRecord?
    func applications(_ filter: ApplicationFilter) throws -> [ApplicationRecord]
    /// The applications that amend the permit `permitNumber`, oldest first (the other way of the `amends` link).
    func amendments(permitNumber: String) throws -> [ApplicationRecord]
    func decision(id: Int64) throws -> DecisionRecord?
    func requiredDepartments(applicationID: Int64) throws -> [RequiredDepartmentRecord]
    /// Pending applications awaiting `department`, oldest first.
    func queue(department: String, dueBefore: Date?, afterID: Int64?, limit: Int?) throws -> [(ApplicationRecord, RequiredDepartmentRecord)]
    func decisions(applicationID: Int64) throws -> [DecisionRecord]
    func permit(number: String) throws -> PermitRecord?
    func permit(applicationID: Int64) throws -> PermitRecord?
    /// Permits in (authority, serial) order; with `submittedSince`, only those of applications
    /// submitted at or after it (see `ApplicationFilter.submittedSince`).
    func permits(limit: Int?, submittedSince: Date?) throws -> [PermitRecord]
    /// How many permits the store holds, and per department how many pending applications
    /// await it (its slot pending, the application pending): two counts, for `/metrics`.
    func liveCounts() throws -> (permits: Int, pending: [String: Int])
    func auditEvents(subject: String?) throws -> [AuditEvent]
    func lastAuditEvent() throws -> AuditEvent?
    /// A page of events after `afterSeq`, in order (optionally about one subject).
    func auditEvents(subject: String?, afterSeq: Int64, limit: Int) throws -> [AuditEvent]
    /// Every decision, in id order (for audits); with `submittedSince`, only the decisions on
    /// applications submitted at or after it (for the report since a day).
    func allDecisions(submittedSince: Date?) throws -> [DecisionRecord]
    /// Every required-department row, in (application, department) order (for reports); with
    /// `submittedSince`, only those of applications submitted at or after it.
    func allRequiredDepartments(submittedSince: Date?) throws -> [RequiredDepartmentRecord]
    func revocation(number: String) throws -> RevocationRecord?
    /// Every revocation with its permit's signature hash, oldest first.
    func revocations() throws -> [RevocationRecord]
    func blacklist(includeRemoved: Bool) throws -> [BlacklistRecord]
    func auditCheckpoints() throws -> [AuditCheckpointRecord]
    /// Every signed request kept, in the order received.
    func signedRequests() throws -> [SignedRequestRecord]
    func signedRequest(nonce: String) throws -> SignedRequestRecord?
    /// The keys with this kid that may sign a request: the authority's admin key if it is the
    /// current one (its `notAfter` unset), and the active party keys, applicants' before approvers'.
    func requestSigners(kid: String) throws -> (admin: KeyRecord?, parties: [PartyKeyRecord])
}

/// Writes, inside one transaction.
public protocol StoreTransaction: StoreReader {
    /// Runs `body` in a savepoint: a thrown error undoes only what `body` wrote.
    func savepoint<T>(_ body: () throws -> T) throws -> T
    func setAuthority(_ authority: AuthorityRecord) throws
    func insertKey(_ key: KeyRecord) throws
    /// Ends a key's signing window (rotation): its `notAfter` becomes `at`.
    func retireKey(kid: String, role: KeyRecord.Role, at: Date) throws
    func insertPartyKey(_ key: PartyKeyRecord) throws -> PartyKeyRecord
    func removePartyKey(id: Int64, at: Date, reason: String) throws
    func insertApplication(_ application: ApplicationRecord) throws -> ApplicationRecord
    func updateApplication(_ application: ApplicationRecord) throws
    func insertRequiredDepartment(_ record: RequiredDepartmentRecord) throws
    func updateRequiredDepartment(_ record: RequiredDepartmentRecord) throws
    func insertDecision(_ decision: DecisionRecord) throws -> DecisionRecord
    func insertPermit(_ permit: PermitRecord) throws
    /// The next serial of `authority`, with no gaps; throws `StoreError.serialsExhausted` past 999999.
    func nextSerial(authority: String) throws -> Int
    /// Remembers an HTTP request signature's nonce until `expires`, forgetting those expired
    /// before `now`; false when the nonce is already remembered (a replay).
    func admitNonce(_ nonce: String, kid: String, expires: Date, now: Date) throws -> Bool
    func insertRevocation(_ revocation: RevocationRecord) throws
    /// Links a superseded permit and its successor both ways.
    func linkSupersession(old: String, new: String) throws
    func insertBlacklist(_ entry: BlacklistRecord) throws -> BlacklistRecord
    func removeBlacklist(id: Int64, at: Date, reason: String) throws
    /// The next value of a named, strictly increasing counter (revocation-list sequence): one
    /// more than the last, and at least `atLeast` (so a restored database never reuses a number).
    func nextSequence(name: String, atLeast: Int) throws -> Int
    func insertAuditCheckpoint(_ checkpoint: AuditCheckpointRecord) throws -> AuditCheckpointRecord
    /// Keeps a signed request; its nonce must be new.
    func insertSignedRequest(_ request: SignedRequestRecord) throws -> SignedRequestRecord
    /// Stores one event exactly as given; `appendAudit` computes it.
    func insertAuditEvent(_ event: AuditEvent) throws
}

extension StoreReader {
    public func requestSigners(kid: String) throws -> (admin: KeyRecord?, parties: [PartyKeyRecord]) {
        let admin = try keys(role: .admin).first { $0.kid == kid && $0.notAfter == nil }
        let parties = try [PartyKeyRecord.Kind.applicant, .approver].compactMap { try activePartyKey(kind: $0, kid: kid) }
        return (admin, parties)
    }

    public func permits(limit: Int?) throws -> [PermitRecord] { try permits(limit: limit, submittedSince: nil) }
    /// Every decision, in id order.
    public func allDecisions() throws -> [DecisionRecord] { try allDecisions(submittedSince: nil) }
    /// Every required-department row.
    public func allRequiredDepartments() throws -> [RequiredDepartmentRecord] { try allRequiredDepartments(submittedSince: nil) }
}

extension StoreTransaction {

    /// Appends an event to the hash chain and returns it. The chain is computed here, once for
    /// every backend: the next sequence number and the link to the last event's hash.
    @discardableResult
    public func appendAudit(at: Date, actor: String, action: String, subject: String, content: Data) throws -> AuditEvent {
        let last = try lastAuditEvent()
        let event = AuditChain.event(after: last, at: at, actor: actor, action: action, subject: subject, content: content)
        try insertAuditEvent(event)
        return event
    }
}

/// A store that can copy itself while it runs (SQLite's online backup). A server database is
/// backed up with its own tools instead.
public protocol StoreBackup {
    /// A consistent copy of the live database at `path`.
    func backup(to path: String) throws
}

/// Store failures with stable codes: `store.full` (the disk is full), `store.busy` (the database
/// stayed locked), `store.constraint` (a row broke a rule of the schema), `store.io` (anything
/// else the database reported), and the serial series' end.
public struct StoreError: Error, Sendable, CustomStringConvertible, ProblemConvertible {
    public enum Code: String, Sendable {
        case serialsExhausted, notInitialised, io, constraint
        case full, busy
    }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
    public var description: String { detail }
    public var problems: [Problem] {
        let rule: String
        switch code {
        case .full: rule = "free space on the disk that holds the database; nothing was written"
        case .busy: rule = "the database must not stay locked by another process"
        case .constraint: rule = "the schema's constraints"
        case .serialsExhausted: rule = "serials 1 to 999999 per authority"
        case .notInitialised, .io: rule = "a readable, writable database"
        }
        return [Problem(code: "store.\(code.rawValue)", message: detail, rule: rule)]
    }
}
