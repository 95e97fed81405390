import XCTest
@testable import PermitModel

final class ResidentIDTests: XCTestCase {
    let today = CalendarDay(year: 2026, month: 11, day: 30)!

    func testStandardExampleAndComputedIDsAreValid() {
        // GB 11643-1999's own example, check character X.
        XCTAssertEqual(ResidentID.validate("11010519491231002X", field: "id", today: today), [])
        XCTAssertEqual(ISO7064.mod11_2("11010519491231002"), "X")
        for body in ["33010619800101123", "44030420001229004", "65010219000101001", "33011420261130999"] {
            let id = residentID(body)
            XCTAssertEqual(ResidentID.validate(id, field: "id", today: today), [], id)
            XCTAssertEqual(ISO7064.mod11_2(body), independentMod112(body))
        }
    }

    func testWrongCheckCharacterIsReportedWithTheRule() {
        let problems = ResidentID.validate("110105194912310021", field: "crew[0].idNumber", today: today)
        assertOneProblem(problems, code: "invalidDocumentNumber", field: "crew[0].idNumber")
        XCTAssertEqual(problems.first?.rule, "ISO 7064 MOD 11-2 check character")
        XCTAssertEqual(problems.first?.value, "110105194912310021")
        XCTAssertTrue(problems.first!.message.contains("should be X"))
    }

    func testLowerCaseXLengthDigitsProvinceAndDates() {
        assertOneProblem(ResidentID.validate("11010519491231002x", field: "f", today: today), code: "invalidDocumentNumber", field: "f")
        XCTAssertEqual(ResidentID.validate("1101051949123100", field: "f", today: today).first?.rule,
                       "18 characters: 17 digits and a check character")
        XCTAssertEqual(codes(ResidentID.validate("11010A19491231002X", field: "f", today: today)), ["invalidDocumentNumber"])
        // Province 99 does not exist.
        XCTAssertEqual(ResidentID.validate(residentID("99010519491231002"), field: "f", today: today).first?.rule,
                       "starts with a division code of a mainland province (11–65)")
        // 1949-02-30 is not a date; 2026-12-01 is tomorrow; 1899 is too early.
        for body in ["11010519490230002", "11010520261201002", "11010518991231002"] {
            let problems = ResidentID.validate(residentID(body), field: "f", today: today)
            XCTAssertEqual(problems.count, 1, body)
            XCTAssertTrue(problems[0].rule!.contains("birth date"), body)
        }
        // An old, abolished county code is still fine (330103 was 杭州市下城区).
        XCTAssertEqual(ResidentID.validate(residentID("33010319700101001"), field: "f", today: today), [])
    }

    func testOtherDocuments() {
        let hk = residentID("81000019900101001")
        XCTAssertEqual(DocumentNumber.validate(hk, type: .hmtResidencePermit, field: "f", today: today), [])
        XCTAssertEqual(codes(DocumentNumber.validate(residentID("33010619900101001"), type: .hmtResidencePermit, field: "f", today: today)),
                       ["invalidDocumentNumber"])
        XCTAssertEqual(codes(DocumentNumber.validate(hk, type: .residentID, field: "f", today: today)), ["invalidDocumentNumber"])
        XCTAssertEqual(DocumentNumber.validate("H12345678", type: .mainlandTravelPermit, field: "f", today: today), [])
        XCTAssertEqual(DocumentNumber.validate("12345678", type: .mainlandTravelPermit, field: "f", today: today), [])
        XCTAssertFalse(DocumentNumber.validate("X12345678", type: .mainlandTravelPermit, field: "f", today: today).isEmpty)
        XCTAssertEqual(DocumentNumber.validate("USA330619800101", type: .foreignPermanentResidence, field: "f", today: today), [])
        let newFormat = residentID("93384019800101001")
        XCTAssertEqual(DocumentNumber.validate(newFormat, type: .foreignPermanentResidence, field: "f", today: today), [])
        let badCheck = String(newFormat.dropLast()) + (newFormat.last == "0" ? "1" : "0")
        XCTAssertEqual(DocumentNumber.validate(badCheck, type: .foreignPermanentResidence, field: "f", today: today).first?.rule,
                       ISO7064.rule)
        XCTAssertFalse(DocumentNumber.validate("usa330619800101", type: .foreignPermanentResidence, field: "f", today: today).isEmpty)
        XCTAssertEqual(DocumentNumber.validate("E12345678", type: .passport, field: "f", today: today), [])
        XCTAssertFalse(DocumentNumber.validate("e1234", type: .passport, field: "f", today: today).isEmpty)
        XCTAssertFalse(DocumentNumber.validate("E123", type: .passport, field: "f", today: today).isEmpty)
        XCTAssertFalse(DocumentNumber.validate(String(repeating: "A", count: 18), type: .passport, field: "f", today: today).isEmpty)
    }
}

