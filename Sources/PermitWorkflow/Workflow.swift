import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitRouting
import PermitSeal
import PermitStore
import PermitStorePostgres

/// Why a request was refused as a whole (a wrong key, an uninitialised directory…): nothing was written.
public struct WorkflowError: Error, ProblemConvertible, Sendable, CustomStringConvertible {
    public var problems: [Problem]
    public init(_ code: String, _ message: String, field: String? = nil, value: String? = nil, rule: String? = nil) {
        problems = [Problem(code: code, message: message, field: field, value: value, rule: rule)]
    }
    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

/// The application service: enterprise applies → department approves + automatic issuance.
/// Every state change of one request happens in one store transaction.
public final class Workflow: @unchecked Sendable {
    public typealias History = ApplicationHistory
    public typealias Rotation = KeyRotation
    public typealias RevokeOutcome = PermitAPI.RevokeOutcome
    public let directory: DataDirectory
    public let store: any PermitStore
    public let clock: any PermitClock
    public let authority: AuthorityRecord
    public let routing: RoutingTable
    private var sealer: PermitSealer?
    private let issuer: (any MessageSigner)?
    private let lock = NSLock()
    /// The deployment's authorities, this one among them, once a `Deployment` has opened them
    /// together (held weakly: the deployment owns them).
    private var members: [WeakWorkflow] = []

    /// Opens an initialised data directory. The issuer key seals permits; it is the data
    /// directory's `issuer-key.pem` unless `issuer` signs for it (a key held elsewhere).
    /// `store` replaces the data directory's SQLite database (a capped one in tests, or a
    /// PostgreSQL database); the keys, `root.pub.pem` and the trust list stay in the directory.
    public init(directory: DataDirectory, clock: any PermitClock = SystemClock(), issuer: (any MessageSigner)? = nil,
                store: (any PermitStore)? = nil) async throws {
        self.issuer = issuer
        guard store == nil ? directory.exists : FileManager.default.fileExists(atPath: directory.url.path) else {
            throw WorkflowError("data.notInitialised", "no permit data directory at \(directory.url.path); run `permit init` first",
                                field: "dataDirectory", value: directory.url.path, rule: "the directory must be made by permit init")
        }
        self.directory = directory
        self.clock = clock
        self.store = try store ?? SQLitePermitStore(path: directory.database.path)
        guard let authority = try await self.store.read({ try $0.authority() }) else {
            throw WorkflowError("data.notInitialised", "the database \(Workflow.describe(self.store, in: directory)) has no authority; run `permit init`")
        }
        self.authority = authority
        routing = try RoutingTable.forDataDirectory(directory.url)
    }

