import Foundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore
import PermitStorePostgres

/// A deployment: every issuing authority of one data directory (and, on PostgreSQL, one
/// database), each its own `Workflow` on its own store, under one root key and one trust list.
///
/// Each authority keeps what one authority always had, so the rules stay those of a single
/// authority: its own `authority` row, keys, serials, applications, blacklist, revocations and
/// audit chain. The first authority is the data directory's top (`permit.sqlite`, or the
/// `public` schema); each added one lives under `authorities/CODE/` (its SQLite file, or its
/// schema `aCODE` in the same database). The root key and the trust list, which lists every
/// authority's issuer keys, stay at the top. A data directory made before is a deployment of one.
public final class Deployment: AddedAuthorities, @unchecked Sendable {
    /// The deployment's top directory (the first authority's).
    public let directory: DataDirectory
    private let lock = NSLock()
    private var members: [Workflow]
    /// The first authority first, then the added ones in code order.
    public var workflows: [Workflow] { lock.withLock { members } }

    init(directory: DataDirectory, workflows: [Workflow]) {
        self.directory = directory
        members = workflows
        for w in workflows { w.link(members: workflows) }
    }

    public func currentCodes() -> [String] {
        [workflows[0].authority.code] + directory.addedAuthorityCodes()
    }

    /// The authority `code` names, opened if it was added since the deployment was opened (and
    /// then linked with the others: a trust list signed by any of them lists its keys too).
    public func open(code: String) async throws -> HostedAuthority? {
        if let found = workflows.first(where: { $0.authority.code == code }) { return Self.hosted(found) }
        guard directory.addedAuthorityCodes().contains(code) else { return nil }
        let opened = try await workflows[0].openMember(directory.addedAuthority(code))
        let (member, all): (Workflow, [Workflow]) = lock.withLock {
            if let raced = members.first(where: { $0.authority.code == code }) { return (raced, members) }
            members = [members[0]] + (members.dropFirst() + [opened]).sorted { $0.authority.code < $1.authority.code }
            return (opened, members)
        }
        for w in all { w.link(members: all) }
        return Self.hosted(member)
    }

    static func hosted(_ w: Workflow) -> HostedAuthority {
        HostedAuthority(code: w.authority.code, service: LocalPermitService(workflow: w), directory: w.directory)
    }

    /// Opens every authority of the initialised data directory; `database` (a `postgres://` URL)
    /// replaces the SQLite files, as for `Workflow`.
    public static func open(directory: DataDirectory, clock: any PermitClock = SystemClock(), database: String?) async throws -> Deployment {
        let top = DataDirectory(url: directory.deployment)
        let first = try await Workflow(directory: top, clock: clock, database: database)
        return try await open(first: first)
    }

    /// Opens the deployment whose first authority `first` is (its store's kind for the others).
    public static func open(first: Workflow) async throws -> Deployment {
        let top = DataDirectory(url: first.directory.deployment)
        var workflows = [first]
        for code in top.addedAuthorityCodes() { workflows.append(try await first.openMember(top.addedAuthority(code))) }
        return Deployment(directory: top, workflows: workflows)
    }

    /// Opens one authority of the initialised data directory, as `workflow(authority:)` picks it,
    /// without opening the others' stores: the first authority's store, and the chosen one's. What
    /// a command that works on one authority needs; the trust list still gathers every authority.
    public static func openAuthority(directory: DataDirectory, clock: any PermitClock = SystemClock(), database: String?,
                                     authority code: String?) async throws -> Workflow {
        let top = DataDirectory(url: directory.deployment)
        let first = try await Workflow(directory: top, clock: clock, database: database)
        let added = top.addedAuthorityCodes()
        let codes = [first.authority.code] + added
        guard let code, !code.isEmpty else {
            if added.isEmpty { return first }
            throw WorkflowError("authority.choose",
                                "the data directory \(top.url.path) hosts \(codes.count) authorities (\(codes.joined(separator: ", "))): give --authority CODE",
                                field: "authority", rule: "one of \(codes.joined(separator: ", "))")
        }
        if code == first.authority.code { return first }
        guard added.contains(code) else {
            throw WorkflowError("authority.unknown",
                                "the data directory \(top.url.path) hosts no authority \(code) (it hosts \(codes.joined(separator: ", ")))",
                                field: "authority", value: code, rule: "one of \(codes.joined(separator: ", "))")
        }
        return try await first.openMember(top.addedAuthority(code))
    }

