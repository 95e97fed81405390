import XCTest
@testable import PermitModel

final class ValidatorTests: XCTestCase {
    let validator = ApplicationValidator(divisions: .bundled, maxValidityDays: 30, now: testNow)

    func testTypicalFixtureIsValidAndTyped() throws {
        let app = try loadFixture()
        XCTAssertEqual(validator.validate(app), [])
        let valid = try validator.validated(app)
        XCTAssertEqual(valid.plateColor, .yellow)
        XCTAssertEqual(valid.crew.map(\.role), [.driver, .escort])
        XCTAssertEqual(valid.crew[0].maskedDocument, "330106********1235")
        XCTAssertEqual(valid.crew[0].maskedPhone, "138****5678")
        XCTAssertEqual(valid.categories.map(\.code), [2])
        XCTAssertEqual(valid.validity.days, 15)
        XCTAssertEqual(valid.trips, .multiple)
        XCTAssertEqual(app.applicant.name.unicodeScalars.count, 10)
    }

    func testEveryProblemIsReportedAtOnce() throws {
        var app = try loadFixture()
        app.reference = "WL 2026"
        app.applicant.creditCode = "91330114MA24WY7220"
        app.vehicle.plateColor = "green"
        app.crew[0].idNumber = "330106198001011234"
        app.crew[1].role = "passenger"
        app.cargo.categories = ["medical-supplies", "vaccines", "medical-supplies"]
        app.cargo.weightKg = 0
        app.route.destination.county = "320500"
        app.route.via = ["999999"]
        app.validity = .init(from: "2026-11-29", to: "2027-01-05")
        app.trips = "daily"
        let problems = validator.validate(app)
        XCTAssertEqual(codes(problems), ["invalidReference", "invalidCreditCode", "plateColorMismatch", "invalidDocumentNumber",
                                         "unknownRole", "unknownCategory", "duplicateCategory", "invalidWeight", "divisionLevel",
                                         "unknownDivision", "validityInPast", "validityTooLong", "unknownTrips"], "\(problems)")
        XCTAssertEqual(problems.map { $0.field ?? "" }, ["reference", "applicant.creditCode", "vehicle.plateColor", "crew[0].idNumber",
                                                         "crew[1].role", "cargo.categories[1]", "cargo.categories[2]", "cargo.weightKg",
                                                         "route.destination.county", "route.via[0]", "validity.from", "validity.to", "trips"])
        XCTAssertTrue(problems.allSatisfy { $0.rule != nil && !$0.message.isEmpty })
        XCTAssertThrowsError(try validator.validated(app)) { error in
            XCTAssertEqual((error as? ValidationFailure)?.problems, problems)
        }
    }

    func testCrewRules() throws {
        var app = try loadFixture()
        app.crew[0].role = "escort"
        assertOneProblem(validator.validate(app), code: "noDriver", field: "crew")
        app = try loadFixture()
        app.crew.append(app.crew[1]); app.crew.append(app.crew[1])
        XCTAssertEqual(codes(validator.validate(app)), ["crewCount", "duplicateDocument", "duplicateDocument"])
        app = try loadFixture()
        app.crew = []
        XCTAssertEqual(codes(validator.validate(app)), ["crewCount"])
        app = try loadFixture()
        app.crew[0].name = "欧阳娜娜欧阳娜娜欧阳娜"  // 11 characters
        assertOneProblem(validator.validate(app), code: "textLength", field: "crew[0].name")
        app.crew[0].name = " 刘建国"
        assertOneProblem(validator.validate(app), code: "invalidText", field: "crew[0].name")
        app = try loadFixture()
        app.crew[1].documentType = "passport"
        app.crew[1].idNumber = "E12345678"
        XCTAssertEqual(validator.validate(app), [])
        app.crew[1].documentType = "library-card"
        assertOneProblem(validator.validate(app), code: "unknownDocumentType", field: "crew[1].documentType")
        app = try loadFixture()
        app.crew[1].phone = "0571-88888888"
        assertOneProblem(validator.validate(app), code: "invalidPhone", field: "crew[1].phone")
    }

