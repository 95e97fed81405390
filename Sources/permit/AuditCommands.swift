import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitSeal

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the tamper-evident audit trail, sign checkpoints of it, and read it.",
        discussion: """
        Examples:
          permit audit verify
          permit audit checkpoint -o /offsite/checkpoint-2026-11-30.cose
          permit audit verify --checkpoint /offsite/checkpoint-2026-11-30.cose --json
          permit audit log --subject A000001
        """,
        subcommands: [Verify.self, Checkpoint.self, Log.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit chain and check every decision and permit against its signature.",
            discussion: """
            Checks: the hash chain of audit events; each application's document against its digest; \
            each decision's COSE signature against its registered approver key and that it signs this \
            application's digest, department and decision; each permit's payload against the issuer \
            keys and its stored row (number, plate, signature hash); the chain against every stored \
            checkpoint and every --checkpoint file (truncation or rebuilding below a checkpoint, with \
            the range); and each issuer key in the database against the trust list signed by the \
            root key (the data directory's trust-list.cose and root.pub.pem unless --trust/--root \
            name copies kept elsewhere), so that a key swapped into the database is named. Each \
            problem names the table and row. Exit 0 when all hold, 1 when any fails, 2 when a file \
            given cannot be read. It reports its time and rate (audit events a second).

            --since-checkpoint verifies incrementally from the latest stored checkpoint whose \
            signature verifies with a listed issuer key: that the stored chain still holds, at \
            the checkpoint's length, an event whose hash is the checkpoint's head, then every \
            event after it (sequence, link and hash), and the issuer keys against the trust \
            list. It does not re-check the events before the checkpoint one by one (an event \
            rewritten below it is named only by a full verify), nor the applications', \
            decisions' and permits' signatures and columns, the signed requests or --checkpoint \
            files: run the full verify for those. With no stored checkpoint that verifies it \
            exits 2 (run `permit audit checkpoint` first); it does not fall back to a full verify.

            Examples:
              permit audit verify
              permit audit verify --checkpoint cp-1.cose --checkpoint cp-2.cose --json
              permit audit verify --trust /offsite/trust-list.cose --root /offsite/root.pub.pem
              permit audit verify --since-checkpoint --json
            """
        )
        @Flag(name: .customLong("since-checkpoint"), help: "Verify only the chain after the latest stored checkpoint that verifies (see above).")
        var sinceCheckpoint = false
        @Option(help: ArgumentHelp("A checkpoint file kept from `audit checkpoint` (repeatable).", valueName: "FILE"))
        var checkpoint: [String] = []
        @Option(help: ArgumentHelp("The signed trust list to hold the issuer keys to (default: the data directory's).", valueName: "FILE"))
        var trust: String?
        @Option(help: ArgumentHelp("The root public key that signs the trust list (default: the data directory's root.pub.pem).", valueName: "FILE"))
        var root: String?
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            let result = try await reporting(json: output.json) {
                if sinceCheckpoint && !checkpoint.isEmpty {
                    throw CommandFailure("input.conflict", "--since-checkpoint starts from the stored checkpoints; --checkpoint files are checked by a full audit verify",
                                         field: "checkpoint", rule: "either --since-checkpoint or --checkpoint FILE")
                }
                for path in checkpoint where !FileManager.default.fileExists(atPath: path) {
                    throw CommandFailure("input.unreadable", "cannot read \(path)", field: "checkpoint", value: path, rule: "the file must exist and be readable")
                }
                let service = try await data.service(signer: try reader.signer())
                let started = Date()
                var verification = try await service.verifyAudit(AuditOptions(checkpointFiles: checkpoint.map { URL(fileURLWithPath: $0) },
                                                                               trustList: trust.map { URL(fileURLWithPath: $0) }, root: root.map { URL(fileURLWithPath: $0) },
                                                                               sinceCheckpoint: sinceCheckpoint))
                if verification.seconds == nil { verification.seconds = Date().timeIntervalSince(started) }
                return verification
            }
            let seconds = result.seconds ?? 0
            let rate = seconds > 0 ? (Double(result.events) / seconds).rounded() : 0
            if output.json {
                struct Out: Encodable {
                    var ok: Bool; var events: Int; var applications: Int; var decisions: Int; var permits: Int; var checkpoints: Int
                    var trustList: String; var trustListChecked: Bool; var findings: [AuditFinding]
                    var requests: Int; var notes: [AuditFinding]
                    var mode: String; var seconds: Double; var eventsPerSecond: Double; var sinceCheckpoint: AuditSinceCheckpoint?
                }
                Console.out(JSONOutput.line(Out(ok: result.ok, events: result.events, applications: result.applications, decisions: result.decisions,
                                                permits: result.permits, checkpoints: result.checkpoints, trustList: result.trustList,
                                                trustListChecked: result.trustListChecked, findings: result.findings,
                                                requests: result.requests, notes: result.notes,
                                                mode: result.sinceCheckpoint == nil ? "full" : "since-checkpoint",
                                                seconds: (seconds * 1e6).rounded() / 1e6, eventsPerSecond: rate, sinceCheckpoint: result.sinceCheckpoint)))
            } else {
                let timing = String(format: "%.3f", seconds)
                if let since = result.sinceCheckpoint {
                    Console.out(lang.pick("自存储的检查点 \(since.id)（长度 \(since.length)，签于 \(since.time)）起校验了 \(since.eventsVerified) 个审计事件，用时 \(timing) 秒（每秒 \(Int(rate)) 个事件）；申请、审批、通行证和签名请求只由完整的 audit verify 检查",
                                          "verified \(since.eventsVerified) audit events after stored checkpoint \(since.id) (length \(since.length), signed \(since.time)) in \(timing) s (\(Int(rate)) events/s); applications, decisions, permits and signed requests are checked only by a full audit verify"))
                } else {
                    Console.out(lang.pick("检查了 \(result.events) 个审计事件、\(result.applications) 件申请、\(result.decisions) 个审批、\(result.permits) 张通行证、\(result.checkpoints) 个检查点，用时 \(timing) 秒（每秒 \(Int(rate)) 个审计事件）",
                                          "checked \(result.events) audit events, \(result.applications) applications, \(result.decisions) decisions, \(result.permits) permits, \(result.checkpoints) checkpoints in \(timing) s (\(Int(rate)) audit events/s)"))
                }
                Console.out(result.trustList)
                if !result.notes.isEmpty {
                    Console.out(lang.pick("\(result.notes.count) 行写于请求签名之前（未签名的管理操作、无随机数的审批），如实列出，不算篡改：",
                                          "\(result.notes.count) row(s) predate signed requests (unsigned administrative actions, decisions without a nonce); listed, not counted as tampering:"))
                    for n in result.notes.prefix(20) { Console.out("· [\(n.table) \(n.id)] \(n.message)") }
                    if result.notes.count > 20 { Console.out("· …") }
                }
                for f in result.findings { Console.out("✗ [\(f.table) \(f.id)] \(f.message)") }
                Console.out(result.ok ? lang.pick("审计通过", "audit OK") : lang.pick("审计失败：\(result.findings.count) 处问题", "audit FAILED: \(result.findings.count) problem(s)"))
            }
            if !result.ok { throw ExitCode(1) }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the chain's length and head hash with the issuer key; store it and write it out.",
            discussion: """
            Keep the file somewhere the database's owner cannot rewrite; `audit verify --checkpoint \
            FILE` then shows whether the chain was truncated or rebuilt below it.

            Examples:
              permit audit checkpoint -o checkpoint.cose
              permit audit checkpoint --json
            """
        )
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Also write the signed checkpoint (COSE_Sign1) here.", valueName: "FILE"))
        var outputFile: String?
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                let signed = try await data.service(signer: try reader.signer()).auditCheckpoint()
                let (checkpoint, bytes) = (signed.document, signed.bytes)
                if let outputFile {
                    do { try Data(bytes).write(to: URL(fileURLWithPath: outputFile), options: .atomic) } catch {
                        throw CommandFailure("output.unwritable", "-o \(outputFile): \(error.localizedDescription)", field: "output", value: outputFile, rule: "a writable path")
                    }
                }
                if output.json {
                    struct Out: Encodable { var checkpoint: AuditCheckpoint; var file: String? }
                    Console.out(JSONOutput.line(Out(checkpoint: checkpoint, file: outputFile)))
                } else {
                    Console.out(lang.pick("检查点：\(checkpoint.length) 个事件，链头 \(checkpoint.head)，\(checkpoint.time)",
                                          "checkpoint: \(checkpoint.length) events, head \(checkpoint.head), \(checkpoint.time)")
                                + (outputFile.map { lang.pick("，已写入 \($0)", ", written to \($0)") } ?? ""))
                }
            }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print audit events in order, optionally for one subject.",
            discussion: """
            Subjects are application IDs (A000001), the authority code, `kind:party` for blacklist entries, \
            or a firm's credit code for refused applications. A permit number is read as its application.

            Examples:
              permit audit log
              permit audit log --subject A000001 --json
            """
        )
        @Option(help: "Only events about this subject.")
        var subject: String?
        @OptionGroup var page: PageOptions
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reporting(json: output.json) {
                let service = try await data.service(signer: try reader.signer())
                var key = subject
                if let s = subject, s.count == 12, s.allSatisfy(\.isNumber), let app = try? await service.history(s).application { key = app.publicID }
                let (events, next) = try await page.rows { limit, after in
                    try await service.auditLog(AuditLogQuery(subject: key, limit: limit, after: after))
                }
                struct Row: Encodable { var seq: Int64; var at: String; var actor: String; var action: String; var subject: String; var content: String; var hash: String }
                let rows = events.map { Row(seq: $0.seq, at: Timestamps.string($0.at), actor: $0.actor, action: $0.action, subject: $0.subject,
                                            content: String(decoding: $0.content, as: UTF8.self), hash: $0.hash) }
                if output.json {
                    Console.out(JSONOutput.line(rows))
                    page.reportNext(next, json: true, lang: output.language, command: "permit audit log")
                    return
                }
                if rows.isEmpty { Console.out(output.language.pick("（无事件）", "(no events)")); return }
                for r in rows { Console.out("#\(r.seq)  \(r.at)  \(TextTable.pad(r.action, 18)) \(TextTable.pad(r.subject, 20)) \(r.actor)  \(r.content)") }
                page.reportNext(next, json: false, lang: output.language, command: "permit audit log")
            }
        }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per department: received, approved, rejected, pending, overdue, median and p90 time to decision; and time to permit.",
        discussion: """
        Overdue follows the clock (PERMIT_NOW if set). Times run from submission.

        Examples:
          permit report
          permit report --since 2026-11-01 --json
        """
    )
    @Option(help: ArgumentHelp("Only applications submitted on or after this day (China time).", valueName: "DATE"))
    var since: String?
    @OptionGroup var data: DataOptions
    @OptionGroup var reader: ReaderKeyOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            var day: CalendarDay?
            if let since {
                guard let d = CalendarDay(iso: since) else {
                    throw CommandFailure("report.since", "--since \(since) is not a date", field: "since", value: since, rule: "YYYY-MM-DD")
                }
                day = d
            }
            let report = try await data.service(signer: try reader.signer()).report(since: day)
            if output.json { Console.out(JSONOutput.line(report)); return }
            func t(_ s: Double?) -> String { s.map { Timestamps.duration($0, lang) } ?? "-" }
            Console.out(lang.pick("申请 \(report.applications) 件，发证 \(report.permits) 张", "\(report.applications) applications, \(report.permits) permits")
                        + (report.since.map { lang.pick("（自 \($0)）", " (since \($0))") } ?? ""))
            Console.out(TextTable.render(
                header: lang.pick(["部门", "收件", "同意", "驳回", "待审", "超时", "中位用时", "P90 用时"],
                                  ["department", "received", "approved", "rejected", "pending", "overdue", "median", "p90"]),
                rows: report.departments.map { d in
                    [d.department, "\(d.received)", "\(d.approved)", "\(d.rejected)", "\(d.pending)", "\(d.overdue)",
                     t(d.medianDecisionSeconds), t(d.p90DecisionSeconds)]
                }))
            Console.out("")
            Console.out(lang.pick("申请到发证用时（中位 \(t(report.medianApplicationToPermitSeconds))，P90 \(t(report.p90ApplicationToPermitSeconds))）：",
                                  "application to permit (median \(t(report.medianApplicationToPermitSeconds)), p90 \(t(report.p90ApplicationToPermitSeconds))):"))
            let most = max(1, report.applicationToPermit.map(\.count).max() ?? 1)
            for b in report.applicationToPermit {
                let bar = String(repeating: "#", count: b.count == 0 ? 0 : max(1, b.count * 40 / most))
                Console.out("  \(TextTable.pad(b.label, 10)) \(String(repeating: " ", count: max(0, 5 - String(b.count).count)))\(b.count)  \(bar)")
            }
        }
    }
}
