import Foundation
import XCTest
import PermitModel
@testable import PermitRouting

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func fixture(categories: [String], origin: String = "330114", destination: String = "320508") throws -> Application {
    let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/typical-permit-application.json"))
    var app = try JSONDecoder().decode(Application.self, from: data)
    app.cargo.categories = categories
    app.route.origin.county = origin
    app.route.destination.county = destination
    return app
}

final class RoutingTests: XCTestCase {
    /// product.md's default table, written out here independently of routing.json.
    let expected: [String: [Department]] = [
        "epidemic-prevention": [.health], "medical-supplies": [.health], "daily-necessities": [.commerce],
        "foreign-trade": [.commerce], "grain-and-reserves": [.devReform], "food": [.marketRegulation],
        "cold-chain-food": [.marketRegulation], "farm-produce": [.agriculture], "livestock": [.agriculture],
        "farm-inputs": [.agriculture], "energy": [.energy], "industrial-materials": [.industry],
        "automotive": [.industry], "electronics": [.industry], "mail-and-parcels": [.postal],
        "dangerous-goods": [.transport, .publicSecurity], "explosives-and-toxics": [.publicSecurity],
        "construction-materials": [.transport], "other": [.transport],
    ]

    func testEveryCategoryRoutesToItsDefaultDepartments() throws {
        let table = try RoutingTable.bundled()
        XCTAssertEqual(expected.count, 19)
        XCTAssertEqual(Set(CargoCategory.all.map(\.slug)), Set(expected.keys))
        for category in CargoCategory.all {
            let decision = table.route(try fixture(categories: [category.slug]))
            XCTAssertEqual(decision.departments, expected[category.slug], category.slug)
            XCTAssertFalse(decision.usedFallback)
            XCTAssertEqual(decision.matchedRules.count, 1)
            XCTAssertFalse(decision.matchedRules[0].why.zh.isEmpty)
            XCTAssertFalse(decision.matchedRules[0].why.en.isEmpty)
        }
    }

    func testMedicinesAndParcelsNeedHealthAndPostal() throws {
        let decision = try RoutingTable.bundled().route(try fixture(categories: ["mail-and-parcels", "medical-supplies"]))
        XCTAssertEqual(decision.departments, [.health, .postal])
        XCTAssertEqual(decision.departments.map(\.number), [7, 10])
        XCTAssertEqual(decision.matchedRules.map(\.id), ["default-medical-supplies", "default-mail-and-parcels"])
    }

    func testDangerousGoodsNeedTransportAndPublicSecurity() throws {
        let decision = try RoutingTable.bundled().route(try fixture(categories: ["dangerous-goods", "explosives-and-toxics"]))
        XCTAssertEqual(decision.departments, [.transport, .publicSecurity])
        XCTAssertEqual(decision.matchedRules.count, 2)
    }

    func testFallbackWhenNothingMatches() throws {
        let decision = try RoutingTable.bundled().route(try fixture(categories: ["not-a-category"]))
        XCTAssertTrue(decision.usedFallback)
        XCTAssertEqual(decision.departments, [.transport])
        XCTAssertEqual(decision.matchedRules.map(\.id), ["fallback"])
    }

    func testBundledHashIsTheFileBytesHash() throws {
        let table = try RoutingTable.bundled()
        let again = try RoutingTable(data: try Data(contentsOf: repositoryRoot.appendingPathComponent("Schemas/routing.json")))
        XCTAssertEqual(table.hash, again.hash)
        XCTAssertEqual(table.hash.count, 64)
        XCTAssertTrue(table.hash.allSatisfy { "0123456789abcdef".contains($0) })
        XCTAssertEqual(table.route(try fixture(categories: ["food"])).tableHash, table.hash)
    }

    func testHashOfKnownBytes() throws {
        // sha256 of these exact bytes, computed with Python's hashlib.
        let text = #"{"version": 7, "rules": [], "fallback": {"departments": ["ENERGY"], "why": {"zh": "兜底", "en": "fallback"}}}"#
        let table = try RoutingTable(data: Data(text.utf8))
        XCTAssertEqual(table.hash, "b7c32007f2dcccbc98d56a8bc2e5852fc737446c22da5ff7414e91f4ad3a108b")
        let decision = table.route(try fixture(categories: ["food"]))
        XCTAssertEqual(decision.departments, [.energy])
        XCTAssertEqual(decision.tableVersion, 7)
        // One more space: same meaning, different bytes, different hash.
        XCTAssertNotEqual(try RoutingTable(data: Data((text + " ").utf8)).hash, table.hash)
    }

    func testOverrideTableFromDataDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Without an override, the data directory gives the bundled table.
        XCTAssertEqual(try RoutingTable.forDataDirectory(dir).hash, try RoutingTable.bundled().hash)

