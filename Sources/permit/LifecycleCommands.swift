import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitSeal

/// One revocation as `revoke` and `revocations list` print it.
struct RevocationRow: Encodable {
    var number: String
    var revokedAt: String
    var reason: String
    var actor: String
    var hash: String?
    var supersededBy: String?

    init(_ r: RevocationRecord) {
        number = r.number
        revokedAt = Timestamps.string(r.revokedAt)
        reason = r.reason
        actor = r.actor
        hash = r.signatureHash
        supersededBy = r.supersededBy
    }
}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke issued permits, with a reason (needs the admin key).",
        discussion: """
        One signed request revokes every permit named, in one process and one transaction, each \
        permit on its own: who, when and why are recorded with an audit event each, and the \
        permits appear on the next revocation list (`permit revocations export`). A permit already \
        revoked or superseded, not issued or not found is reported and the others are revoked \
        (exit 1). Sending the same signed request again is refused: it is never applied twice.

        Examples:
          permit revoke 330114000001 --reason "车辆违规运输" --admin-key permit-data/admin-key.pem
          permit revoke 330114000001 330114000002 A000012 --reason "forged cargo papers" --admin-key admin-key.pem --json
          permit revoke --from numbers.txt --reason "企业被列入黑名单" --admin-key admin-key.pem
          permit list --state active --json | jq -r '.[].permitNumber' | permit revoke - --reason "路线关闭" --admin-key admin-key.pem
        """
    )
    @Argument(help: "12-digit permit numbers (or application IDs); - reads them one per line from standard input.")
    var numbers: [String] = []
    @Option(help: ArgumentHelp("A file of permit numbers, one per line.", valueName: "FILE"))
    var from: String?
    @Option(help: "Why the permits are revoked (kept on the list and in the audit trail).")
    var reason: String
    @OptionGroup var admin: AdminKeyOption
    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard numbers.isEmpty != (from == nil) else { throw ValidationError("give the permits exactly one way: numbers, - or --from FILE") }
    }

    func run() async throws {
        let lang = output.language
        let outcomes = try await reporting(json: output.json) {
            let admin = try admin.signer()
            let service = try await data.service(signer: admin)
            let list = try from.map { try IdentifierInput.lines(from: $0) } ?? (numbers == ["-"] ? IdentifierInput.lines(from: "-") : numbers)
            guard !list.isEmpty else {
                throw CommandFailure("revoke.numbers", "no permit numbers were given", field: "numbers", value: "", rule: "one or more permit numbers")
            }
            return try await service.revoke(Data(admin.action(.revoke, .init(reason: reason, numbers: list), authority: try await service.authority().code)))
        }
        for (index, o) in outcomes.enumerated() {
            if let problems = o.problems {
                if output.json {
                    struct Refused: Encodable { var index: Int; var input: String; var errors: [Problem] }
                    Console.out(JSONOutput.line(Refused(index: index, input: o.input, errors: problems)))
                } else {
                    Console.out(lang.pick("✗ \(o.input)：", "✗ \(o.input): ") + problems.map(lang.say).joined(separator: "; "))
                }
                continue
            }
            let row = RevocationRow(o.revocation!)
            if output.json {
                Console.out(JSONOutput.line(row))
            } else {
                Console.out(lang.pick("已吊销 \(row.number)：\(row.reason)（吊销哈希 \(row.hash ?? "")）",
                                      "Revoked \(row.number): \(row.reason) (revocation hash \(row.hash ?? ""))"))
            }
        }
        let refused = outcomes.filter { $0.problems != nil }.count
        if !output.json {
            if outcomes.count > 1 {
                Console.out(lang.pick("吊销 \(outcomes.count - refused) 张，拒绝 \(refused) 张", "\(outcomes.count - refused) revoked, \(refused) refused"))
            }
            if refused < outcomes.count {
                Console.out(lang.pick("请运行 permit revocations export 发布新的吊销列表", "Publish it with: permit revocations export"))
            }
        }
        if refused > 0 { throw ExitCode(1) }
    }
}

