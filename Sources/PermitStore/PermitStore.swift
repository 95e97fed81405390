import Foundation
import PermitAPI

/// The store behind the workflow. The workflow runs every request inside `write`, so that all
/// its state changes commit together or not at all. The SQLite implementation is
/// `SQLitePermitStore`; a server-grade database can take its place by implementing these two
/// protocols.
public protocol PermitStore: Sendable {
    /// Runs `body` in one write transaction; a thrown error rolls everything back.
    func write<T>(_ body: (any StoreTransaction) throws -> T) throws -> T
    /// Runs `body` against a consistent snapshot.
    func read<T>(_ body: (any StoreReader) throws -> T) throws -> T
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
    func permits(limit: Int?) throws -> [PermitRecord]
    func auditEvents(subject: String?) throws -> [AuditEvent]
    func lastAuditEvent() throws -> AuditEvent?
    /// Every decision, in id order (for audits).
    func allDecisions() throws -> [DecisionRecord]
    /// Every required-department row (for reports).
    func allRequiredDepartments() throws -> [RequiredDepartmentRecord]
    func revocation(number: String) throws -> RevocationRecord?
    /// Every revocation with its permit's signature hash, oldest first.
    func revocations() throws -> [RevocationRecord]
    func blacklist(includeRemoved: Bool) throws -> [BlacklistRecord]
    func auditCheckpoints() throws -> [AuditCheckpointRecord]
    /// Every signed request kept, in the order received.
    func signedRequests() throws -> [SignedRequestRecord]
    func signedRequest(nonce: String) throws -> SignedRequestRecord?
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
    /// Appends an event to the hash chain and returns it.
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
    @discardableResult
    func appendAudit(at: Date, actor: String, action: String, subject: String, content: Data) throws -> AuditEvent
}

/// A store that can copy itself while it runs (SQLite's online backup). A server database is
/// backed up with its own tools instead.
public protocol StoreBackup {
    /// A consistent copy of the live database at `path`.
    func backup(to path: String) throws
}

/// Store failures with stable codes.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable { case serialsExhausted, notInitialised, io, constraint }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
    public var description: String { detail }
}