    func testLengthsCountScalarsAfterNFC() throws {
        var app = try loadFixture()
        // 24 scalars once composed; 48 as given (e + combining acute).
        app.cargo.description = String(repeating: "e\u{301}", count: 24)
        XCTAssertEqual(validator.validate(app), [])
        XCTAssertEqual(try validator.validated(app).application.cargo.description.unicodeScalars.count, 24)
        app.cargo.description += "x"
        assertOneProblem(validator.validate(app), code: "textLength", field: "cargo.description")
        app = try loadFixture()
        app.applicant.name = String(repeating: "浙", count: 25)
        assertOneProblem(validator.validate(app), code: "textLength", field: "applicant.name")
    }

    func testValidityRulesUseTheInjectedClockAndMaximum() throws {
        var app = try loadFixture()
        app.validity = .init(from: "2026-11-30", to: "2026-12-29")  // today, 30 days
        XCTAssertEqual(validator.validate(app), [])
        app.validity = .init(from: "2026-11-30", to: "2026-12-30")
        assertOneProblem(validator.validate(app), code: "validityTooLong", field: "validity.to")
        let lenient = ApplicationValidator(divisions: .bundled, maxValidityDays: 31, now: testNow)
        XCTAssertEqual(lenient.validate(app), [])
        app.validity = .init(from: "2026-11-30", to: "2026-12-29")
        let later = ApplicationValidator(now: testNow.addingTimeInterval(12 * 3600))  // 2026-12-01 00:00 CST
        assertOneProblem(later.validate(app), code: "validityInPast", field: "validity.from")
        let earlier = ApplicationValidator(now: testNow.addingTimeInterval(12 * 3600 - 1))  // 2026-11-30 23:59:59 CST
        XCTAssertEqual(earlier.validate(app), [])
        app.validity = .init(from: "2026-12-05", to: "2026-12-04")
        assertOneProblem(validator.validate(app), code: "validityOrder", field: "validity.to")
        app.validity = .init(from: "2026/12/05", to: "2026-02-30")
        XCTAssertEqual(codes(validator.validate(app)), ["invalidDate", "invalidDate"])
    }

    func testRouteRules() throws {
        var app = try loadFixture()
        app.route.origin = .init(county: "441900", address: "东城街道")  // Dongguan: a city without counties
        app.route.via = ["330100", "320508"]
        XCTAssertEqual(validator.validate(app), [])
        app.route.via = ["330000"]
        assertOneProblem(validator.validate(app), code: "divisionLevel", field: "route.via[0]")
        app.route.via = ["330100", "330100", "330100", "330100", "330100", "330100"]
        assertOneProblem(validator.validate(app), code: "tooManyVia", field: "route.via")
        app.route.via = nil
        app.route.origin.county = "339999"
        assertOneProblem(validator.validate(app), code: "unknownDivision", field: "route.origin.county")
        app.route.origin.county = "330114"
        app.route.origin.address = String(repeating: "路", count: 51)
        assertOneProblem(validator.validate(app), code: "textLength", field: "route.origin.address")
        app.route.origin.address = ""
        assertOneProblem(validator.validate(app), code: "textLength", field: "route.origin.address")
        app.route.origin.address = String(repeating: "路", count: 16)
        XCTAssertEqual(app.route.origin.payloadAddress?.count, 16)
        app.route.origin.address = String(repeating: "路", count: 17)
        XCTAssertNil(app.route.origin.payloadAddress)
        XCTAssertEqual(validator.validate(app), [])
    }

    func testApplicantAndCargoRules() throws {
        var app = try loadFixture()
        app.applicant.phone = "0571-86912345"
        XCTAssertEqual(validator.validate(app), [])
        // A landline without its hyphen is valid, and stored (canonical JSON) with it.
        app.applicant.phone = "057186912345"
        XCTAssertEqual(validator.validate(app), [])
        XCTAssertEqual(app.normalized().applicant.phone, "0571-86912345")
        XCTAssertTrue(String(decoding: app.canonicalJSON(), as: UTF8.self).contains("\"phone\":\"0571-86912345\""))
        app.applicant.phone = "01012345678"
        XCTAssertEqual(app.normalized().applicant.phone, "010-12345678")
        // Only the applicant's phone may be a landline; crew phones are left as given.
        app.crew[0].phone = "057186912345"
        XCTAssertEqual(app.normalized().crew[0].phone, "057186912345")
        assertOneProblem(validator.validate(app), code: "invalidPhone", field: "crew[0].phone")
        app = try loadFixture()
        app.applicant.contact = ""
        assertOneProblem(validator.validate(app), code: "required", field: "applicant.contact")
        app = try loadFixture()
        app.cargo.categories = []
        assertOneProblem(validator.validate(app), code: "noCategory", field: "cargo.categories")
        app.cargo.categories = ["dangerous-goods"]
        app.cargo.weightKg = nil
        assertOneProblem(validator.validate(app), code: "required", field: "cargo.weightKg")
        app.cargo.weightKg = 100_001
        assertOneProblem(validator.validate(app), code: "invalidWeight", field: "cargo.weightKg")
        app.cargo.weightKg = 100_000
        XCTAssertEqual(validator.validate(app), [])
    }

