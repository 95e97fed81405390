// PermitRouting: which departments must approve an application, and why.
//
// Routing is data: a decision table (`routing.json`, bundled as the default; an authority may
// put its own copy in its data directory). Every matching rule contributes its departments,
// the required set is their union, and when nothing matches the table's fallback applies.
// Each decision records the SHA-256 of the exact table bytes that produced it.
import Crypto
import Foundation
import PermitModel
import PermitSchemas

/// A text in Chinese and English.
public struct LocalizedText: Codable, Sendable, Hashable {
    /// Chinese.
    public var zh: String
    /// English.
    public var en: String
    /// Creates a text.
    public init(zh: String, en: String) { self.zh = zh; self.en = en }
    /// The text in `language`.
    public func text(in language: DisplayLanguage) -> String { language == .zh ? zh : en }
}

/// One rule of the decision table.
public struct RoutingRule: Codable, Sendable, Hashable {
    /// The conditions of a rule. Each one given must hold; none given matches everything.
    public struct Condition: Codable, Sendable, Hashable {
        /// Holds if the load includes any of these category slugs.
        public var categories: [String]?
        /// Holds if the origin county lies in one of these 2-digit province codes.
        public var originProvince: [String]?
        /// Holds if the destination county lies in one of these 2-digit province codes.
        public var destinationProvince: [String]?
        /// Creates a condition.
        public init(categories: [String]? = nil, originProvince: [String]? = nil, destinationProvince: [String]? = nil) {
            self.categories = categories; self.originProvince = originProvince; self.destinationProvince = destinationProvince
        }
    }
    /// A stable identifier, unique in the table.
    public var id: String
    /// When the rule applies.
    public var when: Condition
    /// The departments it requires.
    public var departments: [Department]
    /// Why, for people.
    public var why: LocalizedText
}

/// What routed one application.
public struct MatchedRule: Codable, Sendable, Hashable {
    /// The rule's id, or `"fallback"`.
    public var id: String
    /// Why, for people.
    public var why: LocalizedText
    /// The departments it contributed, sorted by number.
    public var departments: [Department]
}

/// The answer to "which departments must approve this application, and why".
public struct RoutingDecision: Codable, Sendable, Hashable {
    /// Every department that must approve, sorted by number, without repeats.
    public var departments: [Department]
    /// The rules that matched, in table order; the fallback when nothing matched.
    public var matchedRules: [MatchedRule]
    /// Whether the fallback decided.
    public var usedFallback: Bool
    /// Lowercase hex SHA-256 of the exact bytes of the table that decided.
    public var tableHash: String
    /// The table's `version`.
    public var tableVersion: Int

    /// Lines that explain the decision, for `permit route FILE --explain`.
    public func explain(in language: DisplayLanguage) -> [String] {
        let names = departments.map { $0.name(in: language) }
        var lines: [String] = []
        switch language {
        case .zh:
            lines.append("路由表 版本 \(tableVersion)，SHA-256 \(tableHash)")
            for r in matchedRules {
                let d = r.departments.map { $0.name(in: .zh) }.joined(separator: "、")
                lines.append(r.id == "fallback" ? "  兜底规则：\(r.why.zh) → \(d)" : "  规则 \(r.id)：\(r.why.zh) → \(d)")
            }
            lines.append("需审批部门：\(names.joined(separator: "、"))")
        case .en:
            lines.append("Routing table version \(tableVersion), SHA-256 \(tableHash)")
            for r in matchedRules {
                let d = r.departments.map { $0.name(in: .en) }.joined(separator: ", ")
                lines.append(r.id == "fallback" ? "  fallback: \(r.why.en) → \(d)" : "  rule \(r.id): \(r.why.en) → \(d)")
            }
            lines.append("Departments that must approve: \(names.joined(separator: ", "))")
        }
        return lines
    }
}

