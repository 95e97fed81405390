import XCTest
@testable import PermitModel

final class ApplicationFileTests: XCTestCase {
    func fixtureData() throws -> Data {
        try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/typical-permit-application.json"))
    }

    func testJSONObjectAndArray() throws {
        let one = ApplicationFile.parse(try fixtureData())
        XCTAssertEqual(one.count, 1)
        XCTAssertEqual(one[0].application, try loadFixture())
        XCTAssertEqual(one[0].reference, "QT-2026-T00001")
        let object = String(decoding: try fixtureData(), as: UTF8.self)
        let array = "[\(object), {\"reference\": \"BAD-1\", \"crew\": 3}, \(object)]"
        let items = ApplicationFile.parse(Data(array.utf8))
        XCTAssertEqual(items.map(\.index), [0, 1, 2])
        XCTAssertNotNil(items[0].application)
        XCTAssertNotNil(items[2].application)
        XCTAssertNil(items[1].application)
        XCTAssertEqual(items[1].reference, "BAD-1")
        XCTAssertTrue(items[1].problems.contains { $0.code == "wrongType" && $0.field == "crew" })
        XCTAssertTrue(items[1].problems.contains { $0.code == "required" && $0.field == "applicant" })
    }

    func testJSONLinesWithMalformedLinesCRLFAndBlankLines() throws {
        let app = try loadFixture()
        let line = String(decoding: app.canonicalJSON(), as: UTF8.self)
        var wrongType = app
        wrongType.reference = "WT-1"
        let wrongTypeLine = String(decoding: wrongType.canonicalJSON(), as: UTF8.self)
            .replacingOccurrences(of: "\"weightKg\":12000", with: "\"weightKg\":\"12000\"")
            .replacingOccurrences(of: "\"role\":\"driver\"", with: "\"role\":\"driver\",\"rank\":1")
        let text = line + "\r\n" + "{not json\n\n" + wrongTypeLine + "\n" + line + "\n"
        let items = ApplicationFile.parse(Data(text.utf8), format: .jsonl)
        XCTAssertEqual(items.map(\.index), [0, 1, 2, 3])
        XCTAssertEqual(items.map(\.line), [1, 2, 4, 5])
        XCTAssertEqual(items[0].application, app)
        XCTAssertEqual(codes(items[1].problems), ["malformedJSON"])
        XCTAssertEqual(items[2].reference, "WT-1")
        XCTAssertEqual(Set(items[2].problems.map { $0.field ?? "" }), ["cargo.weightKg", "crew[0].rank"])
        XCTAssertEqual(items[3].application, app)
        // Auto-detection picks JSON Lines for several objects.
        XCTAssertEqual(ApplicationFile.parse(Data(text.utf8)).count, 4)
    }

