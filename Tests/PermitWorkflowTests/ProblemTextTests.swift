import Foundation
import XCTest
import PermitAPI
import PermitModel

/// Every problem code the sources raise has a Chinese sentence, so `--lang zh` never falls back
/// to English for a refusal the project itself makes.
final class ProblemTextTests: XCTestCase {
    func testEveryRaisedCodeHasAChineseSentence() throws {
        let sources = fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")
        let patterns = [#"WorkflowError\(\s*"([A-Za-z.]+)""#, #"RequestError\(\s*"([A-Za-z.]+)""#, #"CommandFailure\(\s*"([A-Za-z.]+)""#,
                        #"Problem\(code:\s*"([A-Za-z.]+)""#, #"static let \w+ = "([A-Za-z.]+)""#]
        var codes: Set<String> = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" && !url.path.contains("permit-bench") {
            let text = try String(contentsOf: url, encoding: .utf8)
            for p in patterns {
                let re = try NSRegularExpression(pattern: p)
                for m in re.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    codes.insert(String(text[Range(m.range(at: 1), in: text)!]))
                }
            }
        }
        // `static let` also matches constants that are not codes; keep those that look like ours.
        let known = codes.filter { !$0.isEmpty && $0.first!.isLowercase }
        XCTAssertGreaterThan(known.count, 100, "the scan must find the codes")
        let missing = known.filter { code in
            ProblemText.message(Problem(code: code, message: "EN"), in: .zh) == "EN"
        }
        // Codes that only name internal constants, not problems, are listed here when they appear.
        let notProblems: Set<String> = ["freight", "permit"]
        XCTAssertEqual(missing.subtracting(notProblems).sorted(), [])
    }

    func testTheSentenceNamesTheValueAndTheRule() {
        let p = Problem(code: "auth.notApprover", message: "the key abc is not a registered approver of HEALTH", field: "key", value: "abc",
                        rule: "a registered, active approver key of that department")
        let zh = ProblemText.message(p, in: .zh)
        XCTAssertTrue(zh.contains("abc"), zh)
        XCTAssertTrue(zh.contains("审批人"), zh)
        XCTAssertTrue(zh.contains("a registered, active approver key"), zh)
        XCTAssertEqual(ProblemText.message(p, in: .en), p.message)
    }
}
