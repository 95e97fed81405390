import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitSeal

/// Prints the results of `approve`/`reject` and sets the exit code.
enum DecisionOutput {
    static func report(_ results: [DecisionResult], service: any PermitService, output: OutputOptions) async throws {
        let lang = output.language
        for r in results {
            if output.json {
                Console.out(JSONOutput.line(r))
                continue
            }
            let id = r.id ?? r.input
            if let errors = r.errors {
                Console.out("\(id) ✗ " + errors.map(lang.say).joined(separator: "; "))
            } else if r.state == ApplicationState.issued.rawValue {
                Console.out(lang.pick("\(id) → 已发证 \(r.permitNumber ?? "") (\(r.issueMicros ?? 0) µs)",
                                      "\(id) → issued \(r.permitNumber ?? "") (\(r.issueMicros ?? 0) µs)"))
            } else if r.state == ApplicationState.rejected.rawValue {
                Console.out(lang.pick("\(id) → 已驳回", "\(id) → rejected"))
            } else {
                let waiting = (try? await service.history(id).required.filter { $0.state == .pending }.map(\.department)) ?? []
                Console.out(lang.pick("\(id) → 已同意，等待 \(waiting.joined(separator: "、"))",
                                      "\(id) → approved, waiting for \(waiting.joined(separator: ", "))"))
            }
        }
        let failed = results.filter { !$0.succeeded }.count
        let issued = results.filter { $0.state == ApplicationState.issued.rawValue }.count
        Console.error(lang.pick("完成 \(results.count - failed)（发证 \(issued)），失败 \(failed)，共 \(results.count) 项",
                                "done \(results.count - failed) (issued \(issued)), failed \(failed), of \(results.count)"))
        if failed > 0 { throw ExitCode(1) }
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign approvals for a department; the last approval an application needs issues its permit.",
        discussion: """
        The key must be a registered approver of the department, else nothing is written (exit 2). \
        Applications are written in groups of up to 64 per transaction, each in its own savepoint: one \
        that cannot be approved (not pending, not routed to this department, already decided) is \
        reported, leaves nothing behind, and the others go on (exit 1).

        Output per item: `A000123 → issued 330114000001 (312 µs)`, `A000123 → approved, waiting for \
        TRANSPORT` or `A000123 ✗ reason`; with --json, JSON Lines (index, input, id, department, \
        decision, state, permitNumber, issueMicros, or errors).

        Over --server URL (or PERMIT_SERVER) each decision is signed here and sent in requests of 250. \
        A run that timed out can be run again: a decision already recorded is reported as already \
        decided, never applied twice.

        Examples:
          permit approve --department HEALTH --key health.pem A000001 A000002
          permit approve --department HEALTH --key health.pem --all --server https://permits.example.gov.cn
          permit approve --department HEALTH --key health.pem --all --json
          permit approve --department POSTAL --key postal.pem --from ids.txt --condition "限走绕城高速"
          permit list --state pending --json | jq -r '.[].id' | permit approve --department TRANSPORT --key transport.pem -
        """
    )

    @OptionGroup var department: DepartmentOption
    @OptionGroup var key: PartyKeyOption

    @Argument(help: "Application IDs or permit numbers; - reads them one per line from standard input.")
    var ids: [String] = []

    @Flag(help: "Every application in the department's queue.")
    var all = false

    @Option(help: ArgumentHelp("Read IDs one per line from FILE.", valueName: "FILE"))
    var from: String?

    @Option(help: ArgumentHelp("A condition the permit carries (repeatable).", valueName: "TEXT"))
    var condition: [String] = []

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        let sources = (ids.isEmpty ? 0 : 1) + (all ? 1 : 0) + (from == nil ? 0 : 1)
        guard sources == 1 else { throw ValidationError("give the applications exactly one way: IDs, -, --all or --from FILE") }
    }

    func run() async throws {
        let (all, from, ids, d) = (all, from, ids, department.department)
        try await DecisionVerb.run(department: d, key: key, approve: true, conditions: condition, reason: nil,
                                   data: data, output: output) { service in
            if all {
                // The whole queue, however many pages it holds.
                return try await PageOptions.every { limit, after in
                    try await service.queue(QueueQuery(department: d, limit: limit, after: after))
                }.map(\.application.publicID)
            }
            if let from { return try IdentifierInput.lines(from: from) }
            return ids == ["-"] ? try IdentifierInput.lines(from: "-") : ids
        }
    }
}

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign rejections for a department, with a reason; a rejection closes the application.",
        discussion: """
        The key must be a registered approver of the department, else nothing is written (exit 2).

        Examples:
          permit reject --department HEALTH --key health.pem A000007 --reason "货物与品类不符"
          permit reject --department TRANSPORT --key transport.pem A000008 A000009 --reason "route closed" --json
          permit reject --department TRANSPORT --key transport.pem - --reason "route closed" < ids.txt
        """
    )

    @OptionGroup var department: DepartmentOption
    @OptionGroup var key: PartyKeyOption

    @Argument(help: "Application IDs or permit numbers; - reads them one per line from standard input.")
    var ids: [String]

    @Option(help: "Why (kept with the signed decision and shown to the firm).")
    var reason: String

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let ids = ids
        try await DecisionVerb.run(department: department.department, key: key, approve: false, conditions: [], reason: reason,
                                   data: data, output: output) { _ in
            ids == ["-"] ? try IdentifierInput.lines(from: "-") : ids
        }
    }
}

/// What `permit cancel --json` prints.
struct CancelRow: Encodable {
    var id: String
    var reference: String
    var state: String
    var reason: String?
    var closedAt: String?
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a pending application with the applicant firm's key.",
        discussion: """
        Only a pending application can be cancelled (exit 1 otherwise); an issued permit is revoked \
        by the authority instead.

        Examples:
          permit cancel A000123 --key firm.pem
          permit cancel A000123 --key firm.pem --reason "truck broke down" --json
        """
    )

    @Argument(help: "An application ID (A000123).")
    var id: String

    @OptionGroup var key: PartyKeyOption

    @Option(help: "Why (kept in the audit trail).")
    var reason: String?

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        try await reporting(json: output.json, refusalCodes: ["application.notPending"]) {
            let signer = try key.signer()
            let service = try await data.service(signer: signer)
            let record = try await service.cancel(Data(signer.action(.cancel, .init(reason: reason, application: id), authority: try await service.authority().code)))
            let row = CancelRow(id: record.publicID, reference: record.reference, state: record.state.rawValue, reason: record.closeReason,
                                closedAt: record.closedAt.map(Timestamps.string))
            if output.json {
                Console.out(JSONOutput.line(row))
            } else {
                Console.out(lang.pick("\(row.id)（\(row.reference)）已撤回：\(row.reason ?? "")", "\(row.id) (\(row.reference)) cancelled: \(row.reason ?? "")"))
            }
        }
    }
}
