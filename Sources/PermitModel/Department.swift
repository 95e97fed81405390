import Foundation
import PermitSchemas

/// One of the ten approving departments (product.md). The raw value is the textual code used in
/// routing tables, files and the CLI (`"HEALTH"`); `number` is the code the signed payload carries.
///
/// Names and review deadlines come from the bundled `departments.json`.
public enum Department: String, Codable, Sendable, CaseIterable, Comparable {
    /// 交通运输局, number 1.
    case transport = "TRANSPORT"
    /// 发展和改革局, number 2.
    case devReform = "DEVREFORM"
    /// 经济和信息化局, number 3.
    case industry = "INDUSTRY"
    /// 公安局, number 4.
    case publicSecurity = "PUBLIC_SECURITY"
    /// 农业农村局, number 5.
    case agriculture = "AGRICULTURE"
    /// 商务局, number 6.
    case commerce = "COMMERCE"
    /// 卫生健康局, number 7.
    case health = "HEALTH"
    /// 市场监督管理局, number 8.
    case marketRegulation = "MARKET_REGULATION"
    /// 能源局, number 9.
    case energy = "ENERGY"
    /// 邮政管理局, number 10.
    case postal = "POSTAL"

    /// The payload code, 1–10 in the order of product.md's table. It never changes meaning.
    public var number: Int { Department.allCases.firstIndex(of: self)! + 1 }

    /// The department with payload code `number`, or nil for an unknown number.
    public init?(number: Int) {
        guard (1...Department.allCases.count).contains(number) else { return nil }
        self = Department.allCases[number - 1]
    }

    /// The textual code, `"HEALTH"`.
    public var code: String { rawValue }

    /// The Chinese name, 卫生健康局.
    public var nameZh: String { DepartmentInfo.table[self]!.nameZh }
    /// The English name, "Health Bureau".
    public var nameEn: String { DepartmentInfo.table[self]!.nameEn }
    /// The name in `language`.
    public func name(in language: DisplayLanguage) -> String { language == .zh ? nameZh : nameEn }
    /// Hours the department has to review an application (same day = 8, one working day = 24).
    public var reviewDeadlineHours: Int { DepartmentInfo.table[self]!.reviewDeadlineHours }

    /// Orders departments by their payload number.
    public static func < (lhs: Department, rhs: Department) -> Bool { lhs.number < rhs.number }
}

/// One row of `departments.json`.
public struct DepartmentInfo: Codable, Sendable, Hashable {
    /// The payload number, 1–10.
    public var number: Int
    /// The textual code, `"HEALTH"`.
    public var code: String
    /// The Chinese name.
    public var nameZh: String
    /// The English name.
    public var nameEn: String
    /// Review deadline in hours.
    public var reviewDeadlineHours: Int

    struct File: Codable { var departments: [DepartmentInfo] }

    /// The bundled table as read from `departments.json`, in file order.
    public static let bundledRows: [DepartmentInfo] = {
        do {
            return try JSONDecoder().decode(File.self, from: BundledSchemas.data("departments.json")).departments
        } catch {
            fatalError("bundled departments.json is malformed: \(error)")
        }
    }()

    static let table: [Department: DepartmentInfo] = {
        var table: [Department: DepartmentInfo] = [:]
        for row in bundledRows {
            guard let department = Department(rawValue: row.code), department.number == row.number else {
                fatalError("bundled departments.json: \(row.code) does not match number \(row.number)")
            }
            table[department] = row
        }
        guard table.count == Department.allCases.count else {
            fatalError("bundled departments.json lists \(table.count) of the \(Department.allCases.count) departments")
        }
        return table
    }()
}
