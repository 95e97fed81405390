import ArgumentParser
import Foundation
import PermitModel

/// The `permit` command: one subcommand per verb; this layer parses and formats only.
struct Permit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "permit",
        abstract: "Key-materials transport vehicle permits (重点物资运输车辆通行证): apply, approve, issue, verify.",
        discussion: """
        Exit codes: 0 success; 1 some items were refused or invalid (the others done, as reported); \
        2 could not run (usage, missing files, I/O, an unreadable key).
        The data directory is --data-dir DIR, else $PERMIT_HOME, else ./permit-data. With --server URL \
        (or $PERMIT_SERVER) the workflow verbs work on a permit server instead, each request signed \
        with your own key (--key or --admin-key); output and exit codes are the same.
        Time: the machine's clock, unless PERMIT_NOW is set to an RFC 3339 time \
        (e.g. PERMIT_NOW=2026-11-30T09:00:00+08:00), which then fixes "now" for validation, \
        deadlines and timestamps (reproducible demos, tests and replays).

        Examples:
          permit init --authority 330114 --name 杭州市钱塘区交通运输局 --phone 0571-86000000
          permit apply --key firm.pem examples/applications.jsonl
          permit approve --department HEALTH --key health.pem --all
          permit export 330114000001 --format payload
          PERMIT_SERVER=https://permits.example.gov.cn permit list --key firm.pem
        """,
        subcommands: [Init.self, Authority.self, Approver.self, Applicant.self, Apply.self, Route.self, List.self, Show.self, Queue.self,
                      Approve.self, Reject.self, Cancel.self, Amend.self, Revoke.self, Revocations.self, Blacklist.self,
                      Audit.self, Report.self, Backup.self, DatabaseVerbs.self, Export.self, Verify.self, Serve.self, Trust.self, Keys.self, Seal.self, Inspect.self],
        helpNames: [.short, .long]
    )
}

@main
enum Main {
    static func main() async {
        ServerLauncher.execIfServe()
        do {
            var command = try Permit.parseAsRoot()
            if var verb = command as? AsyncParsableCommand {
                try await verb.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// Prints the error and exits with the project's codes: usage errors are 2, not 64.
    static func exit(withError error: Error) -> Never {
        if let code = error as? ExitCode {
            Foundation.exit(code.rawValue)
        }
        if let failure = error as? CommandFailure {
            failure.report()
            Foundation.exit(failure.exitCode)
        }
        if let convertible = error as? ProblemConvertible {
            CommandFailure(problems: convertible.problems, exitCode: 2).report()
            Foundation.exit(2)
        }
        let code = Permit.exitCode(for: error)
        let message = Permit.fullMessage(for: error)
        if code == .success {
            print(message)
            Foundation.exit(0)
        }
        if !message.isEmpty { Console.error(message) }
        Foundation.exit(2)
    }
}