final class CreditCodeTests: XCTestCase {
    func testRealPublishedCodes() {
        // Published on the firms' business licences: Alibaba (China) Co., Ltd., Tencent
        // Computer Systems (Shenzhen), Huawei Technologies, BYD Co., Ltd.
        for code in ["91330100799655058B", "9144030071526726XG", "914403001922038216", "91440300192317458F"] {
            XCTAssertEqual(CreditCode.validate(code, field: "applicant.creditCode"), [], code)
            XCTAssertEqual(CreditCode.checkCharacter(String(code.prefix(17))), code.last)
        }
    }

    func testGeneratedCodesAgreeWithIndependentImplementation() {
        for body in ["91330114MA24WY722", "12330000470051726", "5133000050190811X", "Y1330100MA2H00001", "31330000MD0123456"] {
            let check = independentCreditCheck(body)
            XCTAssertEqual(CreditCode.checkCharacter(body), check, body)
            XCTAssertEqual(CreditCode.validate(body + String(check), field: "c"), [], body)
        }
    }

    func testInvalidCodes() {
        let wrong = CreditCode.validate("91330100799655058C", field: "applicant.creditCode")
        assertOneProblem(wrong, code: "invalidCreditCode", field: "applicant.creditCode")
        XCTAssertEqual(wrong.first?.rule, CreditCode.checkRule)
        XCTAssertEqual(wrong.first?.value, "91330100799655058C")
        XCTAssertEqual(codes(CreditCode.validate("9133010079965505", field: "c")), ["invalidCreditCode"])
        XCTAssertEqual(codes(CreditCode.validate("91330100799655O58B", field: "c")), ["invalidCreditCode"]) // letter O
        XCTAssertEqual(codes(CreditCode.validate("91330100799655058b", field: "c")), ["invalidCreditCode"]) // lower case
        XCTAssertEqual(codes(CreditCode.validate("", field: "c")), ["required"])
        // Registration authority B, type 0 and letters in the division part are each reported.
        let body = "B0A30100799655058"
        let many = CreditCode.validate(body + String(independentCreditCheck(body)), field: "c")
        XCTAssertEqual(many.count, 3, "\(many)")
    }
}

final class PlateTests: XCTestCase {
    func testValidPlatesAndColours() {
        XCTAssertEqual(LicencePlate.validate(plate: "浙A12345", color: "yellow"), [])
        XCTAssertEqual(LicencePlate.validate(plate: "苏E8K2L9", color: "blue"), [])
        XCTAssertEqual(LicencePlate.validate(plate: "浙AD12345", color: "green"), [])
        XCTAssertEqual(LicencePlate.validate(plate: "粤BFA1234", color: "green"), [])
        XCTAssertEqual(LicencePlate.validate(plate: "浙A12345D", color: "yellow-green"), [])
        XCTAssertEqual(LicencePlate.kind(of: "浙A12345F"), .largeNewEnergy)
        XCTAssertEqual(LicencePlate.kind(of: "浙AD12345"), .smallNewEnergy)
        XCTAssertEqual(LicencePlate.kind(of: "浙A12345"), .ordinary)
    }

    func testColourMismatch() {
        assertOneProblem(LicencePlate.validate(plate: "浙A12345", color: "green"), code: "plateColorMismatch", field: "vehicle.plateColor")
        assertOneProblem(LicencePlate.validate(plate: "浙AD12345", color: "yellow"), code: "plateColorMismatch", field: "vehicle.plateColor")
        assertOneProblem(LicencePlate.validate(plate: "浙A12345D", color: "green"), code: "plateColorMismatch", field: "vehicle.plateColor")
        assertOneProblem(LicencePlate.validate(plate: "浙A12345", color: "purple"), code: "unknownPlateColor", field: "vehicle.plateColor")
    }

    func testInvalidPlates() {
        let trailer = LicencePlate.validate(plate: "浙A1234挂", color: "yellow")
        assertOneProblem(trailer, code: "trailerPlate", field: "vehicle.plate")
        XCTAssertEqual(trailer.first?.rule, "a tractor-trailer gives only the tractor's plate")
        for plate in ["浙AI2345", "浙A1O345", "港A12345", "浙a12345", "浙A1234", "浙A123456", "浙AD1234X", "浙A12345DD", "浙A1234学", "浙AZ12345"] {
            assertOneProblem(LicencePlate.validate(plate: plate, color: "yellow"), code: "invalidPlate", field: "vehicle.plate")
        }
        XCTAssertEqual(codes(LicencePlate.validate(plate: "", color: "")), ["required", "required"])
    }
}

