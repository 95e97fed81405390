import Foundation

/// One application read from a file: either the decoded `Application` or the problems that
/// kept it from being read. Decoding checks structure only; `ApplicationValidator` checks rules.
public struct ApplicationFileItem: Sendable, Hashable {
    /// 0-based position among the file's items, in input order.
    public let index: Int
    /// 1-based line where the item starts (JSON Lines and CSV), nil for JSON.
    public let line: Int?
    /// The item's `reference`, when it could be read.
    public let reference: String?
    /// The application, or the problems of an unreadable item.
    public let outcome: Outcome

    /// What reading one item gave.
    public enum Outcome: Sendable, Hashable {
        /// The item was read.
        case application(Application)
        /// The item could not be read; every problem found.
        case problems([Problem])
    }

    /// Creates an item.
    public init(index: Int, line: Int?, reference: String?, outcome: Outcome) {
        self.index = index; self.line = line; self.reference = reference; self.outcome = outcome
    }

    /// The application, if the item was read.
    public var application: Application? {
        if case .application(let a) = outcome { return a }
        return nil
    }

    /// The problems, empty if the item was read.
    public var problems: [Problem] {
        if case .problems(let p) = outcome { return p }
        return []
    }
}

/// Reading application files: JSON (one object or an array of objects), JSON Lines, or CSV.
///
/// A malformed item never blocks the others: it becomes an item carrying problems.
///
/// **JSON Lines.** Lines are split on LF and a trailing CR is stripped; nothing else is
/// trimmed. Empty lines are skipped and do not count as items (`index` counts items, `line`
/// gives the line number). A line that is not a JSON object is an item with a problem.
///
/// **CSV** (RFC 4180: comma-separated, `"` quotes, `""` inside quotes, CRLF or LF, UTF-8 with an
/// optional BOM). The first record is a header naming the columns, in any order:
///
/// | column | application field | notes |
/// |---|---|---|
/// | reference | reference | required |
/// | applicant_name, applicant_credit_code, applicant_contact, applicant_phone | applicant.* | required |
/// | plate, plate_color | vehicle.plate, vehicle.plateColor | required |
/// | vehicle_type | vehicle.type | optional |
/// | crew1_name, crew1_id_type, crew1_id_number, crew1_phone, crew1_role | crew[0] | required, except `_id_type` (empty = resident-id) |
/// | crew2_…, crew3_… | crew[1], crew[2] | optional columns; a member is present when any of its cells is non-empty |
/// | cargo_categories | cargo.categories | slugs separated by `;` |
/// | cargo_description | cargo.description | required |
/// | weight_kg | cargo.weightKg | whole number |
/// | origin_county, origin_address | route.origin | address optional |
/// | destination_county, destination_address | route.destination | address optional |
/// | via | route.via | codes separated by `;`, optional |
/// | valid_from, valid_to | validity.from, validity.to | YYYY-MM-DD |
/// | trips | trips | single or multiple |
///
/// An empty cell of an optional column means absent. Completely empty records are skipped. A
/// missing required column or an unknown column is reported on every record; a record whose
/// cell count differs from the header's is an item with a problem.
public enum ApplicationFile {
    /// The file format.
    public enum Format: String, Sendable, CaseIterable {
        /// Detect: `[` → JSON; `{` → JSON if the whole input is one value, else JSON Lines;
        /// anything else → CSV.
        case auto
        /// One object or an array of objects.
        case json
        /// One object per line.
        case jsonl
        /// The flat CSV layout.
        case csv

        /// The format a file name's extension suggests (`.json`, `.jsonl`/`.ndjson`, `.csv`), else `.auto`.
        public init(fileName: String) {
            switch (fileName as NSString).pathExtension.lowercased() {
            case "json": self = .json
            case "jsonl", "ndjson": self = .jsonl
            case "csv": self = .csv
            default: self = .auto
            }
        }
    }

    /// The CSV columns, in the order `csv(_:)` writes them.
    public static let csvColumns: [String] = {
        var c = ["reference", "applicant_name", "applicant_credit_code", "applicant_contact", "applicant_phone",
                 "plate", "plate_color", "vehicle_type"]
        for n in 1...3 {
            c += ["name", "id_type", "id_number", "phone", "role"].map { "crew\(n)_\($0)" }
        }
        c += ["cargo_categories", "cargo_description", "weight_kg", "origin_county", "origin_address",
              "destination_county", "destination_address", "via", "valid_from", "valid_to", "trips"]
        return c
    }()