/// A routing table that could not be loaded, with every problem found in it.
public struct RoutingTableError: Error, ProblemConvertible, Sendable, CustomStringConvertible {
    /// Every problem, each naming the field (`rules[3].departments[0]`), the value and the rule.
    public let problems: [Problem]
    /// One problem per line.
    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

/// The routing decision table.
///
/// File format (`routing.json`):
/// ```json
/// {"format": "freight-permit-routing", "version": 1, "description": "…",
///  "rules": [{"id": "default-medical-supplies", "when": {"categories": ["medical-supplies"]},
///             "departments": ["HEALTH"], "why": {"zh": "…", "en": "…"}}],
///  "fallback": {"departments": ["TRANSPORT"], "why": {"zh": "…", "en": "…"}}}
/// ```
/// `when` may hold `categories` (any of these slugs), `originProvince` and
/// `destinationProvince` (2-digit codes); each given condition must hold. On load, unknown
/// members, unknown department codes, unknown category slugs, unknown province codes,
/// duplicate rule ids and rules without departments are errors that name them.
public struct RoutingTable: Sendable {
    /// The table's version.
    public let version: Int
    /// The rules, in file order.
    public let rules: [RoutingRule]
    /// The departments and reason used when nothing matches.
    public let fallback: MatchedRule
    /// Lowercase hex SHA-256 of the exact file bytes.
    public let hash: String

    /// The default table bundled with the binary.
    public static func bundled() throws -> RoutingTable {
        try RoutingTable(data: BundledSchemas.data("routing.json"), source: "routing.json (bundled)")
    }

    /// Loads and validates the table at `url`.
    public static func load(from url: URL) throws -> RoutingTable {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RoutingTableError(problems: [Problem(code: "routingTableUnreadable",
                                                       message: "cannot read the routing table \(url.lastPathComponent): \(error.localizedDescription)",
                                                       field: url.lastPathComponent, rule: "a readable file")])
        }
        return try RoutingTable(data: data, source: url.lastPathComponent)
    }

    /// The authority's own `<dataDirectory>/routing.json` if it exists, else the bundled table.
    public static func forDataDirectory(_ dataDirectory: URL) throws -> RoutingTable {
        let url = dataDirectory.appendingPathComponent("routing.json")
        return FileManager.default.fileExists(atPath: url.path) ? try load(from: url) : try bundled()
    }

    /// Parses and validates table bytes; `source` names the table in problems.
    public init(data: Data, source: String = "routing.json") throws {
        var problems: [Problem] = []
        func add(_ field: String, _ value: String?, _ rule: String, _ message: String) {
            problems.append(Problem(code: "invalidRoutingTable", message: "\(source): \(field): \(message)",
                                    field: field, value: value, rule: rule))
        }
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw RoutingTableError(problems: [Problem(code: "invalidRoutingTable", message: "\(source) is not valid JSON",
                                                       field: source, rule: "RFC 8259 JSON")])
        }
        func object(_ v: JSONValue?, _ path: String, _ keys: Set<String>, required: Set<String>) -> [String: JSONValue]? {
            guard case .object(let o)? = v else { add(path, nil, "a JSON object", "must be an object"); return nil }
            for k in o.keys.sorted() where !keys.contains(k) {
                add(path.isEmpty ? k : "\(path).\(k)", nil, "known members only", "unknown member \"\(k)\"")
            }
            for k in required.sorted() where o[k] == nil {
                add(path.isEmpty ? k : "\(path).\(k)", nil, "required", "is missing")
            }
            return o
        }
        func strings(_ v: JSONValue?, _ path: String) -> [String]? {
            guard let v else { return nil }
            guard case .array(let a) = v else { add(path, nil, "an array of strings", "must be an array of strings"); return nil }
            var out: [String] = []
            for (i, x) in a.enumerated() {
                if case .string(let s) = x { out.append(s) } else { add("\(path)[\(i)]", nil, "a string", "must be a string") }
            }
            return out
        }
        func departments(_ v: JSONValue?, _ path: String) -> [Department] {
            guard let codes = strings(v, path) else { return [] }
            if codes.isEmpty { add(path, nil, "at least one department", "names no department") }
            var out: [Department] = []
            for (i, c) in codes.enumerated() {
                if let d = Department(rawValue: c) { out.append(d) } else {
                    add("\(path)[\(i)]", c, "a department code of departments.json (TRANSPORT … POSTAL)", "unknown department \"\(c)\"")
                }
            }
            return Array(Set(out)).sorted()
        }
        func why(_ v: JSONValue?, _ path: String) -> LocalizedText {
            guard let o = object(v, path, ["zh", "en"], required: ["zh", "en"]) else { return LocalizedText(zh: "", en: "") }
            var t = LocalizedText(zh: "", en: "")
            if case .string(let s)? = o["zh"] { t.zh = s } else if o["zh"] != nil { add("\(path).zh", nil, "a string", "must be a string") }
            if case .string(let s)? = o["en"] { t.en = s } else if o["en"] != nil { add("\(path).en", nil, "a string", "must be a string") }
            return t
        }

