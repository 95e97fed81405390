import Foundation
import PermitSchemas

/// A cargo category of product.md, from the bundled `cargo-categories.json`.
///
/// `code` (1–19) is what the signed payload carries and never changes meaning; `slug` is what
/// application files and routing tables use.
public struct CargoCategory: Codable, Sendable, Hashable, Comparable {
    /// The payload code, 1–19.
    public var code: Int
    /// The file and routing-table name, `"medical-supplies"`.
    public var slug: String
    /// The Chinese name, 医疗物资与药品.
    public var nameZh: String
    /// The English name.
    public var nameEn: String

    /// The name in `language`.
    public func name(in language: DisplayLanguage) -> String { language == .zh ? nameZh : nameEn }

    /// All bundled categories, by code.
    public static let all: [CargoCategory] = {
        struct File: Codable { var categories: [CargoCategory] }
        do {
            let rows = try JSONDecoder().decode(File.self, from: BundledSchemas.data("cargo-categories.json")).categories
            return rows.sorted()
        } catch {
            fatalError("bundled cargo-categories.json is malformed: \(error)")
        }
    }()

    private static let bySlug: [String: CargoCategory] =
        Dictionary(all.map { ($0.slug, $0) }, uniquingKeysWith: { first, _ in first })
    private static let byCode: [Int: CargoCategory] =
        Dictionary(all.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })

    /// The category with this slug (exact, case-sensitive), or nil.
    public static func withSlug(_ slug: String) -> CargoCategory? { bySlug[slug] }
    /// The category with this payload code, or nil.
    public static func withCode(_ code: Int) -> CargoCategory? { byCode[code] }

    /// Orders categories by payload code.
    public static func < (lhs: CargoCategory, rhs: CargoCategory) -> Bool { lhs.code < rhs.code }
}