final class PhoneAndMaskingTests: XCTestCase {
    func testPhones() {
        XCTAssertEqual(PhoneNumber.validate("13800005678", field: "p", allowLandline: false), [])
        XCTAssertEqual(PhoneNumber.validate("19912345678", field: "p", allowLandline: false), [])
        XCTAssertEqual(PhoneNumber.validate("0571-88888888", field: "p", allowLandline: true), [])
        XCTAssertEqual(PhoneNumber.validate("010-1234567", field: "p", allowLandline: true), [])
        assertOneProblem(PhoneNumber.validate("0571-88888888", field: "crew[0].phone", allowLandline: false), code: "invalidPhone", field: "crew[0].phone")
        for bad in ["12800005678", "1380000567", "138000056789", "+8613800005678", "138 0000 5678", "571-88888888",
                    "0571 88888888", "0571-888888889"] {
            XCTAssertEqual(codes(PhoneNumber.validate(bad, field: "p", allowLandline: true)), ["invalidPhone"], bad)
        }
    }

    /// Area codes are prefix-free (010 and 02x three digits, 03xx–09xx four), so a landline
    /// given as digits only splits in one way; the subscriber number is 7 or 8 digits.
    func testLandlinesWithoutHyphenAreNormalised() {
        let written = [
            "057186901234": "0571-86901234", "05718690123": "0571-8690123", "01012345678": "010-12345678",
            "0101234567": "010-1234567", "02112345678": "021-12345678", "02012345678": "020-12345678",
            "02987654321": "029-87654321", "03111234567": "0311-1234567", "09911234567": "0991-1234567",
        ]
        for (digits, hyphenated) in written {
            XCTAssertEqual(PhoneNumber.normalize(digits), hyphenated, digits)
            XCTAssertEqual(PhoneNumber.normalize(hyphenated), hyphenated, "normalising twice changes nothing")
            XCTAssertTrue(PhoneNumber.isLandline(hyphenated), hyphenated)
            XCTAssertEqual(PhoneNumber.validate(digits, field: "phone", allowLandline: true), [], digits)
        }
        // Mobiles, and what is no landline, stay as given, so that a problem reports the value as typed.
        for same in ["13800005678", "19912345678", "", "0", "0571", "057186901", "010123456", "0571869012345",
                     "010123456789", "00861012345678", "01112345678", "0171234567", "0571-86901234", "０５７１８６９０１２３４"] {
            XCTAssertEqual(PhoneNumber.normalize(same), same, same)
        }
        for bad in ["057186901", "010123456", "0571869012345", "010123456789", "00861012345678", "01112345678"] {
            let problems = PhoneNumber.validate(bad, field: "applicant.phone", allowLandline: true)
            assertOneProblem(problems, code: "invalidPhone", field: "applicant.phone")
            XCTAssertEqual(problems.first?.value, bad)
        }
        // A crew member's phone is a mobile number, with or without the hyphen.
        let crew = PhoneNumber.validate("057186901234", field: "crew[0].phone", allowLandline: false)
        assertOneProblem(crew, code: "invalidPhone", field: "crew[0].phone")
        XCTAssertEqual(crew.first?.value, "057186901234")
        XCTAssertEqual(Masking.phone(PhoneNumber.normalize("057186901234")), "0571-****1234")
    }

    func testMasking() {
        XCTAssertEqual(Masking.document("330106198001011235", type: .residentID), "330106********1235")
        XCTAssertEqual(Masking.document("81000019900101001X", type: .hmtResidencePermit), "**************001X")
        XCTAssertEqual(Masking.document("E12345678", type: .passport), "*****5678")
        XCTAssertEqual(Masking.document("ABC", type: .passport), "***")
        XCTAssertEqual(Masking.phone("13800005678"), "138****5678")
        XCTAssertEqual(Masking.phone("0571-88881234"), "0571-****1234")
        XCTAssertEqual(Masking.phone("010-1234567"), "010-***4567")
    }
}

final class CalendarTests: XCTestCase {
    func testValidityTimesAreChinaMidnights() {
        let period = ValidityPeriod(from: CalendarDay(iso: "2026-12-01")!, to: CalendarDay(iso: "2026-12-15")!)
        XCTAssertEqual(period.notBefore, 1_796_054_400)  // 2026-12-01T00:00+08:00
        XCTAssertEqual(period.expires, 1_797_350_400)    // 2026-12-16T00:00+08:00
        XCTAssertEqual(period.days, 15)
    }

    func testTodayInChinaAndParsing() {
        // 2026-11-30T16:00Z is already 2026-12-01 in China.
        XCTAssertEqual(CalendarDay.inChina(at: Date(timeIntervalSince1970: 1_796_054_400)).description, "2026-12-01")
        XCTAssertEqual(CalendarDay.inChina(at: Date(timeIntervalSince1970: 1_796_054_399)).description, "2026-11-30")
        XCTAssertNil(CalendarDay(iso: "2026-02-29"))
        XCTAssertNotNil(CalendarDay(iso: "2028-02-29"))
        XCTAssertNil(CalendarDay(iso: "2026-1-01"))
        XCTAssertNil(CalendarDay(iso: "2026-13-01"))
        for n in [-1, 0, 59, 10_957, 20_788, 2_932_896] {
            XCTAssertEqual(CalendarDay(daysSinceEpoch: n).daysSinceEpoch, n)
        }
    }
}