    /// The authorities' codes, in the deployment's order.
    public var codes: [String] { workflows.map(\.authority.code) }

    /// The authority `code` names; with `code` nil, the only one. Several and no code is
    /// `authority.choose`, a code not hosted `authority.unknown`: both name the hosted codes.
    public func workflow(authority code: String?) throws -> Workflow {
        let codes = self.codes
        guard let code, !code.isEmpty else {
            if workflows.count == 1 { return workflows[0] }
            throw WorkflowError("authority.choose",
                                "the data directory \(directory.url.path) hosts \(codes.count) authorities (\(codes.joined(separator: ", "))): give --authority CODE",
                                field: "authority", rule: "one of \(codes.joined(separator: ", "))")
        }
        guard let found = workflows.first(where: { $0.authority.code == code }) else {
            throw WorkflowError("authority.unknown",
                                "the data directory \(directory.url.path) hosts no authority \(code) (it hosts \(codes.joined(separator: ", ")))",
                                field: "authority", value: code, rule: "one of \(codes.joined(separator: ", "))")
        }
        return found
    }

    /// The service of the authority `code` names (see `workflow(authority:)`).
    public func service(authority code: String?) throws -> LocalPermitService {
        LocalPermitService(workflow: try workflow(authority: code))
    }

    /// Every authority, for `permit serve` to route `/v1/authorities/{code}/…` to.
    public var hosted: [HostedAuthority] {
        workflows.map(Self.hosted)
    }

    /// The authorities as `permit authority list` shows them.
    public func list() async throws -> [DeploymentAuthority] {
        var rows: [DeploymentAuthority] = []
        for w in workflows {
            let a = w.authority
            let kid = try await w.store.read { try Workflow.currentIssuerKid($0) }
            rows.append(DeploymentAuthority(code: a.code, name: a.name, nameEn: a.nameEn, phone: a.phone, maxDays: a.maxDays, createdAt: a.createdAt,
                                            dataDirectory: w.directory.url.path, database: Workflow.describe(w.store, in: w.directory), issuerKid: kid))
        }
        return rows
    }

