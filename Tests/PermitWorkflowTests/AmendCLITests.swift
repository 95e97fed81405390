import Foundation
import XCTest
import PermitTestSupport

/// `permit amend` through the binary.
extension CLITests {
    func testAmendThroughTheBinaryCarriesOverAndIssues() throws {
        let number = try issueFirstExample()
        let help = try permit("amend", "--help")
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("permit amend 330114000001"), help.stdout)
        // The same application again: nothing the departments decided on changed.
        let line = try exampleLines()[0]
        let amend = try permit("amend", number, "-", "--key", key("firmA.pem"), "--json", stdin: line + "\n")
        XCTAssertEqual(amend.status, 0, amend.stderr)
        let row = try XCTUnwrap(try amend.jsonLines().first)
        XCTAssertEqual(row["carriedOver"] as? [String], ["HEALTH"])
        XCTAssertEqual(row["mustDecide"] as? [String], [])
        XCTAssertEqual(row["amends"] as? String, number)
        let issued = try XCTUnwrap(row["permitNumber"] as? String)
        XCTAssertNotEqual(issued, number)
        let text = try permit("amend", issued, "-", "--key", key("firmA.pem"), "--lang", "en", stdin: line + "\n")
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("approvals carried over: HEALTH"), text.stdout)
        // The superseded permit is refused (exit 1).
        let refused = try permit("amend", number, "-", "--key", key("firmA.pem"), "--json", stdin: line + "\n")
        XCTAssertEqual(refused.status, 1, refused.stdout + refused.stderr)
        XCTAssertEqual(try permit("audit", "verify").status, 0)
    }
}
