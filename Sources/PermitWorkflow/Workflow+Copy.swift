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

        var shown: String {
            switch self {
            case .sqlite(let path): return "sqlite:" + path
            case .postgres(let url): return Workflow.redactedDatabase(url)
            }
        }

        func open() async throws -> any CopyableStore {
            switch self {
            case .sqlite(let path): return try SQLitePermitStore(path: path)
            case .postgres(let url): return try await PostgresPermitStore(location: PostgresLocation(url: url))
            }
        }
    }

    /// Copies the deployment in the store `from` names into the empty store `to` names (each
    /// `sqlite:PATH` or a `postgres://` URL), audit trail and all (`StoreCopy`).
    ///
    /// The source is audited first, as `audit verify` does with the data directory's trust list
    /// and root: a source with findings is refused (`copy.sourceUnverified`), nothing written,
    /// unless `allowUnverified`, because a move is the moment to notice tampering, not to carry
    /// it along unseen. The target is audited after the commit and reported. The source is
    /// opened as every verb opens it (an older schema is migrated in place); a SQLite source
    /// that does not exist is refused rather than made.
    public static func copyDatabase(from: String, to: String, directory: DataDirectory, clock: any PermitClock,
                                    allowUnverified: Bool) async throws -> DatabaseCopyResult {
        let source = try CopyLocation(from, field: "from")
        let target = try CopyLocation(to, field: "to")
        if source.shown == target.shown {
            throw WorkflowError("copy.sameDatabase", "--from and --to both name \(target.shown)", field: "to", value: target.shown,
                                rule: "the target is another, empty database")
        }
        if case .sqlite(let path) = source, !FileManager.default.fileExists(atPath: path) {
            throw WorkflowError("copy.sourceMissing", "--from \(source.shown): there is no such file", field: "from", value: source.shown,
                                rule: "an existing permit database")
        }
        let sourceStore = try await source.open()
        let auditStart = DispatchTime.now().uptimeNanoseconds
        let sourceAudit = try await Workflow(directory: directory, clock: clock, store: sourceStore).verifyAudit()
        var auditNanos = DispatchTime.now().uptimeNanoseconds - auditStart
        if !sourceAudit.ok && !allowUnverified {
            let shown = sourceAudit.findings.prefix(3).map { "[\($0.table) \($0.id)] \($0.message)" }.joined(separator: "; ")
            throw WorkflowError("copy.sourceUnverified",
                                "the source \(source.shown) does not pass audit verify (\(sourceAudit.findings.count) problem(s): \(shown)\(sourceAudit.findings.count > 3 ? "; …" : "")); nothing was copied. Run `permit audit verify` on it, or copy it as it is with --allow-unverified",
                                field: "from", value: source.shown, rule: "the source's audit verifies, or --allow-unverified")
        }

        var created: String?
        if case .sqlite(let path) = target, !FileManager.default.fileExists(atPath: path) { created = path }
        let outcome: StoreCopy.Outcome
        let targetStore: any CopyableStore
        do {
            targetStore = try await target.open()
            outcome = try await StoreCopy.copy(from: sourceStore, to: targetStore)
        } catch {
            // A SQLite file made for the copy goes again with it.
            if let created { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: created + suffix) } }
            throw error
        }
        let targetStart = DispatchTime.now().uptimeNanoseconds
        let targetAudit = try await Workflow(directory: directory, clock: clock, store: targetStore).verifyAudit()
        auditNanos += DispatchTime.now().uptimeNanoseconds - targetStart
        if let postgres = sourceStore as? PostgresPermitStore { await postgres.close() }
        if let postgres = targetStore as? PostgresPermitStore { await postgres.close() }
        return DatabaseCopyResult(from: source.shown, to: target.shown, tables: outcome.tables.map { DatabaseCopyResult.Table(table: $0.table, rows: $0.rows) }, migrations: outcome.migrations,
                                  seconds: outcome.readSeconds + outcome.writeSeconds, readSeconds: outcome.readSeconds,
                                  writeSeconds: outcome.writeSeconds, sourceAudit: sourceAudit, targetAudit: targetAudit,
                                  auditSeconds: Double(auditNanos) / 1e9)
    }
}