        let override = """
        {"format": "freight-permit-routing", "version": 2,
         "rules": [
          {"id": "cold-chain", "when": {"categories": ["cold-chain-food"]}, "departments": ["MARKET_REGULATION", "HEALTH"],
           "why": {"zh": "冷链食品需卫健核酸检测", "en": "Cold chain needs health checks"}},
          {"id": "into-shanghai", "when": {"destinationProvince": ["31"]}, "departments": ["TRANSPORT"],
           "why": {"zh": "进沪车辆", "en": "Bound for Shanghai"}},
          {"id": "zj-food", "when": {"categories": ["food"], "originProvince": ["33"]}, "departments": ["COMMERCE"],
           "why": {"zh": "浙江发出的食品", "en": "Food from Zhejiang"}}
         ],
         "fallback": {"departments": ["DEVREFORM"], "why": {"zh": "其他", "en": "Anything else"}}}
        """
        let url = dir.appendingPathComponent("routing.json")
        try Data(override.utf8).write(to: url)
        let table = try RoutingTable.forDataDirectory(dir)
        XCTAssertEqual(table.version, 2)
        XCTAssertNotEqual(table.hash, try RoutingTable.bundled().hash)

        XCTAssertEqual(table.route(try fixture(categories: ["cold-chain-food"])).departments, [.health, .marketRegulation])
        let shanghai = table.route(try fixture(categories: ["cold-chain-food"], destination: "310104"))
        XCTAssertEqual(shanghai.departments, [.transport, .health, .marketRegulation])
        XCTAssertEqual(shanghai.matchedRules.map(\.id), ["cold-chain", "into-shanghai"])
        XCTAssertEqual(table.route(try fixture(categories: ["food"])).departments, [.commerce])
        XCTAssertEqual(table.route(try fixture(categories: ["food"], origin: "320508")).departments, [.devReform])
        XCTAssertTrue(table.route(try fixture(categories: ["medical-supplies"])).usedFallback)

        // Changing the file changes the hash that decisions record.
        try Data(override.replacingOccurrences(of: "\"version\": 2", with: "\"version\": 3").utf8).write(to: url)
        let changed = try RoutingTable.load(from: url)
        XCTAssertNotEqual(changed.hash, table.hash)
        XCTAssertEqual(changed.route(try fixture(categories: ["food"])).tableHash, changed.hash)
    }

    func testInvalidTablesNameEveryBadEntry() throws {
        let bad = """
        {"version": 1, "rules": [
          {"id": "a", "when": {"categories": ["medical-suplies"], "destinationProvnce": ["31"]}, "departments": ["HEATH"], "why": {"zh": "x", "en": "x"}},
          {"id": "a", "when": {"originProvince": ["3"]}, "departments": [], "why": {"zh": "x", "en": "x"}}
         ],
         "fallback": {"departments": ["TRANSPORT"], "why": {"zh": "x", "en": "x"}}}
        """
        XCTAssertThrowsError(try RoutingTable(data: Data(bad.utf8), source: "override.json")) { error in
            let problems = (error as? RoutingTableError)?.problems ?? []
            let fields = problems.compactMap(\.field)
            XCTAssertEqual(fields, ["rules[0].when.destinationProvnce", "rules[0].when.categories[0]", "rules[0].departments[0]",
                                    "rules[1].id", "rules[1].when.originProvince[0]", "rules[1].departments"], "\(problems)")
            XCTAssertTrue(problems.contains { $0.value == "HEATH" && $0.message.contains("override.json") })
            XCTAssertTrue(problems.contains { $0.value == "medical-suplies" })
        }
        XCTAssertThrowsError(try RoutingTable(data: Data("{".utf8)))
        XCTAssertThrowsError(try RoutingTable.load(from: URL(fileURLWithPath: "/nonexistent/routing.json")))
    }

    func testDecisionIsCodableAndExplains() throws {
        let decision = try RoutingTable.bundled().route(try fixture(categories: ["medical-supplies", "mail-and-parcels"]))
        let data = try JSONEncoder().encode(decision)
        XCTAssertEqual(try JSONDecoder().decode(RoutingDecision.self, from: data), decision)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"HEALTH\""))
        let zh = decision.explain(in: .zh)
        XCTAssertEqual(zh.last, "需审批部门：卫生健康局、邮政管理局")
        XCTAssertTrue(zh.contains { $0.contains("default-medical-supplies") && $0.contains("卫生健康局") })
        let en = decision.explain(in: .en)
        XCTAssertEqual(en.last, "Departments that must approve: Health Bureau, Postal Administration")
        XCTAssertTrue(en[0].contains(decision.tableHash))
    }

    func testExampleFleetRoutes() throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("examples/applications.jsonl"))
        let table = try RoutingTable.bundled()
        let decisions = ApplicationFile.parse(data).compactMap(\.application).map(table.route)
        XCTAssertEqual(Set(decisions.flatMap(\.departments)), Set(Department.allCases))
        XCTAssertEqual(decisions.filter(\.usedFallback).count, 1)  // the unknown category on purpose
    }
}