    static let requiredCSVColumns: [String] = [
        "reference", "applicant_name", "applicant_credit_code", "applicant_contact", "applicant_phone",
        "plate", "plate_color", "crew1_name", "crew1_id_number", "crew1_phone", "crew1_role",
        "cargo_categories", "cargo_description", "weight_kg", "origin_county", "destination_county",
        "valid_from", "valid_to", "trips",
    ]

    /// Reads every item of `data`, in input order.
    ///
    /// A file that holds no application (no bytes, only white space or blank lines, `[]`, or a
    /// CSV header without records) gives one item with the problem `file.empty`, so that it is
    /// reported and refused like an unreadable item rather than passing as an empty batch.
    /// `source` names the file in that problem: its path, or `-` for standard input.
    public static func parse(_ data: Data, format: Format = .auto, source: String? = nil) -> [ApplicationFileItem] {
        let items = parseItems(data, format: format)
        guard items.isEmpty else { return items }
        let name = source.map { $0 == "-" ? "standard input" : $0 } ?? "the file"
        return [ApplicationFileItem(index: 0, line: nil, reference: nil, outcome: .problems([
            Problem(code: ProblemCode.fileEmpty, message: "\(name) holds no applications",
                    field: "file", value: source, rule: "at least one application"),
        ]))]
    }

    private static func parseItems(_ data: Data, format: Format) -> [ApplicationFileItem] {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(data: bytes, encoding: .utf8) else {
            return [ApplicationFileItem(index: 0, line: nil, reference: nil, outcome: .problems([
                Problem(code: ProblemCode.invalidEncoding, message: "the file is not valid UTF-8 text",
                        rule: "UTF-8 text"),
            ]))]
        }
        // Nothing but white space holds no application, whatever the format.
        if text.unicodeScalars.allSatisfy(\.properties.isWhitespace) { return [] }
        switch format {
        case .json: return parseJSON(text)
        case .jsonl: return parseJSONLines(text)
        case .csv: return parseCSV(text)
        case .auto:
            switch text.unicodeScalars.first(where: { !$0.properties.isWhitespace }) {
            case "[": return parseJSON(text)
            case "{":
                // One parse decides: the whole input as one value is JSON, else it is JSON Lines.
                guard let value = try? JSONValue.parse(text.utf8) else { return parseJSONLines(text) }
                return items(of: value)
            default: return parseCSV(text)
            }
        }
    }

    /// Reads one application from JSON bytes leniently: the application, or every structural problem.
    public static func decodeApplication(_ data: Data) -> (application: Application?, problems: [Problem]) {
        let item = parseJSONValueItem(data, index: 0, line: nil)
        return (item.application, item.problems)
    }

    private static func item(_ value: JSONValue, index: Int, line: Int?) -> ApplicationFileItem {
        var reference: String?
        if case .object(let o) = value, case .string(let r)? = o["reference"] { reference = r }
        let (app, problems) = LenientApplicationReader.read(value)
        return ApplicationFileItem(index: index, line: line, reference: reference,
                                   outcome: app.map { .application($0) } ?? .problems(problems))
    }

    private static func malformed(_ error: JSONParseError, index: Int, line: Int?) -> ApplicationFileItem {
        let where_ = line.map { "line \($0)" } ?? "the file"
        return ApplicationFileItem(index: index, line: line, reference: nil, outcome: .problems([
            Problem(code: ProblemCode.malformedJSON, message: "\(where_) is not valid JSON: \(error)",
                    field: line.map { "line \($0)" }, rule: "RFC 8259 JSON"),
        ]))
    }

    private static func parseJSONValueItem<Bytes: Sequence<UInt8>>(_ data: Bytes, index: Int, line: Int?) -> ApplicationFileItem {
        do {
            return item(try JSONValue.parse(data), index: index, line: line)
        } catch {
            return malformed(error, index: index, line: line)
        }
    }

    private static func parseJSON(_ text: String) -> [ApplicationFileItem] {
        do {
            return items(of: try JSONValue.parse(text.utf8))
        } catch {
            return [malformed(error, index: 0, line: nil)]
        }
    }

    /// The items of a JSON file's value: each element of an array, or the one value.
    private static func items(of value: JSONValue) -> [ApplicationFileItem] {
        if case .array(let values) = value {
            return values.enumerated().map { item($1, index: $0, line: nil) }
        }
        return [item(value, index: 0, line: nil)]
    }

    private static func parseJSONLines(_ text: String) -> [ApplicationFileItem] {
        var items: [ApplicationFileItem] = []
        for (n, line) in TextLines.split(text).enumerated() {
            if line.isEmpty { continue }
            items.append(parseJSONValueItem(line.utf8, index: items.count, line: n + 1))
        }
        return items
    }

