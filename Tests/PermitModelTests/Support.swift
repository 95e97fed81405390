import Foundation
import XCTest
@testable import PermitModel

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// 2026-11-30 12:00 China Standard Time.
let testNow = Date(timeIntervalSince1970: 1_796_054_400 - 12 * 3600)

/// ISO 7064 MOD 11-2 written from the standard's polynomial definition (weights 2^(n-1) mod 11),
/// independent of the weight table in PermitModel.
func independentMod112(_ first17: String) -> Character {
    var p = 0
    for c in first17 { p = (p + Int(String(c))!) * 2 % 11 }
    let check = (12 - p % 11) % 11
    return check == 10 ? "X" : Character(String(check))
}

/// GB 32100 check character from its definition: weights 3^(i) mod 31.
func independentCreditCheck(_ first17: String) -> Character {
    let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    var sum = 0, w = 1
    for c in first17 { sum += alphabet.firstIndex(of: c)! * w; w = w * 3 % 31 }
    return alphabet[(31 - sum % 31) % 31]
}

func residentID(_ first17: String) -> String { first17 + String(independentMod112(first17)) }

func loadFixture() throws -> Application {
    let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/typical-permit-application.json"))
    return try JSONDecoder().decode(Application.self, from: data)
}

func codes(_ problems: [Problem]) -> [String] { problems.map(\.code) }

func assertOneProblem(_ problems: [Problem], code: String, field: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(problems.count, 1, "\(problems)", file: file, line: line)
    XCTAssertEqual(problems.first?.code, code, "\(problems)", file: file, line: line)
    XCTAssertEqual(problems.first?.field, field, file: file, line: line)
    XCTAssertNotNil(problems.first?.rule, file: file, line: line)
}
