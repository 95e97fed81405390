import ArgumentParser
import Foundation
import PermitStore
import PermitWorkflow

/// What `permit export` can write. Adding a format is a case here and a branch in `Export.render`.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    /// The `FP1:` text the QR code carries.
    case payload

    /// Whether the output is text (printed with a newline on a terminal) or bytes.
    var isText: Bool {
        switch self {
        case .payload: return true
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export an issued permit: its FP1: payload (more formats to come).",
        discussion: """
        Formats: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")). Without -o the \
        result goes to standard output. An application that has no permit yet is refused (exit 1).

        Examples:
          permit export 330114000001 --format payload
          permit export A000123 --format payload -o permit.txt
          permit export 330114000001 --format payload | permit inspect - --key permit-data/issuer-key.pem
        """
    )

    @Argument(help: "An application ID (A000123) or a 12-digit permit number.")
    var id: String

    @Option(help: "What to write.")
    var format: ExportFormat

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @OptionGroup var data: DataOptions

    func run() throws {
        try reporting(json: false, refusalCodes: ["export.notIssued"]) {
            let workflow = try data.workflow()
            let app = try workflow.resolve(id)
            guard let permit = try workflow.store.read({ try $0.permit(applicationID: app.id!) }) else {
                throw CommandFailure("export.notIssued", "\(app.publicID) is \(app.state.rawValue); only an issued permit can be exported",
                                     field: "id", value: id, rule: "the application must have an issued permit", exitCode: 1)
            }
            let bytes = try render(permit)
            if let output {
                do { try bytes.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                    throw CommandFailure("export.unwritable", "-o \(output): \(error.localizedDescription)", field: "output", value: output,
                                         rule: "a writable path")
                }
            } else {
                FileHandle.standardOutput.write(bytes)
                if format.isText { FileHandle.standardOutput.write(Data("\n".utf8)) }
            }
        }
    }

    /// The permit in the chosen format.
    func render(_ permit: PermitRecord) throws -> Data {
        switch format {
        case .payload: return Data(permit.payload.utf8)
        }
    }
}