    /// Adds an authority to the initialised deployment at `directory`: `authorities/CODE/` with
    /// its issuer and admin keys (0600) and its SQLite file (or, with `database`, its schema
    /// `aCODE` in that PostgreSQL database), its `authority` row, its keys registered (the
    /// deployment's root among them), and the deployment's trust list re-signed by `root` (the
    /// data directory's `root-key.pem` when nil) to list its issuer key with the others.
    public static func addAuthority(directory: DataDirectory, authority code: String, name: String, nameEn: String?, phone: String,
                                    maxDays: Int, root: (any MessageSigner)? = nil, clock: any PermitClock = SystemClock(),
                                    database: String? = nil) async throws -> AuthorityAddResult {
        let phone = PhoneNumber.normalize(phone)
        try Workflow.validateAuthority(code: code, name: name, phone: phone, maxDays: maxDays)
        let deployment = try await Deployment.open(directory: directory, clock: clock, database: database)
        let top = deployment.directory
        if deployment.codes.contains(code) {
            throw WorkflowError("authority.exists", "the deployment at \(top.url.path) already hosts authority \(code)",
                                field: "authority", value: code, rule: "each authority is added once")
        }
        let rootSigner: any MessageSigner
        if let root { rootSigner = root } else {
            do { rootSigner = try PrivateKey.load(path: top.rootKey.path) } catch {
                throw WorkflowError("keys.rootUnreadable", "the root key \(top.rootKey.path) cannot be read: \(error)", field: "rootKey",
                                    value: top.rootKey.path, rule: "the deployment's root key, made by permit init")
            }
        }
        let first = deployment.workflows[0]
        let roots = try await first.store.read { try $0.keys(role: .root) }
        guard let rootRecord = roots.first(where: { $0.kid == rootSigner.publicKey.kidHex }) else {
            throw WorkflowError("auth.notRoot", "the key \(rootSigner.publicKey.kidHex) is not this deployment's root key", field: "rootKey",
                                value: rootSigner.publicKey.kidHex, rule: "the root key made by permit init signs the trust list")
        }
        let dir = top.addedAuthority(code)
        if FileManager.default.fileExists(atPath: dir.url.path) {
            throw WorkflowError("authority.exists", "\(dir.url.path) already exists; refusing to overwrite it",
                                field: "dataDirectory", value: dir.url.path, rule: "authority add makes a new authority directory")
        }
        try FileManager.default.createDirectory(at: dir.url, withIntermediateDirectories: true)
        let now = clock.now()
        let issuer = PrivateKey.generate(.edDSA)
        let admin = PrivateKey.generate(.edDSA)
        let added: Workflow
        do {
            try issuer.save(path: dir.issuerKey.path)
            try admin.save(path: dir.adminKey.path)
            let store: any PermitStore
            if let postgres = first.store as? PostgresPermitStore {
                store = try await PostgresPermitStore(sharing: postgres, schema: PostgresPermitStore.schemaName(authority: code))
                if try await store.read({ try $0.authority() }) != nil {
                    throw WorkflowError("authority.exists", "the database \(Workflow.describe(store, in: dir)) already holds authority \(code)",
                                        field: "database", value: Workflow.describe(store, in: dir), rule: "each authority is added once")
                }
            } else {
                store = try SQLitePermitStore(path: dir.database.path)
            }
            let record = AuthorityRecord(code: code, name: name, nameEn: nameEn ?? name, phone: phone, maxDays: maxDays, createdAt: now)
            try await store.write { tx in
                try tx.setAuthority(record)
                for (key, role) in [(issuer, KeyRecord.Role.issuer), (admin, .admin)] {
                    try tx.insertKey(KeyRecord(kid: key.publicKey.kidHex, role: role, alg: key.algorithm.rawValue,
                                               spki: Data(key.publicKey.spki), notBefore: now, notAfter: nil))
                }
                try tx.insertKey(KeyRecord(kid: rootRecord.kid, role: .root, alg: rootRecord.alg, spki: rootRecord.spki, notBefore: now, notAfter: nil))
                try tx.appendAudit(at: now, actor: "root:" + rootRecord.kid, action: "init", subject: code,
                                   content: CanonicalJSON.encode(["authority": code, "name": name, "phone": phone, "maxDays": String(maxDays),
                                                                  "issuerKid": issuer.publicKey.kidHex, "adminKid": admin.publicKey.kidHex,
                                                                  "rootKid": rootRecord.kid]))
            }
            added = try await Workflow(directory: dir, clock: clock, store: store)
        } catch {
            try? FileManager.default.removeItem(at: dir.url)
            throw error
        }
        let others = deployment.workflows.dropFirst() + [added]
        let grown = Deployment(directory: top, workflows: [first] + others.sorted { $0.authority.code < $1.authority.code })
        try await grown.workflows[0].exportTrustList(root: rootSigner, to: top.trustList)
        return AuthorityAddResult(authority: code, name: name, dataDirectory: dir.url.path, database: Workflow.describe(added.store, in: dir),
                                  issuerKey: dir.issuerKey.path, adminKey: dir.adminKey.path, rootKey: top.rootKey.path, trustList: top.trustList.path)
    }
}
