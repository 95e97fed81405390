import Foundation
import PermitAPI
import PermitModel
import PermitStore
import PermitStorePostgres

/// What `permit db copy` did: the two stores, the rows of each table, how long it took, and
/// the audit of the source before the copy and of the target after it.
public struct DatabaseCopyResult: Sendable {
    /// The source and the target, to show (passwords hidden).
    public var from: String
    public var to: String
    /// Rows copied per table, in the order they were written.
    public var tables: [Table]
    public var migrations: [String]
    /// The copy itself: reading the source and the target's transaction.
    public var seconds: Double
    public var readSeconds: Double
    public var writeSeconds: Double
    /// `audit verify` of the source, before anything was written, and of the target, after the commit.
    public var sourceAudit: AuditVerification
    public var targetAudit: AuditVerification
    public var auditSeconds: Double
    public var rows: Int { tables.reduce(0) { $0 + $1.rows } }

    /// One table and the rows copied into it.
    public struct Table: Sendable, Codable, Equatable {
        public var table: String
        public var rows: Int
    }
}

extension Workflow {
    /// Where a copy reads or writes: `sqlite:PATH` or a `postgres://` URL.
    enum CopyLocation {
        case sqlite(String)
        case postgres(String)

        init(_ text: String, field: String) throws {
            if PostgresLocation.isPostgresURL(text) {
                self = .postgres(text)
                return
            }
            if text.hasPrefix("sqlite:") {
                var path = String(text.dropFirst("sqlite:".count))
                if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
                if !path.isEmpty {
                    self = .sqlite(URL(fileURLWithPath: path).standardizedFileURL.path)
                    return
                }
            }
            throw WorkflowError("copy.location", "--\(field) \(Workflow.redactedDatabase(text)) is neither sqlite:PATH nor a postgres:// URL",
                                field: field, value: Workflow.redactedDatabase(text), rule: "sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB")
        }

        func shown(schema: String?) -> String {
            switch self {
            case .sqlite(let path): return "sqlite:" + path
            case .postgres(let url): return Workflow.redactedDatabase(url) + (schema.map { " (schema \($0))" } ?? "")
            }
        }

        /// The store, and on PostgreSQL the pool's owner to close afterwards: an added
        /// authority's schema (`schema`) is a store on the database's pool.
        func open(schema: String?) async throws -> (store: any CopyableStore, pool: PostgresPermitStore?) {
            switch self {
            case .sqlite(let path): return (try SQLitePermitStore(path: path), nil)
            case .postgres(let url):
                let root = try await PostgresPermitStore(location: PostgresLocation(url: url))
                guard let schema else { return (root, root) }
                return (try await PostgresPermitStore(sharing: root, schema: schema), root)
            }
        }
    }

    /// Copies the deployment in the store `from` names into the empty store `to` names (each
    /// `sqlite:PATH` or a `postgres://` URL), audit trail and all (`StoreCopy`). With
    /// `authority`, the store is that authority's: an authority added to the deployment is in the
    /// schema `aCODE` of a PostgreSQL database (a SQLite path names its file as it is), and its
    /// own keys in the data directory audit it.
    ///
    /// The source is audited first, as `audit verify` does with the data directory's trust list
    /// and root: a source with findings is refused (`copy.sourceUnverified`), nothing written,
    /// unless `allowUnverified`, because a move is the moment to notice tampering, not to carry
    /// it along unseen. The target is audited after the commit and reported. The source is
    /// opened as every verb opens it (an older schema is migrated in place); a SQLite source
    /// that does not exist is refused rather than made.
    public static func copyDatabase(from: String, to: String, directory: DataDirectory, clock: any PermitClock,
                                    allowUnverified: Bool, authority: String? = nil) async throws -> DatabaseCopyResult {
        let source = try CopyLocation(from, field: "from")
        let target = try CopyLocation(to, field: "to")
        let top = DataDirectory(url: directory.deployment)
        var directory = directory
        var schema: String?
        if let authority, !authority.isEmpty {
            let added = top.addedAuthorityCodes()
            if added.contains(authority) {
                directory = top.addedAuthority(authority)
                schema = PostgresPermitStore.schemaName(authority: authority)
            } else {
                directory = top
                // The first authority: checked against the source's own authority row below.
            }
        }
        let shownFrom = source.shown(schema: schema), shownTo = target.shown(schema: schema)
        if shownFrom == shownTo {
            throw WorkflowError("copy.sameDatabase", "--from and --to both name \(shownTo)", field: "to", value: shownTo,
                                rule: "the target is another, empty database")
        }
        if case .sqlite(let path) = source, !FileManager.default.fileExists(atPath: path) {
            throw WorkflowError("copy.sourceMissing", "--from \(shownFrom): there is no such file", field: "from", value: shownFrom,
                                rule: "an existing permit database")
        }
        let (sourceStore, sourcePool) = try await source.open(schema: schema)
        if let authority, !authority.isEmpty, schema == nil {
            let found = try await sourceStore.read { try $0.authority() }?.code
            guard found == authority else {
                if let sourcePool { await sourcePool.close() }
                let codes = ([found].compactMap { $0 } + top.addedAuthorityCodes()).joined(separator: ", ")
                throw WorkflowError("authority.unknown", "the data directory \(top.url.path) hosts no authority \(authority) (it hosts \(codes))",
                                    field: "authority", value: authority, rule: "one of \(codes)")
            }
        }
        let auditStart = DispatchTime.now().uptimeNanoseconds
        let sourceAudit = try await Workflow(directory: directory, clock: clock, store: sourceStore).verifyAudit()
        var auditNanos = DispatchTime.now().uptimeNanoseconds - auditStart
        if !sourceAudit.ok && !allowUnverified {
            let shown = sourceAudit.findings.prefix(3).map { "[\($0.table) \($0.id)] \($0.message)" }.joined(separator: "; ")
            throw WorkflowError("copy.sourceUnverified",
                                "the source \(shownFrom) does not pass audit verify (\(sourceAudit.findings.count) problem(s): \(shown)\(sourceAudit.findings.count > 3 ? "; …" : "")); nothing was copied. Run `permit audit verify` on it, or copy it as it is with --allow-unverified",
                                field: "from", value: shownFrom, rule: "the source's audit verifies, or --allow-unverified")
        }

        var created: String?
        if case .sqlite(let path) = target, !FileManager.default.fileExists(atPath: path) { created = path }
        let outcome: StoreCopy.Outcome
        let targetStore: any CopyableStore
        var targetPool: PostgresPermitStore?
        do {
            (targetStore, targetPool) = try await target.open(schema: schema)
            outcome = try await StoreCopy.copy(from: sourceStore, to: targetStore)
        } catch {
            // A SQLite file made for the copy goes again with it.
            if let created { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: created + suffix) } }
            throw error
        }
        let targetStart = DispatchTime.now().uptimeNanoseconds
        let targetAudit = try await Workflow(directory: directory, clock: clock, store: targetStore).verifyAudit()
        auditNanos += DispatchTime.now().uptimeNanoseconds - targetStart
        if let sourcePool { await sourcePool.close() }
        if let targetPool { await targetPool.close() }
        return DatabaseCopyResult(from: shownFrom, to: shownTo, tables: outcome.tables.map { DatabaseCopyResult.Table(table: $0.table, rows: $0.rows) }, migrations: outcome.migrations,
                                  seconds: outcome.readSeconds + outcome.writeSeconds, readSeconds: outcome.readSeconds,
                                  writeSeconds: outcome.writeSeconds, sourceAudit: sourceAudit, targetAudit: targetAudit,
                                  auditSeconds: Double(auditNanos) / 1e9)
    }
}