    func testCSVExampleFileAndRoundTrip() throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("examples/applications.csv"))
        let items = ApplicationFile.parse(data)
        XCTAssertEqual(items.count, 10)
        XCTAssertTrue(items.allSatisfy { $0.application != nil }, "\(items.flatMap(\.problems))")
        XCTAssertEqual(items[0].application?.cargo.description, "口罩, \"N95\"防护服")
        XCTAssertEqual(items.map(\.line), Array(2...11))
        let validator = ApplicationValidator(now: testNow)
        for item in items { XCTAssertEqual(validator.validate(item.application!), [], item.reference ?? "") }
        // Writing and reading again gives the same applications.
        let apps = items.compactMap(\.application) + [try loadFixture()]
        let again = ApplicationFile.parse(Data(ApplicationFile.csv(apps).utf8), format: .csv)
        XCTAssertEqual(again.compactMap(\.application), apps)
    }

    func testCSVMalformedRowDoesNotBlockOthers() throws {
        let app = try loadFixture()
        var text = ApplicationFile.csv([app, app])
        text += "X-9,\"unterminated\n"
        let lines = text.components(separatedBy: "\r\n")
        // Break the second record: drop its last cell.
        var broken = lines
        broken[2] = String(lines[2].dropLast("multiple".count + 1))
        let items = ApplicationFile.parse(Data(broken.joined(separator: "\r\n").utf8), format: .csv)
        XCTAssertEqual(items.count, 3)
        XCTAssertEqual(items[0].application, app)
        XCTAssertTrue(items[1].problems.contains { $0.code == "malformedCSV" })
        XCTAssertEqual(items[2].reference, "X-9")
        XCTAssertTrue(items[2].problems.contains { $0.code == "malformedCSV" })
        // A non-numeric weight is a problem on that row only.
        let weight = ApplicationFile.csv([app]).replacingOccurrences(of: ",12000,", with: ",12 t,")
        XCTAssertEqual(codes(ApplicationFile.parse(Data(weight.utf8)).first!.problems), ["wrongType"])
    }

    func testCSVHeaderProblemsReachEveryRow() throws {
        let text = "reference,colour\r\nA-1,red\r\n"
        let items = ApplicationFile.parse(Data(text.utf8), format: .csv)
        XCTAssertEqual(items.count, 1)
        XCTAssertTrue(items[0].problems.contains { $0.code == "unknownField" && $0.field == "colour" })
        XCTAssertTrue(items[0].problems.contains { $0.code == "required" && $0.field == "plate" })
    }

    func testExampleFleet() throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("examples/applications.jsonl"))
        let items = ApplicationFile.parse(data)
        XCTAssertGreaterThanOrEqual(items.count, 190)
        XCTAssertTrue(items.allSatisfy { $0.application != nil })
        let validator = ApplicationValidator(now: testNow)
        var invalid: [Int: [String]] = [:]
        for item in items {
            let problems = validator.validate(item.application!)
            if !problems.isEmpty { invalid[item.index] = codes(problems) }
        }
        XCTAssertEqual(invalid, [17: ["invalidDocumentNumber"], 53: ["invalidPlate"], 89: ["unknownCategory"],
                                 131: ["validityTooLong"], 167: ["unknownDivision"]])
        let apps = items.compactMap(\.application)
        XCTAssertEqual(Set(apps.flatMap(\.cargo.categories)).count, 20)  // all 19 and one unknown on purpose
        XCTAssertEqual(Set(apps.map { $0.applicant.creditCode + $0.reference }).count, apps.count)
    }

    func testNonObjectItemsAndNulls() throws {
        let items = ApplicationFile.parse(Data("[3, null, \"x\"]".utf8), format: .json)
        XCTAssertEqual(items.count, 3)
        XCTAssertTrue(items.allSatisfy { codes($0.problems) == ["wrongType"] && $0.problems[0].field == nil })
        // null for an optional member means absent.
        let text = String(decoding: try fixtureData(), as: UTF8.self)
            .replacingOccurrences(of: "\"type\": \"重型厢式货车\"", with: "\"type\": null")
        XCTAssertEqual(ApplicationFile.parse(Data(text.utf8)).first?.application?.vehicle.type, nil)
        XCTAssertNotNil(ApplicationFile.parse(Data(text.utf8)).first?.application)
    }

    func testNotUTF8() {
        XCTAssertEqual(codes(ApplicationFile.parse(Data([0xFF, 0xFE, 0x00])).first!.problems), ["invalidEncoding"])
    }
}

final class EmptyApplicationFileTests: XCTestCase {
    /// Every way of holding no application gives one item with `file.empty`, naming the source.
    func testEmptyFilesAreAProblem() throws {
        let empties: [(String, ApplicationFile.Format)] = [
            ("", .auto), ("", .json), ("", .jsonl), ("", .csv), ("\u{FEFF}", .auto), (" \n\r\n\t", .auto), ("\n\n", .jsonl),
            ("[]", .auto), (" [ ] ", .json), ("reference,plate\r\n", .csv), ("reference,plate\r\n\r\n", .auto),
        ]
        for (text, format) in empties {
            let items = ApplicationFile.parse(Data(text.utf8), format: format, source: "fleet.jsonl")
            XCTAssertEqual(items.count, 1, text.debugDescription)
            XCTAssertEqual(items.first?.index, 0)
            XCTAssertEqual(items.first?.problems, [Problem(code: "file.empty", message: "fleet.jsonl holds no applications",
                                                           field: "file", value: "fleet.jsonl", rule: "at least one application")],
                           "\(text.debugDescription) \(format)")
        }
        XCTAssertEqual(ApplicationFile.parse(Data(), source: "-").first?.problems.first?.message, "standard input holds no applications")
        XCTAssertEqual(ApplicationFile.parse(Data()).first?.problems.first?.message, "the file holds no applications")
        XCTAssertNil(ApplicationFile.parse(Data()).first?.problems.first?.value)
        XCTAssertTrue(PermitModel.problemCodes.contains("file.empty"))
        // An item that cannot be read is not an empty file.
        XCTAssertEqual(codes(ApplicationFile.parse(Data("{}".utf8)).first?.problems ?? []).contains("file.empty"), false)
        XCTAssertEqual(codes(ApplicationFile.parse(Data("[3]".utf8)).first?.problems ?? []), ["wrongType"])
    }
}