    func testCanonicalJSONIsSortedAndNormalised() throws {
        var app = try loadFixture()
        let json = String(decoding: app.canonicalJSON(), as: UTF8.self)
        XCTAssertTrue(json.hasPrefix("{\"applicant\":{\"contact\":\"刘建国\",\"creditCode\""), json)
        XCTAssertFalse(json.contains("address"))
        XCTAssertEqual(try JSONDecoder().decode(Application.self, from: app.canonicalJSON()), app)
        app.cargo.description = "cafe\u{301}"
        XCTAssertTrue(String(decoding: app.canonicalJSON(), as: UTF8.self).contains("caf\u{e9}"))
    }
}

final class TablesTests: XCTestCase {
    func testDepartments() {
        XCTAssertEqual(Department.allCases.map(\.number), Array(1...10))
        XCTAssertEqual(Department.allCases.map(\.rawValue), ["TRANSPORT", "DEVREFORM", "INDUSTRY", "PUBLIC_SECURITY", "AGRICULTURE",
                                                             "COMMERCE", "HEALTH", "MARKET_REGULATION", "ENERGY", "POSTAL"])
        XCTAssertEqual(Department.health.nameZh, "卫生健康局")
        XCTAssertEqual(Department(number: 10), .postal)
        XCTAssertNil(Department(number: 11))
        XCTAssertTrue(Department.allCases.allSatisfy { (8...24).contains($0.reviewDeadlineHours) && !$0.nameEn.isEmpty })
        XCTAssertEqual(try JSONEncoder().encode([Department.publicSecurity]), Data("[\"PUBLIC_SECURITY\"]".utf8))
    }

    func testCargoCategoriesAndCodes() {
        XCTAssertEqual(CargoCategory.all.map(\.code), Array(1...19))
        XCTAssertEqual(CargoCategory.withSlug("mail-and-parcels")?.code, 15)
        XCTAssertEqual(CargoCategory.withCode(16)?.slug, "dangerous-goods")
        XCTAssertEqual(CargoCategory.withCode(19)?.nameZh, "其他")
        XCTAssertNil(CargoCategory.withSlug("Medical-Supplies"))
        XCTAssertEqual(PlateColor.allCases.map(\.code), Array(1...6))
        XCTAssertEqual(PlateColor(rawValue: "yellow-green")?.code, 6)
        XCTAssertEqual(CrewRole.escort.code, 2)
        XCTAssertEqual(Trips.single.code, 1)
    }

    func testDivisions() {
        let d = Divisions.bundled
        XCTAssertEqual(d.count, 3429)
        XCTAssertEqual(d.name(of: "330114"), "钱塘区")
        XCTAssertEqual(d.fullName(of: "330114"), "浙江省杭州市钱塘区")
        XCTAssertEqual(d.fullName(of: "110101"), "北京市东城区")
        XCTAssertEqual(d.fullName(of: "429004"), "湖北省仙桃市")
        XCTAssertTrue(d.isCountyLevel("330114"))
        XCTAssertTrue(d.isCountyLevel("441900"))
        XCTAssertFalse(d.isCountyLevel("330100"))
        XCTAssertFalse(d.isCountyLevel("330000"))
        XCTAssertNil(d.name(of: "339999"))
        XCTAssertTrue(d.hasProvince("33"))
        XCTAssertFalse(d.hasProvince("98"))
        XCTAssertFalse(d.hasProvince("3"))
    }
}
