import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitSeal

struct Amend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Amend an issued permit: the firm files a changed application linked to it.",
        discussion: """
        The file holds one application (JSON, JSON Lines or CSV, or - for standard input), signed \
        with the key of the firm that holds the permit. It is validated and routed as in `permit apply`; \
        its reference is the file's own, with -A1, -A2… appended if the firm used it before.

        A department keeps its approval when the amendment does not touch what it decided on: it is \
        still required after re-routing, the routing rules that required it are the same, and neither \
        the cargo (categories, description, weight) nor the route (origin, destination, via) changed. \
        Changes to crew, vehicle, validity or trips alone carry every approval over. Every other \
        required department decides again with `permit approve`. When every approval carried over, the \
        new permit is issued at once; on issuance it supersedes the amended permit.

        Output: the new application ID, the departments that carried over and those that must decide, \
        and the permit number if it was issued at once (--json: one JSON object). Exit 1 when the \
        amendment was refused (invalid, another firm's key, a permit revoked or superseded).

        Examples:
          permit amend 330114000001 new-crew.json --key firm.pem
          cat changed-cargo.json | permit amend 330114000001 - --key firm.pem --json
        """
    )

    @Argument(help: "The 12-digit number of the issued permit (or its application ID).")
    var number: String

    @Argument(help: "The changed application, or - for standard input.")
    var file: String

    @OptionGroup var key: PartyKeyOption

    @Option(help: "The file's format.")
    var format: ApplicationFormatOption = .auto

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    /// Refusals that mean "could not run" (exit 2) rather than "the amendment was refused" (exit 1).
    static let cannotRun: Set<String> = ["auth.notApplicant", "data.notInitialised", "store.io", "key.unreadable"]

    func run() async throws {
        let lang = output.language
        let result: AmendResult
        do {
            let signer = try key.signer()
            let service = try await data.service(signer: signer)
            let items = ApplicationFile.parse(try InputFile.read(file), format: format.format(for: file), source: file)
            guard items.count == 1 else {
                throw CommandFailure("amend.oneApplication", "\(file) holds \(items.count) applications; an amendment is one application",
                                     field: "file", value: file, rule: "exactly one application")
            }
            guard let application = items[0].application else { throw ProblemList(items[0].problems) }
            result = try await service.amend(number: number, application: application, submission: Data(signer.amendment(application, amends: number)))
        } catch var failure as CommandFailure {
            failure.json = failure.json || output.json
            throw failure
        } catch let error as ProblemConvertible {
            let problems = error.problems
            let couldNotRun = problems.isEmpty || problems.contains { Amend.cannotRun.contains($0.code) }
            throw CommandFailure(problems: problems, exitCode: couldNotRun ? 2 : 1, json: output.json)
        }
        if output.json {
            Console.out(JSONOutput.line(result))
            return
        }
        let none = lang.pick("无", "none")
        let carried = result.carriedOver.isEmpty ? none : result.carriedOver.joined(separator: ", ")
        let must = result.mustDecide.isEmpty ? none : result.mustDecide.joined(separator: ", ")
        Console.out(lang.pick("\(result.id)（\(result.reference)）变更通行证 \(result.amends)", "\(result.id) (\(result.reference)) amends permit \(result.amends)"))
        Console.out(lang.pick("  沿用原审批：\(carried)", "  approvals carried over: \(carried)"))
        Console.out(lang.pick("  需重新审批：\(must)", "  must decide again: \(must)"))
        if let issued = result.permitNumber {
            Console.out(lang.pick("  已签发 \(issued)，取代 \(result.amends)", "  issued \(issued), superseding \(result.amends)"))
        }
    }
}