    // MARK: CSV

    struct CSVRecord { var line: Int; var cells: [String]; var error: String? }

    /// Splits RFC 4180 text into records, noting each record's first line.
    static func csvRecords(_ text: String) -> [CSVRecord] {
        var records: [CSVRecord] = []
        var cells: [String] = []
        var cell = String.UnicodeScalarView()
        var inQuotes = false, quotedCell = false
        var line = 1, recordLine = 1
        var error: String?
        let s = Array(text.unicodeScalars)
        var i = 0
        func endCell() { cells.append(String(cell)); cell = String.UnicodeScalarView(); quotedCell = false }
        func endRecord() {
            endCell()
            if !(cells.count == 1 && cells[0].isEmpty && error == nil) {
                records.append(CSVRecord(line: recordLine, cells: cells, error: error))
            }
            cells = []; error = nil
        }
        while i < s.count {
            let c = s[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < s.count, s[i + 1] == "\"" { cell.append("\""); i += 1 } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    cell.append(c)
                }
            } else {
                switch c {
                case ",": endCell()
                case "\"":
                    if cell.isEmpty && !quotedCell { inQuotes = true; quotedCell = true } else {
                        error = error ?? "a quote inside an unquoted cell"
                        cell.append(c)
                    }
                case "\r" where i + 1 < s.count && s[i + 1] == "\n":
                    break
                case "\n":
                    endRecord(); line += 1; recordLine = line
                default:
                    if quotedCell { error = error ?? "text after a closing quote" }
                    cell.append(c)
                }
            }
            i += 1
        }
        if inQuotes { error = error ?? "a quoted cell is not closed before the end of the file" }
        if !cell.isEmpty || !cells.isEmpty || quotedCell || error != nil { endRecord() }
        return records
    }

    private static func parseCSV(_ text: String) -> [ApplicationFileItem] {
        let records = csvRecords(text)
        guard let header = records.first else { return [] }
        let columns = header.cells
        var fileProblems: [Problem] = []
        if let e = header.error {
            fileProblems.append(Problem(code: ProblemCode.malformedCSV, message: "the CSV header (line \(header.line)) is malformed: \(e)",
                                        field: "line \(header.line)", rule: "RFC 4180 CSV"))
        }
        for name in columns where !csvColumns.contains(name) {
            fileProblems.append(Problem(code: ProblemCode.unknownField, message: "CSV column \(quote(name)) is not part of the layout",
                                        field: name, rule: "the CSV columns of application.schema.json"))
        }
        for name in requiredCSVColumns where !columns.contains(name) {
            fileProblems.append(Problem(code: ProblemCode.required, message: "the CSV has no \(name) column",
                                        field: name, rule: "required CSV column"))
        }
        var seen = Set<String>()
        for name in columns where !seen.insert(name).inserted {
            fileProblems.append(Problem(code: ProblemCode.malformedCSV, message: "CSV column \(quote(name)) appears twice",
                                        field: name, rule: "each column once"))
        }
        return records.dropFirst().enumerated().map { n, record in
            var problems = fileProblems
            var row: [String: String] = [:]
            for (i, name) in columns.enumerated() where i < record.cells.count { row[name] = row[name] ?? record.cells[i] }
            let reference = row["reference"].flatMap { $0.isEmpty ? nil : $0 }
            if let e = record.error {
                problems.append(Problem(code: ProblemCode.malformedCSV, message: "CSV line \(record.line) is malformed: \(e)",
                                        field: "line \(record.line)", rule: "RFC 4180 CSV"))
            }
            if record.cells.count != columns.count {
                problems.append(Problem(code: ProblemCode.malformedCSV,
                                        message: "CSV line \(record.line) has \(record.cells.count) cells; the header has \(columns.count)",
                                        field: "line \(record.line)", value: String(record.cells.count),
                                        rule: "every record has as many cells as the header"))
            }
            let (app, rowProblems) = application(fromCSV: row)
            problems += rowProblems
            let outcome: ApplicationFileItem.Outcome = problems.isEmpty && app != nil ? .application(app!) : .problems(problems)
            return ApplicationFileItem(index: n, line: record.line, reference: reference, outcome: outcome)
        }
    }

    private static func application(fromCSV row: [String: String]) -> (Application?, [Problem]) {
        func v(_ k: String) -> String { row[k] ?? "" }
        func opt(_ k: String) -> String? { let s = v(k); return s.isEmpty ? nil : s }
        func list(_ k: String) -> [String] { v(k).split(separator: ";").map(String.init) }
        var problems: [Problem] = []
        var weight: Int?
        if let w = opt("weight_kg") {
            if ASCII.allDigits(w) || (w.first == "-" && ASCII.allDigits(w.dropFirst())), let i = Int(w) { weight = i } else {
                problems.append(Problem(code: ProblemCode.wrongType, message: "weight_kg \(quote(w)) is not a whole number",
                                        field: "weight_kg", value: w, rule: "a whole number of kilograms, digits only"))
            }
        }
        var crew: [Application.CrewMember] = []
        for n in 1...3 {
            let keys = ["name", "id_type", "id_number", "phone", "role"].map { "crew\(n)_\($0)" }
            if n > 1 && keys.allSatisfy({ v($0).isEmpty }) { continue }
            crew.append(.init(name: v(keys[0]), idNumber: v(keys[2]), phone: v(keys[3]), role: v(keys[4]),
                              documentType: opt(keys[1])))
        }
        let via = list("via")
        let app = Application(
            reference: v("reference"),
            applicant: .init(name: v("applicant_name"), creditCode: v("applicant_credit_code"),
                             contact: v("applicant_contact"), phone: v("applicant_phone")),
            vehicle: .init(plate: v("plate"), plateColor: v("plate_color"), type: opt("vehicle_type")),
            crew: crew,
            cargo: .init(categories: list("cargo_categories"), description: v("cargo_description"), weightKg: weight),
            route: .init(origin: .init(county: v("origin_county"), address: opt("origin_address")),
                         destination: .init(county: v("destination_county"), address: opt("destination_address")),
                         via: via.isEmpty ? nil : via),
            validity: .init(from: v("valid_from"), to: v("valid_to")),
            trips: v("trips"))
        return problems.isEmpty ? (app, []) : (nil, problems)
    }

    /// The CSV of `applications` in the layout above (header and one record per application,
    /// CRLF line ends, cells quoted when they contain `,`, `"`, CR or LF).
    public static func csv(_ applications: [Application]) -> String {
        func cell(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = csvColumns.joined(separator: ",") + "\r\n"
        for a in applications {
            var row: [String: String] = [
                "reference": a.reference, "applicant_name": a.applicant.name, "applicant_credit_code": a.applicant.creditCode,
                "applicant_contact": a.applicant.contact, "applicant_phone": a.applicant.phone, "plate": a.vehicle.plate,
                "plate_color": a.vehicle.plateColor, "vehicle_type": a.vehicle.type ?? "",
                "cargo_categories": a.cargo.categories.joined(separator: ";"), "cargo_description": a.cargo.description,
                "weight_kg": a.cargo.weightKg.map(String.init) ?? "", "origin_county": a.route.origin.county,
                "origin_address": a.route.origin.address ?? "", "destination_county": a.route.destination.county,
                "destination_address": a.route.destination.address ?? "", "via": (a.route.via ?? []).joined(separator: ";"),
                "valid_from": a.validity.from, "valid_to": a.validity.to, "trips": a.trips,
            ]
            for (i, m) in a.crew.prefix(3).enumerated() {
                let p = "crew\(i + 1)_"
                row[p + "name"] = m.name; row[p + "id_type"] = m.documentType ?? ""; row[p + "id_number"] = m.idNumber
                row[p + "phone"] = m.phone; row[p + "role"] = m.role
            }
            out += csvColumns.map { cell(row[$0] ?? "") }.joined(separator: ",") + "\r\n"
        }
        return out
    }
}

/// Line splitting that works on Unicode scalars: in Swift, CR LF is one `Character`, so
/// splitting a `String` on the `Character` "\n" would miss CRLF line ends.
enum TextLines {
    /// The lines of `text`, split on LF, with one trailing CR stripped from each; nothing else is trimmed.
    static func split(_ text: String) -> [Substring] {
        let scalars = text.unicodeScalars
        var lines: [Substring] = []
        var start = scalars.startIndex
        var i = start
        func end(_ upTo: String.UnicodeScalarView.Index) {
            var e = upTo
            if e > start, scalars[scalars.index(before: e)] == "\r" { e = scalars.index(before: e) }
            lines.append(Substring(scalars[start..<e]))
        }
        while i < scalars.endIndex {
            if scalars[i] == "\n" { end(i); start = scalars.index(after: i) }
            i = scalars.index(after: i)
        }
        end(scalars.endIndex)
        return lines
    }
}