        let top = object(root, "", ["format", "version", "description", "rules", "fallback"], required: ["version", "rules", "fallback"])
        var version = 0
        if case .int(let v)? = top?["version"] { version = v } else if top?["version"] != nil { add("version", nil, "an integer", "must be an integer") }
        if let f = top?["format"], f != .string("freight-permit-routing") {
            add("format", nil, "\"freight-permit-routing\"", "is not \"freight-permit-routing\"")
        }
        var rules: [RoutingRule] = []
        var ids = Set<String>()
        if case .array(let items)? = top?["rules"] {
            for (i, item) in items.enumerated() {
                let path = "rules[\(i)]"
                guard let o = object(item, path, ["id", "when", "departments", "why"], required: ["id", "when", "departments", "why"]) else { continue }
                var id = ""
                if case .string(let s)? = o["id"], !s.isEmpty { id = s } else { add("\(path).id", nil, "a non-empty string", "must be a non-empty string") }
                if !id.isEmpty && !ids.insert(id).inserted { add("\(path).id", id, "unique rule ids", "duplicate rule id \"\(id)\"") }
                var condition = RoutingRule.Condition()
                if let w = object(o["when"], "\(path).when", ["categories", "originProvince", "destinationProvince"], required: []) {
                    condition.categories = strings(w["categories"], "\(path).when.categories")
                    for (j, slug) in (condition.categories ?? []).enumerated() where CargoCategory.withSlug(slug) == nil {
                        add("\(path).when.categories[\(j)]", slug, "a category slug of cargo-categories.json", "unknown cargo category \"\(slug)\"")
                    }
                    for key in ["originProvince", "destinationProvince"] {
                        let codes = strings(w[key], "\(path).when.\(key)")
                        for (j, code) in (codes ?? []).enumerated() where !(code.count == 2 && Divisions.bundled.hasProvince(code)) {
                            add("\(path).when.\(key)[\(j)]", code, "a 2-digit province code such as 33", "unknown province code \"\(code)\"")
                        }
                        if key == "originProvince" { condition.originProvince = codes } else { condition.destinationProvince = codes }
                    }
                }
                rules.append(RoutingRule(id: id, when: condition, departments: departments(o["departments"], "\(path).departments"),
                                         why: why(o["why"], "\(path).why")))
            }
        } else if top?["rules"] != nil {
            add("rules", nil, "an array of rules", "must be an array")
        }
        var fallback = MatchedRule(id: "fallback", why: LocalizedText(zh: "", en: ""), departments: [])
        if let f = object(top?["fallback"], "fallback", ["departments", "why"], required: ["departments", "why"]) {
            fallback.departments = departments(f["departments"], "fallback.departments")
            fallback.why = why(f["why"], "fallback.why")
        }
        guard problems.isEmpty else { throw RoutingTableError(problems: problems) }
        self.version = version
        self.rules = rules
        self.fallback = fallback
        self.hash = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `rule` applies to `application`.
    public func matches(_ rule: RoutingRule, _ application: Application) -> Bool {
        let c = rule.when
        if let categories = c.categories, !categories.contains(where: application.cargo.categories.contains) { return false }
        if let provinces = c.originProvince, !provinces.contains(String(application.route.origin.county.prefix(2))) { return false }
        if let provinces = c.destinationProvince, !provinces.contains(String(application.route.destination.county.prefix(2))) { return false }
        return true
    }

    /// The departments that must approve `application`, and why. Routing reads the category
    /// slugs and county codes as given; validate the application first.
    public func route(_ application: Application) -> RoutingDecision {
        var matched: [MatchedRule] = []
        for rule in rules where matches(rule, application) {
            matched.append(MatchedRule(id: rule.id, why: rule.why, departments: rule.departments))
        }
        let usedFallback = matched.isEmpty
        if usedFallback { matched = [fallback] }
        let departments = Set(matched.flatMap(\.departments)).sorted()
        return RoutingDecision(departments: departments, matchedRules: matched, usedFallback: usedFallback,
                               tableHash: hash, tableVersion: version)
    }

    /// `route(valid.application)`.
    public func route(_ valid: ValidApplication) -> RoutingDecision { route(valid.application) }
}
