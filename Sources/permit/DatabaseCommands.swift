import ArgumentParser
import Foundation
import PermitAPI
import PermitWorkflow

struct DatabaseVerbs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Move the deployment's database: copy every table, audit trail and all, into another store.",
        discussion: """
        Examples:
          permit db copy --from sqlite:permit-data/permit.sqlite --to postgres://permit@db.internal/permits
        """,
        subcommands: [Copy.self]
    )

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every table of a permit database into an empty one, in one transaction.",
            discussion: """
            Each of --from and --to is sqlite:PATH or a postgres:// URL (SQLite to PostgreSQL, \
            PostgreSQL to PostgreSQL, or back to SQLite). Every row of every table goes over as it is \
            stored: row ids, times (integer milliseconds) and blobs byte for byte, so the audit chain, \
            the signed documents and kept checkpoints verify on the target, and new rows continue \
            after the copied ones (serials, row ids, list sequences). The target must be empty (its \
            schema may exist); the copy is one transaction on it, which reads every table back and \
            compares it with the source before it commits: everything is copied or nothing. \
            The append-only triggers of the audit trail stay in force on the target.

            The source is checked first as `permit audit verify` checks it, with the data directory's \
            trust list and root key (--data-dir, $PERMIT_HOME or ./permit-data; the keys stay there and \
            serve the target too). A source with findings is refused, nothing written, unless \
            --allow-unverified. The target is audited after the commit. Stop the commands that write \
            to the source first: what they write during the copy is not in it.

            A deployment of several authorities is one store per authority: copy each. With \
            --authority CODE the copy is that authority's store: an added authority's is the schema \
            aCODE of a PostgreSQL database (a SQLite path names its file, authorities/CODE/permit.sqlite \
            in the data directory), and its own keys audit it. Copy the first authority's store first: \
            it opens the deployment.

            Exit 0 when copied and the target's audit passes; 1 when the source's audit fails (refused), \
            or the target's does (copied with --allow-unverified); 2 when the copy could not run (the \
            target is not empty, a store cannot be opened, the copy failed and was rolled back).

            Examples:
              permit db copy --from sqlite:permit-data/permit.sqlite --to postgres://permit:secret@db.internal:5432/permits
              permit db copy --from sqlite:/srv/permits/permit.sqlite --to "postgres://permit@/permits?host=/run/postgresql" --data-dir /srv/permits --json
              permit db copy --from postgres://permit@old-db/permits --to postgres://permit@new-db/permits
              permit db copy --from postgres://permit@db.internal/permits --to sqlite:/backup/permit.sqlite
              permit db copy --from sqlite:permit-data/authorities/330106/permit.sqlite --to postgres://permit@db.internal/permits --authority 330106
            """
        )
        @Option(help: ArgumentHelp("The database to copy: sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB.", valueName: "STORE"))
        var from: String
        @Option(help: ArgumentHelp("The empty database to copy into: sqlite:PATH (made if missing) or a postgres:// URL.", valueName: "STORE"))
        var to: String
        @Option(name: .customLong("data-dir"), help: ArgumentHelp("The authority's data directory, whose trust list and root key the audits use (default: $PERMIT_HOME, or ./permit-data).", valueName: "DIR"))
        var dataDir: String?
        @Option(help: ArgumentHelp("The authority whose store is copied, for a deployment of several (default: the first authority's).", valueName: "CODE"))
        var authority: String?
        @Flag(name: .customLong("allow-unverified"), help: "Copy a source whose audit fails, as it is (its findings are reported).")
        var allowUnverified = false
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            let directory = dataDir.map { DataDirectory(url: URL(fileURLWithPath: $0, isDirectory: true).standardizedFileURL) }
                ?? DataDirectory.fromEnvironment()
            let result = try await reporting(json: output.json, refusalCodes: ["copy.sourceUnverified"]) {
                try await Workflow.copyDatabase(from: from, to: to, directory: directory, clock: try currentClock(), allowUnverified: allowUnverified,
                                                authority: authority)
            }
            if output.json {
                struct Audit: Encodable {
                    var ok: Bool; var events: Int; var permits: Int; var checkpoints: Int; var findings: [AuditFinding]
                    init(_ a: AuditVerification) {
                        (ok, events, permits, checkpoints, findings) = (a.ok, a.events, a.permits, a.checkpoints, a.findings)
                    }
                }
                struct Out: Encodable {
                    var from: String; var to: String; var tables: [DatabaseCopyResult.Table]; var rows: Int; var migrations: [String]
                    var seconds: Double; var readSeconds: Double; var writeSeconds: Double; var auditSeconds: Double
                    var sourceAudit: Audit; var targetAudit: Audit
                }
                func rounded(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }
                Console.out(JSONOutput.line(Out(from: result.from, to: result.to,
                                                tables: result.tables,
                                                rows: result.rows, migrations: result.migrations, seconds: rounded(result.seconds),
                                                readSeconds: rounded(result.readSeconds), writeSeconds: rounded(result.writeSeconds),
                                                auditSeconds: rounded(result.auditSeconds),
                                                sourceAudit: Audit(result.sourceAudit), targetAudit: Audit(result.targetAudit))))
            } else {
                let seconds = String(format: "%.2f", result.seconds)
                Console.out(lang.pick("已复制 \(result.from) → \(result.to)：\(result.tables.count) 张表，\(result.rows) 行，用时 \(seconds) 秒",
                                      "copied \(result.from) → \(result.to): \(result.tables.count) tables, \(result.rows) rows in \(seconds) s"))
                Console.out(TextTable.render(header: lang.pick(["表", "行数"], ["table", "rows"]),
                                             rows: result.tables.map { [$0.table, String($0.rows)] }))
                func say(_ label: String, _ a: AuditVerification) {
                    let counts = lang.pick("\(a.events) 个审计事件、\(a.permits) 张通行证、\(a.checkpoints) 个检查点",
                                           "\(a.events) audit events, \(a.permits) permits, \(a.checkpoints) checkpoints")
                    Console.out(label + (a.ok ? lang.pick("审计通过（\(counts)）", "audit OK (\(counts))")
                                              : lang.pick("审计失败：\(a.findings.count) 处问题（\(counts)）", "audit FAILED: \(a.findings.count) problem(s) (\(counts))")))
                    for f in a.findings.prefix(20) { Console.out("  ✗ [\(f.table) \(f.id)] \(f.message)") }
                }
                say(lang.pick("源库：", "source: "), result.sourceAudit)
                say(lang.pick("目标库：", "target: "), result.targetAudit)
            }
            if !result.targetAudit.ok { throw ExitCode(1) }
        }
    }
}