    /// The sealer with the issuer key whose kid is `currentKid`: the key the store publishes as
    /// current (the `key` table's issuer key without a `notAfter`), read by the caller in the
    /// transaction that seals. The sealer is kept while that kid stays current; once another
    /// process has rotated the key, the new one is loaded from `issuer-key.pem` (or from the
    /// `issuer-key.pem.new` a rotation stages before it swaps the files). A process never goes on
    /// sealing with a retired key: if the current key's file cannot be found it refuses
    /// (`keys.issuerStale`) and nothing is issued. With `currentKid` nil (no issuer row: a store
    /// older than keys), the file's key is used as before.
    func issuerSealer(currentKid: String?) throws -> PermitSealer {
        lock.lock()
        defer { lock.unlock() }
        if let sealer, currentKid == nil || sealer.signer.publicKey.kidHex == currentKid { return sealer }
        var firstError: Error?
        var loaders: [() throws -> any MessageSigner] = []
        if let issuer { loaders.append { issuer } }
        loaders.append { [directory] in try PrivateKey.load(path: directory.issuerKey.path) }
        loaders.append { [directory] in try PrivateKey.load(path: directory.file("issuer-key.pem.new").path) }
        for load in loaders {
            do {
                let signer = try load()
                guard currentKid == nil || signer.publicKey.kidHex == currentKid else { continue }
                let s = PermitSealer(signer: signer)
                sealer = s
                return s
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if currentKid == nil, let firstError { throw firstError }
        throw WorkflowError("keys.issuerStale",
                            "the current issuer key \(currentKid ?? "") of authority \(authority.code) is not in \(directory.issuerKey.path); nothing is sealed with a retired key",
                            field: "issuerKey", value: currentKid ?? "",
                            rule: "every instance reads the issuer key the database publishes as current (copy the rotated issuer-key.pem to this instance)")
    }

    /// The kid of the issuer key the store publishes as current, read in `r`'s transaction.
    static func currentIssuerKid(_ r: any StoreReader) throws -> String? {
        try r.keys(role: .issuer).last(where: { $0.notAfter == nil })?.kid
    }

    /// The sealer with the store's current issuer key (see `issuerSealer(currentKid:)`).
    func currentIssuerSealer() async throws -> PermitSealer {
        let kid = try await store.read { try Workflow.currentIssuerKid($0) }
        return try issuerSealer(currentKid: kid)
    }

    /// Opens the data directory with the store that `database` names: nil for the directory's
    /// SQLite file, or a `postgres://` URL (see `Workflow.openStore`).
    public convenience init(directory: DataDirectory, clock: any PermitClock = SystemClock(), issuer: (any MessageSigner)? = nil,
                            database: String?) async throws {
        var store: (any PermitStore)?
        if let database { store = try await Workflow.openStore(database: database) }
        try await self.init(directory: directory, clock: clock, issuer: issuer, store: store)
    }

    // MARK: set-up


    /// The checks of `init` and `authority add` on the authority's code, name, phone and validity.
    static func validateAuthority(code: String, name: String, phone: String, maxDays: Int) throws {
        var problems: [Problem] = []
        if code.count != 6 || !code.allSatisfy({ $0.isASCII && $0.isNumber }) || Divisions.bundled.division(code) == nil {
            problems.append(Problem(code: "init.authority", message: "--authority \(code) is not a division code in the GB/T 2260 table",
                                    field: "authority", value: code, rule: "a 6-digit GB/T 2260 code"))
        }
        if name.trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append(Problem(code: "init.name", message: "--name must not be empty", field: "name", value: name, rule: "non-empty"))
        }
        problems += PhoneNumber.validate(phone, field: "phone", allowLandline: true)
        if !(1...366).contains(maxDays) {
            problems.append(Problem(code: "init.maxDays", message: "--max-days \(maxDays) is out of range", field: "maxDays", value: "\(maxDays)", rule: "1 to 366 days"))
        }
        if !problems.isEmpty { throw ProblemList(problems) }
    }

    /// Creates a data directory: database, issuer, admin and root keys (0600), and a trust list
    /// holding the issuer key, signed by the root. With `database` (a `postgres://` URL) the
    /// schema and the authority go into that database instead of the directory's SQLite file,
    /// which must hold no authority yet; the keys and lists are written to the directory all the same.
    public static func initialise(directory: DataDirectory, authority code: String, name: String, nameEn: String?, phone: String,
                                  maxDays: Int, clock: any PermitClock = SystemClock(), database: String? = nil) async throws -> InitResult {
        let phone = PhoneNumber.normalize(phone)
        try validateAuthority(code: code, name: name, phone: phone, maxDays: maxDays)
        if directory.exists {
            throw WorkflowError("init.exists", "\(directory.url.path) already holds a permit database; refusing to overwrite it",
                                field: "dataDirectory", value: directory.url.path, rule: "init makes a new data directory")
        }
        // A server database: it must be empty of authorities, and the directory of keys.
        var serverStore: (any PermitStore)?
        if let database { serverStore = try await Workflow.openStore(database: database) }
        if let serverStore {
            let shown = describe(serverStore, in: directory)
            if try await serverStore.read({ try $0.authority() }) != nil {
                throw WorkflowError("init.exists", "the database \(shown) already holds an authority; refusing to overwrite it",
                                    field: "database", value: shown, rule: "init makes a new deployment")
            }
            for key in [directory.issuerKey, directory.adminKey, directory.rootKey] where FileManager.default.fileExists(atPath: key.path) {
                throw WorkflowError("init.exists", "\(key.path) already exists; refusing to overwrite a key file",
                                    field: "dataDirectory", value: directory.url.path, rule: "init makes a new data directory")
            }
        }
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        let now = clock.now()
        let issuer = PrivateKey.generate(.edDSA)
        let admin = PrivateKey.generate(.edDSA)
        let root = PrivateKey.generate(.edDSA)
        try issuer.save(path: directory.issuerKey.path)
        try admin.save(path: directory.adminKey.path)
        try root.save(path: directory.rootKey.path)
        try root.publicKey.pem.write(to: directory.rootPublicKey, atomically: true, encoding: .utf8)

        let record = AuthorityRecord(code: code, name: name, nameEn: nameEn ?? name, phone: phone, maxDays: maxDays, createdAt: now)
        let store = try serverStore ?? SQLitePermitStore(path: directory.database.path)
        try await store.write { tx in
            try tx.setAuthority(record)
            for (key, role) in [(issuer, KeyRecord.Role.issuer), (admin, .admin), (root, .root)] {
                try tx.insertKey(KeyRecord(kid: key.publicKey.kidHex, role: role, alg: key.algorithm.rawValue,
                                           spki: Data(key.publicKey.spki), notBefore: now, notAfter: nil))
            }
            try tx.appendAudit(at: now, actor: "root:" + root.publicKey.kidHex, action: "init", subject: code,
                               content: CanonicalJSON.encode(["authority": code, "name": name, "phone": phone, "maxDays": String(maxDays),
                                                              "issuerKid": issuer.publicKey.kidHex, "adminKid": admin.publicKey.kidHex,
                                                              "rootKid": root.publicKey.kidHex]))
        }
        let workflow = try await Workflow(directory: directory, clock: clock, store: store)
        try await workflow.exportTrustList(root: root, to: directory.trustList)
        return InitResult(dataDirectory: directory.url.path, database: describe(store, in: directory), issuerKey: directory.issuerKey.path,
                          adminKey: directory.adminKey.path, rootKey: directory.rootKey.path, trustList: directory.trustList.path)
    }

    /// Writes the authority's trust list (current and retired issuer keys), signed by `root`.
    @discardableResult
    public func exportTrustList(root: any MessageSigner, to url: URL, validForDays: Int = 30) async throws -> TrustList {
        let signed = try await signTrustList(root: root, validForDays: validForDays)
        try Data(signed.bytes).write(to: url, options: .atomic)
        return signed.document
    }

    /// The deployment's trust list: the current and retired issuer keys of every authority of
    /// the deployment (this one and those under `authorities/`), signed by `root`.
    public func signTrustList(root: any MessageSigner, validForDays: Int = 30) async throws -> SignedDocument<TrustList> {
        let now = clock.now()
        var entries: [TrustList.Entry] = []
        for member in try await deploymentMembers() {
            let authority = member.authority
            let keys = try await member.store.read { try $0.keys(role: .issuer) }
            entries += try keys.map { k -> TrustList.Entry in
                let key = try PublicKey(spki: Array(k.spki))
                return TrustList.Entry(key: key, authority: authority.code, name: authority.name, nameEn: authority.nameEn, phone: authority.phone,
                                       notBefore: k.notBefore, notAfter: k.notAfter ?? k.notBefore.addingTimeInterval(10 * 365 * 86_400))
            }
        }
        // Sequences only grow: the time in milliseconds, so that two exports in one second still order.
        let sequence = Int((now.timeIntervalSince1970 * 1000).rounded(.down))
        let list = TrustList(sequence: sequence, issuedAt: now, nextUpdate: now.addingTimeInterval(Double(validForDays) * 86_400), keys: entries)
        return SignedDocument(document: list, bytes: try list.signed(with: root))
    }

    /// Links the authorities a `Deployment` opened together, this one among them, in the
    /// deployment's order.
    func link(members all: [Workflow]) {
        lock.withLock { members = all.map(WeakWorkflow.init) }
    }

    /// Every authority of the deployment, the first one first: those a `Deployment` linked, or,
    /// for a workflow opened on its own, each one opened now from the deployment's directory
    /// (sharing this store's connection pool on PostgreSQL).
    func deploymentMembers() async throws -> [Workflow] {
        let linked = lock.withLock { members.compactMap(\.value) }
        if !linked.isEmpty, linked.count == lock.withLock({ members.count }) { return linked }
        let top = DataDirectory(url: directory.deployment)
        var all: [Workflow] = [try await openMember(top)]
        for code in top.addedAuthorityCodes() { all.append(try await openMember(top.addedAuthority(code))) }
        return all
    }

    /// Another authority of this deployment (or this one), on a store of the same kind: its own
    /// SQLite file, or its schema in the same PostgreSQL database on this store's pool.
    func openMember(_ other: DataDirectory) async throws -> Workflow {
        if other.url.standardizedFileURL.path == directory.url.standardizedFileURL.path { return self }
        var memberStore: (any PermitStore)?
        if let postgres = store as? PostgresPermitStore {
            memberStore = other.isDeploymentTop
                ? try await PostgresPermitStore(sharing: postgres, schema: nil)
                : try await PostgresPermitStore(sharing: postgres, schema: PostgresPermitStore.schemaName(authority: other.url.lastPathComponent))
        }
        return try await Workflow(directory: other, clock: clock, store: memberStore)
    }

    /// Rotates the issuer key (payload spec §5) on the admin's signed request (`SignedAction`
    /// `issuer.rotate`, naming the new key's algorithm): the old key's `notAfter` becomes now and
    /// it stays in the trust list, so the permits it signed verify until they expire; the new
    /// key is in the re-published list, signed by `root`, before it signs anything. The old
    /// private key is kept, 0600, under `retired-keys/`.
    public func rotateIssuerKey(_ request: [UInt8], root: any MessageSigner) async throws -> Rotation {
        let roots = try await store.read { try $0.keys(role: .root) }
        guard roots.contains(where: { $0.kid == root.publicKey.kidHex }) else {
            throw WorkflowError("auth.notRoot", "the key \(root.publicKey.kidHex) is not this authority's root key", field: "rootKey",
                                value: root.publicKey.kidHex, rule: "the root key made by permit init signs the trust list")
        }
        let peek = try peek(request, as: [.issuerRotate])
        guard let algorithm = KeyAlgorithm(name: peek.params.alg ?? "") else {
            throw WorkflowError("keys.alg", "--alg \(peek.params.alg ?? "") is not EdDSA or ES256", field: "alg", value: peek.params.alg ?? "", rule: "EdDSA or ES256")
        }
        let old = try PrivateKey.load(path: directory.issuerKey.path)
        let new = PrivateKey.generate(algorithm)
        let now = clock.now()
        let staged = directory.file("issuer-key.pem.new")
        try? FileManager.default.removeItem(at: staged)
        try new.save(path: staged.path)
        do {
            try await store.write { tx in
                let admitted = try admit(request, as: [.issuerRotate], tx: tx, now: now)
                try tx.retireKey(kid: old.publicKey.kidHex, role: .issuer, at: now)
                try tx.insertKey(KeyRecord(kid: new.publicKey.kidHex, role: .issuer, alg: new.algorithm.rawValue,
                                           spki: Data(new.publicKey.spki), notBefore: now, notAfter: nil))
                try tx.appendAudit(at: now, actor: admitted.actor, action: "issuer.rotate", subject: authority.code,
                                   content: CanonicalJSON.encode(["retiredKid": old.publicKey.kidHex, "newKid": new.publicKey.kidHex,
                                                                  "request": String(admitted.record.id ?? 0)]))
            }
        } catch {
            try? FileManager.default.removeItem(at: staged)
            throw error
        }
        try FileManager.default.createDirectory(at: directory.retiredKeys, withIntermediateDirectories: true)
        let retired = directory.retiredKeys.appendingPathComponent("\(old.publicKey.kidHex).pem")
        try? FileManager.default.removeItem(at: retired)
        try FileManager.default.moveItem(at: directory.issuerKey, to: retired)
        try FileManager.default.moveItem(at: staged, to: directory.issuerKey)
        lock.withLock { sealer = nil }
        try await exportTrustList(root: root, to: directory.trustList)
        return Rotation(retiredKid: old.publicKey.kidHex, retiredAt: RFC3339.string(now), newKid: new.publicKey.kidHex,
                        alg: new.algorithm.rawValue, trustList: directory.trustList.path)
    }

    // MARK: admin: approvers and applicants

    /// Registers an approver's key for a department, or a firm's key for its credit code, on the
    /// admin's signed request (`SignedAction` `approver.add` or `applicant.add`, naming the party,
    /// the name and the public key).
    public func register(_ request: [UInt8]) async throws -> PartyKeyRecord {
        let peek = try peek(request, as: [.approverAdd, .applicantAdd])
        let kind: PartyKeyRecord.Kind = peek.action == .approverAdd ? .approver : .applicant
        let party = peek.params.party ?? "", name = peek.params.name ?? ""
        switch kind {
        case .approver:
            guard Department(rawValue: party) != nil else {
                throw WorkflowError("approver.department", "--department \(party) is not one of the ten departments",
                                    field: "department", value: party, rule: Department.allCases.map(\.rawValue).joined(separator: ", "))
            }
        case .applicant:
            let problems = CreditCode.validate(party, field: "creditCode")
            if !problems.isEmpty { throw ProblemList(problems) }
        }
        guard let spki = Data(base64Encoded: peek.params.publicKey ?? ""), let publicKey = try? PublicKey(spki: Array(spki)) else {
            throw WorkflowError("\(kind.rawValue).publicKey", "the request's public key is not a base64 DER SubjectPublicKeyInfo of an Ed25519 or P-256 key",
                                field: "publicKey", value: peek.params.publicKey ?? "", rule: "base64 DER SPKI")
        }
        let now = clock.now()
        return try await store.write { tx in
            let admitted = try admit(request, as: [.approverAdd, .applicantAdd], tx: tx, now: now)
            if let existing = try tx.activePartyKey(kind: kind, kid: publicKey.kidHex) {
                throw WorkflowError("\(kind.rawValue).duplicateKey", "key \(publicKey.kidHex) is already registered to \(existing.party) (\(existing.name))",
                                    field: "publicKey", value: publicKey.kidHex, rule: "one registration per key")
            }
            let record = try tx.insertPartyKey(PartyKeyRecord(kind: kind, party: party, name: name, kid: publicKey.kidHex,
                                                              alg: publicKey.algorithm.rawValue, spki: Data(publicKey.spki), addedAt: now))
            try tx.appendAudit(at: now, actor: admitted.actor, action: "\(kind.rawValue).add", subject: party,
                               content: CanonicalJSON.encode(["party": party, "name": name, "kid": publicKey.kidHex, "alg": publicKey.algorithm.rawValue,
                                                              "spki": publicKey.base64, "request": String(admitted.record.id ?? 0)]))
            return record
        }
    }

    /// Removes a registered key (lost or compromised) on the admin's signed request
    /// (`approver.remove` or `applicant.remove`, naming the kid and a reason): from then on it is refused.
    public func unregister(_ request: [UInt8]) async throws -> PartyKeyRecord {
        let now = clock.now()
        return try await store.write { tx in
            let admitted = try admit(request, as: [.approverRemove, .applicantRemove], tx: tx, now: now)
            let kind: PartyKeyRecord.Kind = admitted.action.action == .approverRemove ? .approver : .applicant
            let kid = admitted.action.params.kid ?? "", reason = admitted.action.params.reason ?? ""
            guard let record = try tx.activePartyKey(kind: kind, kid: kid), let id = record.id else {
                throw WorkflowError("\(kind.rawValue).notFound", "no active \(kind.rawValue) key with kid \(kid)", field: "kid", value: kid, rule: "a registered, active key")
            }
            try tx.removePartyKey(id: id, at: now, reason: reason)
            try tx.appendAudit(at: now, actor: admitted.actor, action: "\(kind.rawValue).remove", subject: record.party,
                               content: CanonicalJSON.encode(["kid": kid, "reason": reason, "request": String(admitted.record.id ?? 0)]))
            var removed = record
            removed.removedAt = now
            removed.removedReason = reason
            return removed
        }
    }

    public func registered(_ kind: PartyKeyRecord.Kind, includeRemoved: Bool) async throws -> [PartyKeyRecord] {
        try await store.read { try $0.partyKeys(kind: kind, includeRemoved: includeRemoved) }
    }

    // MARK: lookups

    /// The application named by an ID (`A000123`) or a 12-digit permit number.
    public func resolve(_ identifier: String) async throws -> ApplicationRecord {
        let found = try await store.read { try Workflow.resolve(identifier, in: $0) }
        guard let found else {
            throw WorkflowError("application.notFound", "no application or permit \(identifier)", field: "id", value: identifier,
                                rule: "an application ID such as A000123, or a 12-digit permit number")
        }
        return found
    }

    /// Everything recorded about one application: routing, each decision, the permit, the audit events.
    static func resolve(_ identifier: String, in r: any StoreReader) throws -> ApplicationRecord? {
        if let id = ApplicationRecord.rowID(of: identifier) { return try r.application(id: id) }
        if identifier.utf8.count == 12, identifier.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) { return try r.application(permitNumber: identifier) }
        return nil
    }