struct Revocations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export and list the authority's signed revocation list; pull it from a permit server.",
        discussion: """
        Examples:
          permit revocations export
          permit revocations export -o /srv/checkpoints/330114.revocations.cose --valid-days 2
          permit revocations list --json
          permit revocations pull --server https://permits.example.gov.cn --authority 330114 -o 330114.revocations.cose
        """,
        subcommands: [Export.self, List.self, Pull.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the signed revocation list (payload spec §5), signed with the issuer key.",
            discussion: """
            Every revoked and superseded permit's hash (the first 16 bytes of SHA-256 over its COSE \
            signature), with the next sequence number. The default output is DATA/revocations.cose, \
            which `permit verify` reads by default.

            Examples:
              permit revocations export
              permit revocations export -o revocations.cose --valid-days 7 --json
            """
        )
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write it (default: DATA/revocations.cose; over --server, ./revocations.cose).", valueName: "FILE"))
        var outputFile: String?
        @Option(name: .customLong("valid-days"), help: "Days until nextUpdate, after which checkpoints call it stale (default 1).")
        var validDays = 1
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                let service = try await data.service(signer: try reader.signer())
                // Over --server the list is published on the server; this copy goes to the current directory by default.
                let url = outputFile.map { URL(fileURLWithPath: $0) }
                    ?? (data.serverURL == nil ? data.authorityDirectory(of: service).revocations : URL(fileURLWithPath: "revocations.cose"))
                let signed = try await service.exportRevocations(validForDays: validDays, above: RevocationList.publishedSequence(at: url))
                do { try Data(signed.bytes).write(to: url, options: .atomic) } catch {
                    throw CommandFailure("output.unwritable", "\(url.path): \(error.localizedDescription)", field: "output", value: url.path, rule: "a writable path")
                }
                let list = signed.document
                struct Summary: Encodable { var file: String; var authority: String; var sequence: Int; var entries: Int; var issuedAt: String; var nextUpdate: String }
                let s = Summary(file: url.path, authority: list.authority, sequence: list.sequence, entries: list.revoked.count,
                                issuedAt: list.issuedAt, nextUpdate: list.nextUpdate)
                if output.json {
                    Console.out(JSONOutput.line(s))
                } else {
                    Console.out(lang.pick("吊销列表 \(s.file)：机关 \(s.authority)，序号 \(s.sequence)，\(s.entries) 条，下次更新 \(s.nextUpdate)",
                                          "Revocation list \(s.file): authority \(s.authority), sequence \(s.sequence), \(s.entries) entries, next update \(s.nextUpdate)"))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List revoked and superseded permits.",
            discussion: """
            Examples:
              permit revocations list
              permit revocations list --json
            """
        )
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                let rows = try await data.service(signer: try reader.signer()).revocations().map(RevocationRow.init)
                if output.json { Console.out(JSONOutput.line(rows)); return }
                if rows.isEmpty { Console.out(lang.pick("（无吊销）", "(no revocations)")); return }
                Console.out(TextTable.render(header: lang.pick(["通行证编号", "吊销时间", "理由", "操作者", "取代者"], ["permit", "revoked", "reason", "by", "superseded by"]),
                                             rows: rows.map { [$0.number, $0.revokedAt, $0.reason, $0.actor, $0.supersededBy ?? ""] }))
            }
        }
    }
}

/// One blacklist entry as `blacklist` prints it; crew ID numbers masked.
struct BlacklistRow: Encodable {
    var id: Int64
    var kind: String
    var value: String
    var reason: String
    var until: String?
    var addedAt: String
    var actor: String
    var removedAt: String?
    var removedReason: String?

    init(_ b: BlacklistRecord) {
        id = b.id ?? 0
        kind = b.kind.rawValue
        value = b.shownValue
        reason = b.reason
        until = b.until
        addedAt = Timestamps.string(b.addedAt)
        actor = b.actor
        removedAt = b.removedAt.map(Timestamps.string)
        removedReason = b.removedReason
    }
}

