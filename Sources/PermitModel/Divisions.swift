import Foundation
import PermitSchemas

/// An administrative division of GB/T 2260.
public struct Division: Codable, Sendable, Hashable {
    /// The level of a division.
    public enum Level: String, Codable, Sendable {
        /// 省级: province, autonomous region, municipality, SAR.
        case province
        /// 地级: prefecture-level city, prefecture, league, autonomous prefecture.
        case prefecture
        /// 县级: county, district, county-level city, banner.
        case county
    }
    /// The 6-digit code.
    public var code: String
    /// The name, 钱塘区.
    public var name: String
    /// The level.
    public var level: Level
    /// The parent's code, nil for a province.
    public var parent: String?
}

/// The table of administrative divisions: the bundled `admin-divisions.csv`
/// (`code,name,level,parent`), or one a caller parses.
///
/// A permit's origin and destination must be county level. A prefecture-level city that has no
/// counties under it (东莞市, 中山市, 嘉峪关市, 儋州市…) is itself the county-level unit there,
/// so `isCountyLevel` accepts it too.
public struct Divisions: Sendable {
    private let byCode: [String: Division]
    private let parentsWithChildren: Set<String>

    /// The bundled table, parsed once, on first use.
    public static let bundled: Divisions = {
        do {
            return try Divisions(csv: BundledSchemas.data("admin-divisions.csv"))
        } catch {
            fatalError("bundled admin-divisions.csv is malformed: \(error)")
        }
    }()

    /// Parses `code,name,level,parent` lines with a header line. Throws a `Problem` naming the
    /// first bad line.
    public init(csv data: Data) throws {
        guard let text = String(data: data, encoding: .utf8) else {
            throw Problem(code: ProblemCode.invalidEncoding, message: "the divisions table is not UTF-8",
                          field: "admin-divisions.csv", rule: "UTF-8 text")
        }
        var table: [String: Division] = [:]
        var parents = Set<String>()
        for (number, line) in TextLines.split(text).enumerated() {
            if number == 0 || line.isEmpty { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard cells.count == 4, cells[0].count == 6, cells[0].utf8.allSatisfy(ASCII.isDigit),
                  let level = Division.Level(rawValue: cells[2]) else {
                throw Problem(code: ProblemCode.malformedCSV, message: "line \(number + 1) of the divisions table is malformed: \(line)",
                              field: "admin-divisions.csv:\(number + 1)", value: String(line),
                              rule: "code,name,level,parent with a 6-digit code and level province|prefecture|county")
            }
            let parent = cells[3].isEmpty ? nil : cells[3]
            table[cells[0]] = Division(code: cells[0], name: cells[1], level: level, parent: parent)
            if let parent { parents.insert(parent) }
        }
        byCode = table
        parentsWithChildren = parents
    }

    /// Number of divisions in the table.
    public var count: Int { byCode.count }

    /// The division with this code, or nil.
    public func division(_ code: String) -> Division? { byCode[code] }

    /// The division's own name (钱塘区), or nil for an unknown code.
    public func name(of code: String) -> String? { byCode[code]?.name }

    /// The division and its ancestors, province first.
    public func lineage(of code: String) -> [Division] {
        var chain: [Division] = []
        var next: String? = code
        while let c = next, let d = byCode[c], chain.count < 4 {
            chain.insert(d, at: 0)
            next = d.parent
        }
        return chain
    }

    /// Province + prefecture + county for display, skipping a level that repeats its parent's
    /// name (municipalities): 浙江省杭州市钱塘区, 北京市东城区. Nil for an unknown code.
    public func fullName(of code: String) -> String? {
        let chain = lineage(of: code)
        guard !chain.isEmpty else { return nil }
        var names: [String] = []
        for d in chain where names.last != d.name { names.append(d.name) }
        return names.joined()
    }

    /// Whether `code` is a county-level unit: a county-level division, or a prefecture-level
    /// city without counties.
    public func isCountyLevel(_ code: String) -> Bool {
        guard let d = byCode[code] else { return false }
        return d.level == .county || (d.level == .prefecture && !parentsWithChildren.contains(code))
    }

    /// Whether the 2-digit province code (`"33"`) exists in the table.
    public func hasProvince(_ twoDigits: String) -> Bool {
        byCode[twoDigits + "0000"]?.level == .province
    }
}