    public func history(_ identifier: String) async throws -> History {
        let app = try await resolve(identifier)
        let now = clock.now()
        return try await store.read { r in
            let permit = try r.permit(applicationID: app.id!)
            let revocation = try permit.flatMap { try r.revocation(number: $0.number) }
            return History(application: app,
                    document: try Application.decodeStored(app.document),
                    routing: try JSONDecoder().decode(RoutingDecision.self, from: app.routing),
                    required: try r.requiredDepartments(applicationID: app.id!),
                    decisions: try r.decisions(applicationID: app.id!),
                    permit: try r.permit(applicationID: app.id!),
                    events: try r.auditEvents(subject: app.publicID),
                    revocation: revocation,
                    permitState: permit.map { Workflow.state(of: $0, revocation: revocation, now: now) })
        }
    }

    public func list(_ filter: ApplicationFilter) async throws -> [ApplicationRecord] {
        try await store.read { try $0.applications(filter) }
    }

    /// The pending work of a department, oldest first; with `overdue`, only what is past its deadline.
    public func queue(department: Department, overdue: Bool, afterID: Int64? = nil, limit: Int? = nil) async throws -> [(ApplicationRecord, RequiredDepartmentRecord)] {
        let now = clock.now()
        return try await store.queue(department: department.rawValue, dueBefore: overdue ? now : nil, afterID: afterID, limit: limit)
    }
}


/// A workflow held weakly, so that the authorities of a deployment can name one another
/// without keeping one another alive.
final class WeakWorkflow: @unchecked Sendable {
    weak var value: Workflow?
    init(_ value: Workflow) { self.value = value }
}