struct Blacklist: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bar a vehicle, a crew member or a firm from applying (admin key).",
        discussion: """
        A blacklisted party's application is refused at once, with the reason. Adding an entry \
        rejects the pending applications that name the party; --revoke-active also revokes its live permits.

        Examples:
          permit blacklist add --plate 浙A12345 --reason "超载运输" --until 2026-12-31 --admin-key permit-data/admin-key.pem
          permit blacklist add --credit-code 91330114MA24WY722X --reason "伪造证明" --revoke-active --admin-key admin-key.pem
          permit blacklist list --json
          permit blacklist remove 3 --reason "appeal upheld" --admin-key admin-key.pem
        """,
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Blacklist one party: --plate, --id-number or --credit-code.",
            discussion: """
            Examples:
              permit blacklist add --plate 浙A12345 --reason "超载运输" --admin-key admin-key.pem
              permit blacklist add --id-number 330106198001011235 --reason "证件造假" --until 2027-06-30 --admin-key admin-key.pem --json
            """
        )
        @Option(help: "A vehicle's plate.")
        var plate: String?
        @Option(name: .customLong("id-number"), help: "A crew member's document number.")
        var idNumber: String?
        @Option(name: .customLong("credit-code"), help: "A firm's unified social credit code.")
        var creditCode: String?
        @Option(help: "Why (shown to the refused applicant and kept in the audit trail).")
        var reason: String
        @Option(help: ArgumentHelp("Last day the entry applies (YYYY-MM-DD, China time); none means until removed.", valueName: "DATE"))
        var until: String?
        @Flag(name: .customLong("revoke-active"), help: "Also revoke the party's live permits.")
        var revokeActive = false
        @OptionGroup var admin: AdminKeyOption
        @OptionGroup var data: DataOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard [plate, idNumber, creditCode].compactMap({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --plate P, --id-number N and --credit-code C")
            }
        }

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                let (kind, value): (BlacklistRecord.Kind, String) =
                    plate.map { (.plate, $0) } ?? idNumber.map { (.idNumber, $0) } ?? (.creditCode, creditCode!)
                let admin = try admin.signer()
                let service = try await data.service(signer: admin)
                let result = try await service.blacklistAdd(Data(admin.action(.blacklistAdd, .init(reason: reason, kind: kind.rawValue, value: value, until: until,
                                                                                         revokeActive: revokeActive), authority: try await service.authority().code)))
                struct Out: Encodable { var entry: BlacklistRow; var rejected: [String]; var revoked: [String] }
                let out = Out(entry: BlacklistRow(result.entry), rejected: result.rejected, revoked: result.revoked)
                if output.json { Console.out(JSONOutput.line(out)); return }
                Console.out(lang.pick("已列入黑名单 #\(out.entry.id)：\(kind.rawValue) \(out.entry.value)（\(reason)）",
                                      "Blacklisted #\(out.entry.id): \(kind.rawValue) \(out.entry.value) (\(reason))"))
                Console.out(lang.pick("驳回待审申请 \(out.rejected.count) 件", "rejected \(out.rejected.count) pending application(s)")
                            + (out.rejected.isEmpty ? "" : ": " + out.rejected.joined(separator: ", ")))
                if revokeActive {
                    Console.out(lang.pick("吊销有效通行证 \(out.revoked.count) 张", "revoked \(out.revoked.count) live permit(s)")
                                + (out.revoked.isEmpty ? "" : ": " + out.revoked.joined(separator: ", ")))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List blacklist entries.",
            discussion: """
            Examples:
              permit blacklist list
              permit blacklist list --removed --json
            """
        )
        @Flag(help: "Include lifted entries.")
        var removed = false
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                let rows = try await data.service(signer: try reader.signer()).blacklist(includeRemoved: removed).map(BlacklistRow.init)
                if output.json { Console.out(JSONOutput.line(rows)); return }
                if rows.isEmpty { Console.out(lang.pick("（黑名单为空）", "(the blacklist is empty)")); return }
                Console.out(TextTable.render(
                    header: lang.pick(["#", "类型", "对象", "理由", "截止", "列入时间", "移除"], ["#", "kind", "party", "reason", "until", "added", "removed"]),
                    rows: rows.map { row in ["\(row.id)", row.kind, row.value, row.reason, row.until ?? "", row.addedAt,
                                             row.removedAt.map { "\($0) \(row.removedReason ?? "")" } ?? ""] }))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift a blacklist entry by its number.",
            discussion: """
            Examples:
              permit blacklist remove 3 --reason "appeal upheld" --admin-key admin-key.pem
            """
        )
        @Argument(help: "The entry's number, as `blacklist list` shows.")
        var id: Int64
        @Option(help: "Why it is lifted.")
        var reason: String
        @OptionGroup var admin: AdminKeyOption
        @OptionGroup var data: DataOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json, refusalCodes: ["blacklist.notFound"]) {
                let admin = try admin.signer()
                let service = try await data.service(signer: admin)
                let row = BlacklistRow(try await service.blacklistRemove(Data(admin.action(.blacklistRemove, .init(reason: reason, id: id), authority: try await service.authority().code))))
                if output.json { Console.out(JSONOutput.line(row)); return }
                Console.out(lang.pick("已移出黑名单 #\(row.id)：\(row.kind) \(row.value)", "Removed blacklist entry #\(row.id): \(row.kind) \(row.value)"))
            }
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database (SQLite online backup) while it is in use.",
        discussion: """
        The copy holds everything but the private keys, which stay in their files. See the README \
        for restoring one; check a restored copy with `permit audit verify`.

        Examples:
          permit backup -o /backup/permit-2026-11-30.sqlite
        """
    )
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The backup file; must not exist.", valueName: "FILE"))
    var outputFile: String
    @Option(help: ArgumentHelp("The authority whose database is copied, where the data directory hosts several.", valueName: "CODE"))
    var authority: String?
    @OptionGroup var data: LocalDataOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reporting(json: output.json) {
            guard !FileManager.default.fileExists(atPath: outputFile) else {
                throw CommandFailure("backup.exists", "-o \(outputFile) already exists; refusing to overwrite it", field: "output",
                                     value: outputFile, rule: "a new file")
            }
            let service = try await data.localService(authority: authority)
            try await service.backup(to: outputFile)
            if output.json {
                Console.out(JSONOutput.line(["file": outputFile]))
            } else {
                Console.out(output.language.pick("已备份到 \(outputFile)", "Backed up to \(outputFile)"))
            }
        }
    }
}
