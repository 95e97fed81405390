import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitRender

/// What `permit export` can write. Adding a format is a case here and a branch in `Export.render`.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    /// The `FP1:` text the QR code carries.
    case payload
    /// The A4-landscape paper permit.
    case pdf
    /// The phone card (portrait PNG with the QR code and the key fields).
    case png
    /// The QR code alone, as PNG.
    case qrPNG = "qr-png"
    /// The QR code alone, as SVG.
    case qrSVG = "qr-svg"

    /// Whether the output is text (printed with a newline on a terminal) or bytes.
    var isText: Bool {
        switch self {
        case .payload, .qrSVG: return true
        case .pdf, .png, .qrPNG: return false
        }
    }

    /// The file name suffix of a batch export: `330114000001.pdf`, `330114000001.qr.png`.
    var fileExtension: String {
        switch self {
        case .payload: return "txt"
        case .pdf: return "pdf"
        case .png: return "png"
        case .qrPNG: return "qr.png"
        case .qrSVG: return "qr.svg"
        }
    }
}

/// One line of `permit export --out-dir DIR --json`.
struct ExportLine: Encodable {
    var index: Int
    var number: String
    var file: String?
    var errors: [Problem]?
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export issued permits: the FP1: payload, the paper permit (PDF), the phone card (PNG) or the QR code alone.",
        discussion: """
        Formats: payload (the signed FP1: text), pdf (the A4-landscape paper permit), png (the phone \
        card), qr-png and qr-svg (the QR code alone, level Q unless --ecc says otherwise).

        One permit: give its application ID or number. Without -o the result goes to standard \
        output; pdf, png and qr-png are binary and need -o FILE unless standard output is a pipe \
        or a file. An application that has no permit yet is refused (exit 1).

        Many permits: --state issued [--since YYYY-MM-DD] --out-dir DIR writes one file per \
        permit named by its number (330114000001.pdf, .png, .qr.png, .qr.svg, .txt); --since \
        keeps permits issued on or after that day, China Standard Time. With --json each permit \
        is one JSON line {index, number, file} or {index, number, errors}; exit 1 if any failed.

        Names on the paper are Chinese unless --lang en; the printed labels are bilingual.

        Examples:
          permit export 330114000001 --format payload
          permit export 330114000001 --format pdf -o 330114000001.pdf
          permit export A000123 --format png -o card.png --lang en
          permit export 330114000001 --format qr-png --ecc H --module-size 10 -o qr.png
          permit export 330114000001 --format qr-svg > qr.svg
          permit export --state issued --since 2026-12-01 --format pdf --out-dir permits/
          permit export 330114000001 --format payload | permit inspect - --key permit-data/issuer-key.pem
        """
    )

    @Argument(help: "An application ID (A000123) or a 12-digit permit number (not with --state).")
    var id: String?

    @Option(help: "What to write: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: ExportFormat

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @Option(help: ArgumentHelp("QR error-correction level: L, M, Q or H (default Q).", valueName: "LEVEL"))
    var ecc: String?

    @Option(name: .customLong("module-size"), help: ArgumentHelp("Pixels per module of --format qr-png, 1…100 (default 8).", valueName: "N"))
    var moduleSize: Int?

    @Option(help: ArgumentHelp("Export every application in this state (only issued ones have permits).", valueName: "STATE"))
    var state: String?

    @Option(help: ArgumentHelp("With --state: only permits issued on or after this day (China Standard Time).", valueName: "YYYY-MM-DD"))
    var since: String?

    @Option(name: .customLong("out-dir"), help: ArgumentHelp("With --state: the directory for the files, created if missing.", valueName: "DIR"))
    var outDir: String?

    @OptionGroup var data: DataOptions
    @OptionGroup var reader: ReaderKeyOptions
    @OptionGroup var outputOptions: OutputOptions

    /// The paper's language: Chinese unless asked (the permit is a Chinese document), not $LANG.
    var language: Language { outputOptions.lang ?? .zh }

    func run() async throws {
        let json = outputOptions.json
        let settings = try await reporting(json: json) { try checkedSettings() }
        if state != nil {
            try await runBatch(settings)
        } else {
            try await runOne(settings)
        }
    }

    /// What the options ask for, checked together before any work.
    struct Settings {
        var ecc: QRErrorCorrection
        var moduleSize: Int
        var sinceDay: CalendarDay?
    }

    func checkedSettings() throws -> Settings {
        func usage(_ code: String, _ message: String, field: String, value: String, rule: String) -> CommandFailure {
            CommandFailure("export.\(code)", message, field: field, value: value, rule: rule)
        }
        var level = QRErrorCorrection.Q
        if let ecc {
            guard let parsed = QRErrorCorrection(parsing: ecc) else {
                throw usage("ecc", "--ecc \(ecc) is not a QR error-correction level", field: "ecc", value: ecc, rule: "one of L, M, Q, H")
            }
            level = parsed
        }
        if let moduleSize {
            guard format == .qrPNG else {
                throw usage("moduleSize", "--module-size applies to --format qr-png only, not \(format.rawValue)", field: "module-size",
                            value: "\(moduleSize)", rule: "only with --format qr-png")
            }
            guard (1...100).contains(moduleSize) else {
                throw usage("moduleSize", "--module-size \(moduleSize) is outside 1…100", field: "module-size", value: "\(moduleSize)",
                            rule: "a whole number of pixels from 1 to 100")
            }
        }
        if let state {
            if let id {
                throw usage("arguments", "give either an ID or --state, not both", field: "id", value: id, rule: "one permit by ID, or many with --state")
            }
            guard state == ApplicationState.issued.rawValue else {
                throw usage("state", "--state \(state): only issued applications have permits to export", field: "state", value: state, rule: "issued")
            }
            guard let outDir, !outDir.isEmpty else {
                throw usage("outDir", "--state needs --out-dir DIR: one file per permit goes there", field: "out-dir", value: "",
                            rule: "a directory for the exported files")
            }
            if let output {
                throw usage("output", "-o \(output) names one file; with --state use --out-dir", field: "output", value: output, rule: "-o only with one ID")
            }
        } else {
            guard id != nil else {
                throw usage("arguments", "give an application ID or permit number, or --state issued --out-dir DIR", field: "id", value: "",
                            rule: "one permit by ID, or many with --state")
            }
            if let outDir {
                throw usage("outDir", "--out-dir \(outDir) is for --state; for one permit use -o FILE", field: "out-dir", value: outDir,
                            rule: "--out-dir only with --state")
            }
            if let since {
                throw usage("since", "--since \(since) is for --state", field: "since", value: since, rule: "--since only with --state")
            }
        }
        var sinceDay: CalendarDay?
        if let since {
            guard let day = CalendarDay(iso: since) else {
                throw usage("since", "--since \(since) is not a date", field: "since", value: since, rule: "a calendar date YYYY-MM-DD")
            }
            sinceDay = day
        }
        return Settings(ecc: level, moduleSize: moduleSize ?? 8, sinceDay: sinceDay)
    }

    // MARK: one permit

    func runOne(_ settings: Settings) async throws {
        let json = outputOptions.json
        try await reporting(json: json, refusalCodes: ["export.notIssued", "export.document"]) {
            guard output != nil || format.isText || !Console.isTerminal else {
                throw CommandFailure("export.terminal", "--format \(format.rawValue) is binary: give -o FILE, or redirect standard output",
                                     field: "output", value: "", rule: "binary formats (pdf, png, qr-png) need -o FILE when standard output is a terminal")
            }
            let service = try await data.service(signer: try reader.signer())
            let identifier = id ?? ""
            let permit = try await service.issuedPermit(identifier)
            let bytes = try render(permit, authority: try await service.authority(), settings: settings)
            if let output {
                do { try bytes.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                    throw CommandFailure("export.unwritable", "-o \(output): \(error.localizedDescription)", field: "output", value: output,
                                         rule: "a writable path")
                }
                if json { Console.out(JSONOutput.line(ExportLine(index: 0, number: permit.number, file: output))) }
            } else {
                FileHandle.standardOutput.write(bytes)
                if format == .payload { FileHandle.standardOutput.write(Data("\n".utf8)) }
            }
        }
    }

    // MARK: many permits

    func runBatch(_ settings: Settings) async throws {
        let json = outputOptions.json
        let lang = outputOptions.language
        let (authority, permits, directory) = try await reporting(json: json) { () -> (AuthorityRecord, [PermitRecord], URL) in
            let service = try await data.service(signer: try reader.signer())

            let permits = try await service.issuedPermits(since: settings.sinceDay)
            let directory = URL(fileURLWithPath: outDir!, isDirectory: true)
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw CommandFailure("export.outDir", "--out-dir \(outDir!): \(error.localizedDescription)", field: "out-dir", value: outDir!,
                                     rule: "a directory that exists or can be created, and is writable")
            }
            return (try await service.authority(), permits, directory)
        }
        let progress = ProgressLine(total: permits.count, label: lang.pick("导出", "exporting"), threshold: 0)
        var failed = 0
        for (index, permit) in permits.enumerated() {
            let file = directory.appendingPathComponent("\(permit.number).\(format.fileExtension)")
            var line = ExportLine(index: index, number: permit.number)
            do {
                let bytes = try render(permit, authority: authority, settings: settings)
                do { try bytes.write(to: file, options: .atomic) } catch {
                    throw CommandFailure("export.unwritable", "\(file.path): \(error.localizedDescription)", field: "file", value: file.path,
                                         rule: "a writable path")
                }
                line.file = file.path
            } catch let failure as CommandFailure {
                line.errors = failure.problems
            } catch let error as ProblemConvertible {
                line.errors = error.problems
            } catch {
                line.errors = [Problem(code: "export.failed", message: "permit \(permit.number): \(error)", field: "number", value: permit.number)]
            }
            if line.errors != nil { failed += 1 }
            progress.update(index + 1)
            if json {
                progress.finish()
                Console.out(JSONOutput.line(line))
            } else if let errors = line.errors {
                progress.finish()
                for p in errors { Console.error("permit: \(permit.number): " + lang.say(p)) }
            }
        }
        progress.finish()
        if !json {
            Console.out(lang.pick("导出 \(permits.count - failed) 份通行证到 \(directory.path)" + (failed > 0 ? "，失败 \(failed) 份" : ""),
                                  "exported \(permits.count - failed) permit(s) to \(directory.path)" + (failed > 0 ? ", \(failed) failed" : "")))
        }
        if failed > 0 { throw ExitCode(1) }
    }

    // MARK: rendering

    /// The permit in the chosen format. Render failures name the option that can fix them.
    func render(_ permit: PermitRecord, authority: AuthorityRecord, settings: Settings) throws -> Data {
        do {
            switch format {
            case .payload:
                return Data(permit.payload.utf8)
            case .pdf:
                return try PermitDocument.pdf([paper(permit, authority, settings)])
            case .png:
                return try PermitDocument.cardPNG(paper(permit, authority, settings))
            case .qrPNG:
                return try QRCode(text: permit.payload, ecc: settings.ecc).png(moduleSize: settings.moduleSize)
            case .qrSVG:
                return Data(try QRCode(text: permit.payload, ecc: settings.ecc).svg().utf8)
            }
        } catch let error as RenderError {
            if error.code == RenderError.textTooLargeCode {
                throw CommandFailure("export.render", "permit \(permit.number): \(error.message)", field: "ecc", value: settings.ecc.rawValue,
                                     rule: "a level whose largest QR code holds the payload (L holds the most)", exitCode: 1)
            }
            throw CommandFailure("export.render", "permit \(permit.number): \(error.message)", field: "format", value: format.rawValue,
                                 rule: "the renderer must succeed", exitCode: 1)
        }
    }

    private func paper(_ permit: PermitRecord, _ authority: AuthorityRecord, _ settings: Settings) throws -> PaperPermit {
        try PaperPermitMapping.paperPermit(permit, authority: authority, language: language.display, errorCorrection: settings.ecc)
    }
}
