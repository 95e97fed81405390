import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitRouting
import PermitSeal

/// The `--format` of application files.
enum ApplicationFormatOption: String, ExpressibleByArgument, CaseIterable {
    case auto, json, jsonl, csv

    /// The parser's format; `auto` first tries the file name's extension, then the content.
    func format(for path: String) -> ApplicationFile.Format {
        switch self {
        case .auto: return path == "-" ? .auto : ApplicationFile.Format(fileName: path)
        case .json: return .json
        case .jsonl: return .jsonl
        case .csv: return .csv
        }
    }
}

/// How one refused item reads for people: `#index reference ✗ field: message`, one line per problem.
func describeRefusal(index: Int, reference: String?, problems: [Problem]) -> String {
    let head = "#\(index) \(reference ?? "-") ✗ "
    let indent = String(repeating: " ", count: TextTable.width(head))
    return problems.enumerated().map { n, p in
        (n == 0 ? head : indent) + (p.field.map { "\($0): " } ?? "") + Language.requested.say(p)
    }.joined(separator: "\n")
}

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit applications signed with a firm's key: one permit, or a fleet's worth from a file.",
        discussion: """
        The file is JSON (one object or an array), JSON Lines, or CSV (see examples/). Each item is \
        validated, routed to the departments that answer for its cargo, and stored in its own \
        transaction: an invalid item never blocks the valid ones. A reference submitted before returns \
        the existing application. With --dry-run items are validated and routed and nothing is written.

        Output: one line per item (with --json, JSON Lines: index, reference, id, state, departments, \
        routingHash, or errors), then a summary on standard error. Exit 1 if any item was refused.

        Over --server URL (or PERMIT_SERVER) the items are signed here and sent in requests of 250. \
        A run that timed out or lost its connection can be run again as it is: a reference already \
        submitted returns its application, so nothing is submitted twice.

        Examples:
          permit apply --key firm.pem examples/applications.jsonl
          permit apply --key firm.pem fleet.jsonl --server https://permits.example.gov.cn
          permit apply --key firm.pem --dry-run fleet.csv
          cat one.json | permit apply --key firm.pem - --format json --json
        """
    )

    @OptionGroup var key: PartyKeyOption

    @Argument(help: "The application file, or - for standard input.")
    var file: String

    @Option(help: "The file's format.")
    var format: ApplicationFormatOption = .auto

    @Flag(name: .customLong("dry-run"), help: "Validate and route only; write nothing.")
    var dryRun = false

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        let results: [ApplyResult] = try await reporting(json: output.json) {
            let signer = try key.signer()
            let service = try await data.service(signer: signer)
            let items = ApplicationFile.parse(try InputFile.read(file), format: format.format(for: file), source: file)
            let progress = ProgressLine(total: items.count, label: lang.pick("提交", "applying"))
            defer { progress.finish() }
            return try await service.apply(signer.submissions(items), dryRun: dryRun, progress: progress.callback)
        }
        for r in results {
            if output.json {
                Console.out(JSONOutput.line(r))
            } else if let errors = r.errors {
                Console.out(describeRefusal(index: r.index, reference: r.reference, problems: errors))
            } else {
                let departments = "[" + (r.departments ?? []).joined(separator: ", ") + "]"
                let target = dryRun ? lang.pick("有效", "valid") : (r.id ?? "?")
                let note = r.duplicate == true ? lang.pick("（此前已提交，状态 \(r.state ?? "")）", " (submitted before, \(r.state ?? ""))") : ""
                Console.out("#\(r.index) \(r.reference ?? "-") → \(target) \(departments)\(note)")
            }
        }
        let refused = results.filter { !$0.succeeded }.count
        let done = results.count - refused
        let verb = dryRun ? lang.pick("有效", "valid") : lang.pick("已提交", "submitted")
        Console.error(lang.pick("\(verb) \(done)，被拒 \(refused)，共 \(results.count) 项\(dryRun ? "（试运行，未写入）" : "")",
                                "\(verb) \(done), refused \(refused), of \(results.count)\(dryRun ? " (dry run, nothing written)" : "")"))
        if refused > 0 { throw ExitCode(1) }
    }
}

/// One item of `permit route --json`.
struct RouteRow: Encodable {
    var index: Int
    var reference: String?
    var departments: [String]?
    var matchedRules: [MatchedRule]?
    var usedFallback: Bool?
    var routingHash: String?
    var errors: [Problem]?
}

struct Route: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show which departments each application would go to, and why.",
        discussion: """
        Uses the data directory's routing.json when it has one, else the bundled table; needs no \
        database and writes nothing. Items that cannot be read are reported (exit 1); the rules of \
        validation are checked by `permit apply --dry-run`.

        Examples:
          permit route examples/applications.jsonl
          permit route one.json --explain --lang zh
          permit route - --json < fleet.csv
        """
    )

    @Argument(help: "The application file, or - for standard input.")
    var file: String

    @Option(help: "The file's format.")
    var format: ApplicationFormatOption = .auto

    @Flag(help: "Show the rules that matched and why, and the table's hash.")
    var explain = false

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        let (table, items) = try await reporting(json: output.json) {
            (try RoutingTable.forDataDirectory(data.routingDirectory.url),
             ApplicationFile.parse(try InputFile.read(file), format: format.format(for: file), source: file))
        }
        if !output.json && !explain {
            Console.out(lang.pick("路由表 版本 \(table.version)，SHA-256 \(table.hash)", "Routing table version \(table.version), SHA-256 \(table.hash)"))
        }
        var refused = 0
        for item in items {
            guard let app = item.application else {
                refused += 1
                if output.json {
                    Console.out(JSONOutput.line(RouteRow(index: item.index, reference: item.reference, errors: item.problems)))
                } else {
                    Console.out(describeRefusal(index: item.index, reference: item.reference, problems: item.problems))
                }
                continue
            }
            let decision = table.route(app.normalized())
            if output.json {
                Console.out(JSONOutput.line(RouteRow(index: item.index, reference: item.reference, departments: decision.departments.map(\.rawValue),
                                                     matchedRules: decision.matchedRules, usedFallback: decision.usedFallback,
                                                     routingHash: decision.tableHash)))
                continue
            }
            let names = decision.departments.map { "\($0.rawValue) \($0.name(in: lang.display))" }.joined(separator: ", ")
            Console.out("#\(item.index) \(item.reference ?? "-") → \(names)")
            if explain {
                for line in decision.explain(in: lang.display) { Console.out("    " + line) }
            }
        }
        if refused > 0 {
            Console.error(lang.pick("\(refused) 项无法读取", "\(refused) item(s) could not be read"))
            throw ExitCode(1)
        }
    }
}
